/**
 * Fuzz settings shared by the *.fuzz.test.ts suites (fast-check). In CI every property runs a small,
 * fixed-seed sample so a failure replays exactly; `npm run fuzz` (FUZZ_RUNS=n, optional FUZZ_SEED)
 * runs n cases per property from a fresh seed, which fast-check prints with any counterexample.
 */
import type { Parameters } from 'fast-check';

const envInt = (name: string): number | undefined => {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(v)}`);
  return n;
};

/** The CI seed: fixed, so the sample is the same on every run. */
export const CI_SEED = 0x15;

/** Runs per property in the long mode, or undefined in CI. */
export const FUZZ_RUNS = envInt('FUZZ_RUNS');

/** fast-check parameters: `ciRuns` fixed-seed cases in CI, FUZZ_RUNS (random or FUZZ_SEED) otherwise. */
export function fuzzParams<T>(ciRuns: number): Parameters<T> {
  if (FUZZ_RUNS === undefined) return { numRuns: ciRuns, seed: CI_SEED };
  const seed = envInt('FUZZ_SEED');
  return { numRuns: FUZZ_RUNS, ...(seed === undefined ? {} : { seed }) };
}

/** Test timeout: the long mode scales with the runs asked for. */
export function fuzzTimeout(ciMs: number, perRunMs = 5): number {
  return FUZZ_RUNS === undefined ? ciMs : Math.max(ciMs, FUZZ_RUNS * perRunMs * 10);
}

/**
 * `fn`'s outcome: undefined when it returns, the error when it throws one of `allowed` with a
 * non-empty message; anything else (another class, an empty message) is rethrown to fail the property.
 */
export async function typedOutcome<R>(
  fn: () => R | Promise<R>,
  allowed: readonly (abstract new (...args: never[]) => Error)[],
): Promise<{ value: R; error?: undefined } | { value?: undefined; error: Error }> {
  try {
    return { value: await fn() };
  } catch (e) {
    if (allowed.some((C) => e instanceof C) && (e as Error).message.length > 0) return { error: e as Error };
    throw e;
  }
}
