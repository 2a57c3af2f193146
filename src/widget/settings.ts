/**
 * The widget's attributes read into what the engine takes (pure, unit-tested): numbers clamped to
 * sensible ranges.
 */

/** An attribute as a number in [min, max]; `fallback` when absent or not a number. */
export function numberAttr(value: string | null, fallback: number, min: number, max: number): number {
  if (value === null || value.trim() === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) return fallback;
  return Math.min(max, Math.max(min, n));
}
