import { type GpuContext, grid, wgslTypes } from '../context';
import { roundToF16 } from '../f16';
import { memoShader } from '../pipeline-cache';
import { assertDtype, type Tensor } from '../tensor';
import { PCG_WGSL, pcg } from './fill';

/**
 * Inverted dropout with a mask that is a pure function of (key, element): y = x·keep/(1 − p), where
 * element i is kept when pcg(i ^ pcg(key)) ≥ ⌊p·2³²⌋ (a counter-based hash, no state). The same key gives
 * the same mask on every run and on every adapter, so a pass can be recomputed (gradient
 * checkpointing, the backward) and a resumed run draws the masks an uninterrupted one drew. The key
 * names the draw: dropoutKey(seed, step, …) folds the counters that make it distinct.
 *
 * The backward is the same map: dX = dY·keep/(1 − p) (dropoutBackward, the same mask from the key).
 */
const WG = 64;

function shader(dtype: 'f32' | 'f16'): string {
  return `${wgslTypes({ T: dtype })}${PCG_WGSL}
struct P { n: u32, key: u32, threshold: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn dropout_forward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.y * nw.x * ${WG}u + g.x;
  if (i >= p.n) { return; }
  let keep = pcg(i ^ pcg(p.key)) >= p.threshold;
  y[i] = T(select(0.0, f32(x[i]) * p.scale, keep));
}`;
}

/** Draws with hash ≥ this are kept: P(keep) = 1 − p up to 2⁻³². */
function threshold(p: number): number {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: probability ${p}, expected a number in [0, 1)`);
  return Math.min(0xffffffff, Math.floor(p * 2 ** 32));
}

/** A draw's key from 32-bit counters (seed, step, sequence, layer, …): order matters. */
export function dropoutKey(...counters: number[]): number {
  let k = 0x9e3779b9;
  for (const c of counters) {
    if (!(Number.isInteger(c) && c >= 0)) throw new Error(`dropoutKey: counter ${c} is not a whole number`);
    k = pcg((pcg(k) ^ c) >>> 0);
  }
  return k;
}

/** y = dropout(x) with p and the key's mask, in x's shape and dtype. p = 0 copies x. */
export function dropout(ctx: GpuContext, x: Tensor, p: number, key: number): Tensor {
  assertDtype('dropout.x', x, 'f32', 'f16');
  const dtype = x.dtype as 'f32' | 'f16';
  const y = ctx.empty(x.shape, dtype);
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`dropout|${dtype}`, () => shader(dtype)),
      'dropout_forward',
    ),
    bindings: [x, y],
    uniforms: { u32: [x.size, key >>> 0, threshold(p)], f32: [1 / (1 - p)] },
    workgroups: grid(Math.ceil(x.size / WG), ctx.maxWorkgroupsPerDim),
    label: 'dropout_forward',
  });
  return y;
}

/** dX = dY·keep/(1 − p) of y = dropout(x, p, key): the forward's mask, recomputed from the key. */
export function dropoutBackward(ctx: GpuContext, dY: Tensor, p: number, key: number): Tensor {
  return dropout(ctx, dY, p, key);
}

/** CPU reference of the mask: 1 where element i is kept. */
export function dropoutMaskCpu(n: number, p: number, key: number): Uint8Array {
  const t = threshold(p);
  const k = pcg(key >>> 0);
  return Uint8Array.from({ length: n }, (_, i) => (pcg((i ^ k) >>> 0) >= t ? 1 : 0));
}

/** CPU reference: the f32 product (as the GPU forms it), rounded to f16 for f16 tensors. */
export function dropoutCpu(
  x: Float32Array,
  p: number,
  key: number,
  dtype: 'f32' | 'f16' = 'f32',
): Float32Array {
  const mask = dropoutMaskCpu(x.length, p, key);
  const scale = Math.fround(1 / (1 - p));
  const y = x.map((v, i) => (mask[i] ? Math.fround(v * scale) : 0));
  return dtype === 'f16' ? roundToF16(y) : y;
}
