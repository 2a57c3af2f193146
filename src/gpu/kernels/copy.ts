import { type GpuContext, grid } from '../context';
import { memoShader } from '../pipeline-cache';
import type { Tensor } from '../tensor';

/**
 * Storage-to-storage copy, dtype-blind: moves the bytes as vec4<u32> (16 B per thread), or as u32 words
 * when a buffer is not padded to 16 bytes. Buffers from ctx.empty are padded, so the vec4 path may copy
 * up to 15 bytes of padding past the data; that padding belongs to no tensor. Benchmarks use this kernel
 * as the memory-bandwidth yardstick. (Encoders have copyBufferToBuffer; this measures what a shader gets.)
 */
const WG = 64;

function shader(word: 'vec4<u32>' | 'u32'): string {
  const entry = word === 'u32' ? 'copy_forward_u32' : 'copy_forward_vec4';
  return `struct P { n: u32 }
@group(0) @binding(0) var<storage, read> src: array<${word}>;
@group(0) @binding(1) var<storage, read_write> dst: array<${word}>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn ${entry}(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.y * nw.x * ${WG}u + g.x;
  if (i < p.n) { dst[i] = src[i]; }
}`;
}

/** Copies src's bytes into dst (a new tensor like src when omitted); dst must have the same byte length. */
export function copy(ctx: GpuContext, src: Tensor, dst?: Tensor): Tensor {
  const y = dst ?? ctx.empty(src.shape, src.dtype);
  if (y.byteLength !== src.byteLength) {
    throw new Error(`copy: dst holds ${y.byteLength} bytes, src ${src.byteLength}`);
  }
  if (y.buffer === src.buffer) return y;
  const bytes = src.byteLength;
  const fits = (unit: number) => Math.min(src.buffer.size, y.buffer.size) >= Math.ceil(bytes / unit) * unit;
  const unit = fits(16) ? 16 : 4;
  if (!fits(unit)) throw new Error(`copy: buffers must be padded to 4 bytes (${bytes} bytes of data)`);
  const count = Math.ceil(bytes / unit);
  const entry = unit === 16 ? 'copy_forward_vec4' : 'copy_forward_u32';
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`copy|${unit}`, () => shader(unit === 16 ? 'vec4<u32>' : 'u32')),
      entry,
    ),
    bindings: [src, y],
    uniforms: { u32: [count] },
    workgroups: grid(Math.ceil(count / WG), ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  return y;
}

/** CPU reference. */
export function copyCpu(src: Float32Array): Float32Array {
  return Float32Array.from(src);
}
