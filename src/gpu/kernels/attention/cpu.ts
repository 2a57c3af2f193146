/**
 * CPU reference for attention: plain loops, f64, two-pass softmax (max, then sum). Never optimised.
 * q [B, T, Hq, D], k/v [B, S, Hkv, D] → [B, T, Hq, D]. Query head h uses kv head ⌊h / (Hq/Hkv)⌋.
 * Keys per sequence: kvLengths[b] when given (its T queries are then the last T positions), else S.
 * Causal: key j is visible to query i iff j ≤ qOffset + i.
 */
export interface AttentionCpuDims {
  B?: number;
  T: number;
  S: number;
  Hq: number;
  Hkv: number;
  D: number;
  causal: boolean;
  scale: number;
  qOffset?: number;
  kvLengths?: readonly number[];
}

export function attentionCpu(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  dims: AttentionCpuDims,
): Float32Array {
  const { B = 1, T, S, Hq, Hkv, D, causal, scale } = dims;
  const G = Hq / Hkv;
  const out = new Float32Array(B * T * Hq * D);
  for (let b = 0; b < B; b++) {
    const n = Math.min(dims.kvLengths?.[b] ?? S, S);
    const qOffset = dims.kvLengths ? n - T : (dims.qOffset ?? 0);
    for (let i = 0; i < T; i++) {
      const end = causal ? Math.max(0, Math.min(n, qOffset + i + 1)) : n;
      for (let h = 0; h < Hq; h++) {
        const kh = Math.floor(h / G);
        const qb = ((b * T + i) * Hq + h) * D;
        const scores: number[] = [];
        for (let j = 0; j < end; j++) {
          const kb = ((b * S + j) * Hkv + kh) * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qb + d] * k[kb + d];
          scores.push(dot * scale);
        }
        if (end === 0) continue; // nothing visible: zeros, like the GPU
        const mx = Math.max(...scores);
        let sum = 0;
        for (let j = 0; j < end; j++) sum += Math.exp(scores[j] - mx);
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j < end; j++) acc += Math.exp(scores[j] - mx) * v[((b * S + j) * Hkv + kh) * D + d];
          out[qb + d] = acc / sum;
        }
      }
    }
  }
  return out;
}
