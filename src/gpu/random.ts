/**
 * Seeded random numbers (mulberry32) with the state in the open, so a checkpoint can save it and a
 * resumed run continue the same sequence.
 */
export class Mulberry32 {
  /** The 32-bit state; set it to resume a saved sequence. */
  state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The next value in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** Seeded random numbers for tests and self-tests (mulberry32): the same seed gives the same inputs. */
export function rng(seed: number): () => number {
  const g = new Mulberry32(seed);
  return () => g.next();
}

/** n uniform values in [lo, hi). */
export function randn(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}
