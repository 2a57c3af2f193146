import { type GpuContext, wgslTypes } from '../../context';
import { memoShader } from '../../pipeline-cache';
import type { DType, Tensor } from '../../tensor';
import { CHUNK, COMMON, flatGrid, linearId, WG_FLAT } from './common';

/**
 * Ties with the k-th value. Hugging Face's top-k keeps every logit ≥ the k-th largest
 * (`scores < topk(scores, k)[0][..., -1]` is what it removes), so ids tied with the k-th candidate
 * stay in the draw even past k. The passes keep exactly K; this shader counts, per chunk of CHUNK
 * ids, the logits equal to the k-th candidate's value τ, and the draw walks those counts to reach the
 * tied ids the passes cut. One thread per (row, chunk), for both variants: it is one read of the row.
 */
function tiesShader(dtype: DType): string {
  return `${wgslTypes({ T: dtype })}${COMMON}
struct P { B: u32, V: u32, K: u32, nC: u32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> cv: array<f32>;
@group(0) @binding(2) var<storage, read> ci: array<u32>;
@group(0) @binding(3) var<storage, read_write> cnt: array<u32>;
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(${WG_FLAT})
fn sample_ties(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  ${linearId(WG_FLAT)}
  if (t >= p.B * p.nC) { return; }
  let r = t / p.nC;
  let last = r * p.K + p.K - 1u;
  // Fewer than K candidates (V < K): every id is one already, nothing is tied past them.
  if (ci[last] == NONE) { cnt[t] = 0u; return; }
  let tau = cv[last];
  let start = (t % p.nC) * ${CHUNK}u;
  let end = min(start + ${CHUNK}u, p.V);
  var n = 0u;
  for (var j = start; j < end; j++) {
    if (max(f32(x[r * p.V + j]), LOWEST) == tau) { n += 1u; }
  }
  cnt[t] = n;
}`;
}

/**
 * Per row and chunk, how many logits of src [B, V] equal the k-th candidate's value (cv, ci [B, K]
 * from the passes): u32 [B, ceil(V / CHUNK)].
 */
export function countTies(ctx: GpuContext, src: Tensor, cv: Tensor, ci: Tensor): Tensor {
  const [B, V] = src.shape;
  const K = cv.shape[1];
  const nC = Math.ceil(V / CHUNK);
  const cnt = ctx.empty([B, nC], 'u32', 'sample.ties');
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`sample_ties|${src.dtype}`, () => tiesShader(src.dtype)),
      'sample_ties',
    ),
    bindings: [src, cv, ci, cnt],
    uniforms: { u32: [B, V, K, nC] },
    workgroups: flatGrid(B * nC, WG_FLAT),
    label: 'sample_ties',
  });
  return cnt;
}

// ---- CPU reference --------------------------------------------------------------------------------

/**
 * The ranked top-k ids followed by every other id tied with the k-th value, in id order (HF keeps
 * them all). `ids` is topKCpu's answer for k; a list shorter than k (k > V) holds every id already.
 */
export function withTiesCpu(x: ArrayLike<number>, ids: number[], k: number): number[] {
  if (ids.length < k) return ids;
  const tau = x[ids[ids.length - 1]];
  const taken = new Set(ids);
  const out = [...ids];
  for (let i = 0; i < x.length; i++) if (x[i] === tau && !taken.has(i)) out.push(i);
  return out;
}
