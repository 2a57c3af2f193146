/** Element-wise closeness: |a − e| ≤ atol + rtol·|e|. Returns a description of the worst miss, or null. */
export interface Tolerance {
  atol: number;
  rtol: number;
}

export function firstMismatch(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
): string | null {
  if (actual.length !== expected.length) return `length ${actual.length} ≠ ${expected.length}`;
  let worst = -1;
  let worstExcess = 0;
  let bad = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const excess = Math.abs(a - e) - (tol.atol + tol.rtol * Math.abs(e));
    if (!(excess <= 0)) {
      bad++;
      if (Number.isNaN(excess) || excess > worstExcess || worst < 0) {
        worst = i;
        worstExcess = Number.isNaN(excess) ? Number.POSITIVE_INFINITY : excess;
      }
    }
  }
  if (bad === 0) return null;
  return `${bad}/${expected.length} outside atol ${tol.atol} rtol ${tol.rtol}; worst at [${worst}]: got ${actual[worst]}, want ${expected[worst]}`;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
