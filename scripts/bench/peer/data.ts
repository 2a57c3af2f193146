/**
 * Seeded inputs and CPU references for the peer cases, made once in Node and served to every page
 * (so all backends read byte-identical data, and the quantizer and the f64 references run once).
 */
import { roundToF16 } from '../../../src/gpu/f16';
import { attentionCpu } from '../../../src/gpu/kernels/attention/cpu';
import { layoutOf, type Q4Host, q4Code } from '../../../src/gpu/kernels/quant/format';
import { quantizeQ4Cpu } from '../../../src/gpu/kernels/quant/quantize-cpu';
import { randn } from '../../../src/gpu/random';
import type { PeerCase } from '../../browser/pages/peer';
import { matmulOrtQ4Cpu, type OrtQ4, packOrtQ4 } from './graphs';

const weights = new Map<string, { ours: Q4Host; ort: OrtQ4 }>();

/**
 * The random weight W [N, K] at a real checkpoint's magnitude (uniform ±0.05), quantized symmetric with
 * block 32 by our CPU quantizer, and the same codes and scales repacked for ORT. One per shape: the
 * cases that differ only in M share it.
 */
function weight(N: number, K: number): { ours: Q4Host; ort: OrtQ4 } {
  const key = `${N}x${K}`;
  let w = weights.get(key);
  if (!w) {
    const ours = quantizeQ4Cpu(randn(N * K, 23 + N, -0.05, 0.05), N, K, { groupSize: 32, scheme: 'sym' });
    const L = layoutOf(ours);
    w = { ours, ort: packOrtQ4(N, K, (n, k) => q4Code(ours, L, n, k), ours.scales) };
    weights.set(key, w);
  }
  return w;
}

export type CaseArrays = Record<string, Float32Array | Uint32Array | Uint8Array>;

/**
 * matmul: x [M, K]; our Q4 weight (packed u32 [N, K/8], f16 scales held as f32 [N, K/32]); the same
 * codes and scales in ORT's layout (ortB, ortScales); ref [M, N].
 * attention: q [T, Hq, D]; k, v [S, Hkv, D] (the last T rows are the new ones); ref [T, Hq, D].
 * Inputs of f16 cases are rounded to f16 first, so the reference sees what the GPU sees.
 */
export function caseArrays(c: PeerCase): CaseArrays {
  const act = (a: Float32Array) => (c.dtype === 'f16' ? roundToF16(a) : a);
  if (c.kind === 'matmul') {
    const { M, N, K } = c;
    const x = act(randn(M * K, 11 + M));
    const { ours, ort } = weight(N, K);
    return {
      x,
      packed: ours.packed,
      scales: ours.scales,
      ortB: ort.B,
      ortScales: ort.scales,
      ref: matmulOrtQ4Cpu(x, ort, M),
    };
  }
  const { T, S, Hq, Hkv, D } = c;
  const q = act(randn(T * Hq * D, 31 + S));
  const k = act(randn(S * Hkv * D, 37 + S));
  const v = act(randn(S * Hkv * D, 41 + S));
  const ref = attentionCpu(q, k, v, {
    T,
    S,
    Hq,
    Hkv,
    D,
    causal: true,
    scale: 1 / Math.sqrt(D),
    qOffset: S - T,
  });
  return { q, k, v, ref };
}
