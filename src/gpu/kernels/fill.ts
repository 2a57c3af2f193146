import { type GpuContext, grid } from '../context';
import { roundToF16 } from '../f16';
import type { Tensor } from '../tensor';

/**
 * Fills a tensor with deterministic pseudo-random values from a counter hash (PCG-style), so large
 * synthetic weights (benchmarks of full-size models) are made on the GPU without host uploads.
 * f32 / f16: uniform in [lo, hi); u32: raw 32-bit words (e.g. packed 4-bit codes).
 */
const WG = 256;

/** The PCG hash (Jarzynski & Olano), in WGSL; `pcg` below is the same on the host (dropout shares both). */
export const PCG_WGSL = `
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}`;

function shader(dtype: Tensor['dtype']): string {
  const store =
    dtype === 'u32'
      ? 'y[i] = h;'
      : `y[i] = ${dtype === 'f16' ? 'f16' : 'f32'}(p.lo + (p.hi - p.lo) * (f32(h >> 8u) / 16777216.0));`;
  return `${dtype === 'f16' ? 'enable f16;\n' : ''}${PCG_WGSL}
struct P { n: u32, seed: u32, lo: f32, hi: f32 }
@group(0) @binding(0) var<storage, read_write> y: array<${dtype}>;
@group(0) @binding(1) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn fill_random(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.x + g.y * nw.x * ${WG}u;
  if (i >= p.n) { return; }
  let h = pcg(i ^ pcg(p.seed));
  ${store}
}`;
}

export function fillRandom(ctx: GpuContext, y: Tensor, seed: number, lo = -1, hi = 1): Tensor {
  ctx.dispatch({
    pipeline: ctx.pipeline(shader(y.dtype), 'fill_random'),
    bindings: [y],
    uniforms: { u32: [y.size, seed >>> 0], f32: [lo, hi] },
    workgroups: grid(Math.ceil(y.size / WG), ctx.maxWorkgroupsPerDim),
    label: 'fill_random',
  });
  return y;
}

export function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** CPU reference: the same hash; f16 values rounded like the GPU's conversion. */
export function fillRandomCpu(
  n: number,
  dtype: Tensor['dtype'],
  seed: number,
  lo = -1,
  hi = 1,
): Float32Array | Uint32Array {
  const s = pcg(seed >>> 0);
  if (dtype === 'u32') return Uint32Array.from({ length: n }, (_, i) => pcg((i ^ s) >>> 0));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++)
    out[i] = Math.fround(lo + Math.fround(hi - lo) * Math.fround((pcg((i ^ s) >>> 0) >>> 8) / 16777216));
  return dtype === 'f16' ? roundToF16(out) : out;
}
