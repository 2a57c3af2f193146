import { grid } from '../../context';

/**
 * Shared constants and WGSL of the sampling shaders (sample.ts runs them; each stage's file holds its
 * shader, its dispatch and its CPU reference).
 */
export const CHUNK = 1024;
export const WG_FLAT = 64;
export const WG_TILED = 256;
/** Largest k the passes select (per-thread lists in 'flat'; 4× reduction per pass with CHUNK 1024). */
export const SAMPLE_K_MAX = 256;
export const NONE = 0xffffffff;
/** −FLT_MAX: logits below it (−∞) count as it, so fully masked rows still yield a token. */
export const F32_LOWEST = -3.4028234663852886e38;

export interface GpuSampling {
  mode: 'greedy' | 'topk' | 'full';
  /** Candidates kept (≤ 256), plus every id tied with the k-th; 1 for greedy, unused for full. */
  k: number;
  topP: number;
  invTemperature: number;
  penalty: number;
}

export const COMMON = `
const LOWEST = bitcast<f32>(0xff7fffffu);
const NONE = ${NONE}u;
fn better(va: f32, ia: u32, vb: f32, ib: u32) -> bool { return va > vb || (va == vb && ia < ib); }
`;

export const linearId = (wg: number) => `let t = g.x + g.y * nw.x * ${wg}u;`;

export const flatGrid = (threads: number, wg: number) => grid(Math.ceil(threads / wg));

/** Rank order: logit desc, then id asc. */
export const ranksBefore = (va: number, ia: number, vb: number, ib: number) =>
  va > vb || (va === vb && ia < ib);
