import { type GpuContext, grid } from '../../context';
import type { Tensor } from '../../tensor';
import { assertSameQ4Format, type QTensor } from './format';

/**
 * Concatenates Q4 weights by rows on the GPU: parts [N_i, K] → [ΣN_i, K] (e.g. qkv_proj = [q; k; v],
 * gate_up = [gate; up]). The Q4 format is row-independent (groups never cross rows), so this is three
 * row-block concatenations: packed, scales and (asym) mins. All parts must share K, group size, scheme and
 * scale dtype. The parts are left alone; the caller releases them.
 *
 * Copies go through ctx.copyRegion, which needs 4-byte offsets and sizes. f16 scales of a part with an odd
 * N_i·groups land on a 2-byte boundary: those blocks use a small kernel that writes whole u32 words and
 * keeps the halves outside the block.
 */
const WG = 64;

const COPY16 = `struct P { src: u32, dst: u32, n: u32, w0: u32, words: u32 }
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> p: P;
fn half(i: u32) -> u32 { return (src[i >> 1u] >> (16u * (i & 1u))) & 0xffffu; }
@compute @workgroup_size(${WG})
fn q4_concat_copy16(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let t = g.y * nw.x * ${WG}u + g.x;
  if (t >= p.words) { return; }
  let w = p.w0 + t;
  var v = dst[w];
  for (var h = 0u; h < 2u; h++) {
    let d = 2u * w + h;
    if (d >= p.dst && d < p.dst + p.n) {
      let sh = 16u * h;
      v = (v & ~(0xffffu << sh)) | (half(p.src + d - p.dst) << sh);
    }
  }
  dst[w] = v;
}`;

/** Copies `n` 16-bit values from src (starting at value srcHalf) to dst (at value dstHalf). */
function copy16(
  ctx: GpuContext,
  src: Tensor,
  srcHalf: number,
  dst: Tensor,
  dstHalf: number,
  n: number,
): void {
  if (n === 0) return;
  if (srcHalf % 2 === 0 && dstHalf % 2 === 0 && n % 2 === 0) {
    ctx.copyRegion(src, srcHalf * 2, dst, dstHalf * 2, n * 2);
    return;
  }
  const w0 = dstHalf >> 1;
  const words = ((dstHalf + n - 1) >> 1) - w0 + 1;
  ctx.dispatch({
    pipeline: ctx.pipeline(COPY16, 'q4_concat_copy16'),
    bindings: [src, dst],
    uniforms: { u32: [srcHalf, dstHalf, n, w0, words] },
    workgroups: grid(Math.ceil(words / WG), ctx.maxWorkgroupsPerDim),
    label: 'q4_concat_copy16',
  });
}

/** Row blocks [N_i, C] of `parts` one after the other into a new [ΣN_i, C] tensor. */
function concatTensors(ctx: GpuContext, parts: Tensor[], label: string): Tensor {
  const C = parts[0].shape[1];
  const N = parts.reduce((a, t) => a + t.shape[0], 0);
  const out = ctx.empty([N, C], parts[0].dtype, label);
  let row = 0;
  for (const t of parts) {
    const n = t.shape[0] * C;
    if (t.dtype === 'f16') copy16(ctx, t, 0, out, row * C, n);
    else ctx.copyRegion(t, 0, out, row * C * 4, n * 4);
    row += t.shape[0];
  }
  return out;
}

export function concatQ4Rows(ctx: GpuContext, parts: QTensor[]): QTensor {
  const L0 = assertSameQ4Format('concatQ4Rows', parts);
  const N = parts.reduce((a, q) => a + q.N, 0);
  const mins = L0.scheme === 'asym' ? parts.map((q) => q.mins as Tensor) : null;
  return {
    packed: concatTensors(
      ctx,
      parts.map((q) => q.packed),
      'q4.packed',
    ),
    scales: concatTensors(
      ctx,
      parts.map((q) => q.scales),
      'q4.scales',
    ),
    ...(mins ? { mins: concatTensors(ctx, mins, 'q4.mins') } : {}),
    N,
    K: L0.K,
    groupSize: L0.groupSize,
    scheme: L0.scheme,
  };
}
