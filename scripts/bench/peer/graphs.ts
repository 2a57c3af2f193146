/**
 * The one-node ONNX graphs the peer benchmark runs in onnxruntime-web, plus the host-side weight
 * layout they need. Runs in the benchmark page (no DOM or Node APIs).
 */
import { toF16Array } from '../../../src/gpu/f16';
import { encodeModel, type OnnxType, rawBytes } from './onnx';

export type PeerDtype = 'f32' | 'f16';
const onnxType = (d: PeerDtype): OnnxType => (d === 'f32' ? 'float' : 'float16');

/**
 * A 4-bit weight in the layout ORT's com.microsoft MatMulNBits takes (bits 4, block 32, no zero points
 * so the zero point is 8): B uint8 [N, K/32, 16], byte i of a block holds k = 2i (low nibble) and
 * 2i + 1 (high nibble); scales [N·K/32], block-major within a row. ŵ[n, k] = (code − 8)·scale.
 */
export interface OrtQ4 {
  N: number;
  K: number;
  B: Uint8Array;
  scales: Float32Array;
}

export const ORT_BLOCK = 32;

/**
 * Packs codes[n, k] (0…15, from `code(n, k)`) and per-block scales [N, K/32] into ORT's layout.
 * Written from ORT's contract, not from our format, so a layout mistake on either side shows up as a
 * disagreement with the CPU reference.
 */
export function packOrtQ4(
  N: number,
  K: number,
  code: (n: number, k: number) => number,
  scales: Float32Array,
): OrtQ4 {
  if (K % ORT_BLOCK) throw new Error(`packOrtQ4: K=${K} is not a multiple of ${ORT_BLOCK}`);
  if (scales.length !== (N * K) / ORT_BLOCK) throw new Error('packOrtQ4: scales must be [N, K/32]');
  const B = new Uint8Array((N * K) / 2);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) B[(n * K + k) >> 1] |= code(n, k) << (4 * (k & 1));
  return { N, K, B, scales: Float32Array.from(scales) };
}

/** CPU reference y[M, N] = x[M, K] · ŵᵀ from ORT's layout, f64 accumulation. */
export function matmulOrtQ4Cpu(x: Float32Array, w: OrtQ4, M: number): Float32Array {
  const { N, K, B, scales } = w;
  const y = new Float32Array(M * N);
  const row = new Float64Array(K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const byte = B[(n * K + k) >> 1];
      const q = (k & 1 ? byte >> 4 : byte) & 15;
      row[k] = (q - 8) * scales[((n * K + k) / ORT_BLOCK) | 0];
    }
    for (let m = 0; m < M; m++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * row[k];
      y[m * N + n] = s;
    }
  }
  return y;
}

/** A [M, K] → Y [M, N] through MatMulNBits with the weight as initializers. */
export function matmulNBitsModel(w: OrtQ4, M: number, dtype: PeerDtype): Uint8Array {
  const { N, K } = w;
  const t = onnxType(dtype);
  const scaleBytes = dtype === 'f32' ? rawBytes(w.scales) : rawBytes(toF16Array(w.scales));
  return encodeModel({
    opsets: { '': 17, 'com.microsoft': 1 },
    inputs: [{ name: 'A', type: t, dims: [M, K] }],
    outputs: [{ name: 'Y', type: t, dims: [M, N] }],
    initializers: [
      { name: 'B', type: 'uint8', dims: [N, K / ORT_BLOCK, ORT_BLOCK / 2], data: w.B },
      { name: 'scales', type: t, dims: [(N * K) / ORT_BLOCK], data: scaleBytes },
    ],
    nodes: [
      {
        op: 'MatMulNBits',
        domain: 'com.microsoft',
        inputs: ['A', 'B', 'scales'],
        outputs: ['Y'],
        attrs: { K: { int: K }, N: { int: N }, bits: { int: 4 }, block_size: { int: ORT_BLOCK } },
      },
    ],
  });
}

export interface GqaShape {
  /** New tokens (queries, and k/v rows written). */
  T: number;
  /** Keys attended to after the write (past + T). */
  S: number;
  Hq: number;
  Hkv: number;
  D: number;
}

/**
 * How the KV cache enters GroupQueryAttention when there is a past (S > T):
 * - 'shared': past_key/past_value [1, Hkv, S, D] are the very buffers bound as present_key/value (ORT's
 *   static-cache mode, what onnxruntime-genai uses): the T new rows are written in place at S − T.
 *   The native WebGPU EP supports it; JSEP does not (it sizes present as past + T).
 * - 'concat': past [1, Hkv, S − T, D]; present [1, Hkv, S, D] is past with the new rows appended, a
 *   copy of the whole cache per call (how JSEP, and transformers.js, run it).
 */
export type GqaCacheMode = 'shared' | 'concat';

/**
 * com.microsoft GroupQueryAttention: query [1, T, Hq·D], key/value [1, T, Hkv·D] (BSNH flattened), a
 * past cache in BNSH when S > T (see GqaCacheMode), seqlens_k = S − 1, total_sequence_length = S.
 * Causal (GQA always is); no rotary.
 */
export function gqaModel(s: GqaShape, dtype: PeerDtype, mode: GqaCacheMode): Uint8Array {
  const { T, S, Hq, Hkv, D } = s;
  const t = onnxType(dtype);
  const past = S > T;
  const cache = [1, Hkv, S, D];
  const pastDims = mode === 'shared' ? cache : [1, Hkv, S - T, D];
  // ORT's shape inference gives present the past's length unless total_sequence_length is a constant:
  // leave the sequence dimension symbolic.
  const presentDims = [1, Hkv, 'present_sequence', D];
  return encodeModel({
    opsets: { '': 17, 'com.microsoft': 1 },
    inputs: [
      { name: 'query', type: t, dims: [1, T, Hq * D] },
      { name: 'key', type: t, dims: [1, T, Hkv * D] },
      { name: 'value', type: t, dims: [1, T, Hkv * D] },
      ...(past
        ? [
            { name: 'past_key', type: t, dims: pastDims },
            { name: 'past_value', type: t, dims: pastDims },
          ]
        : []),
      { name: 'seqlens_k', type: 'int32', dims: [1] },
      { name: 'total_sequence_length', type: 'int32', dims: [1] },
    ],
    outputs: [
      { name: 'output', type: t, dims: [1, T, Hq * D] },
      { name: 'present_key', type: t, dims: presentDims },
      { name: 'present_value', type: t, dims: presentDims },
    ],
    initializers: [],
    nodes: [
      {
        op: 'GroupQueryAttention',
        domain: 'com.microsoft',
        inputs: [
          'query',
          'key',
          'value',
          past ? 'past_key' : '',
          past ? 'past_value' : '',
          'seqlens_k',
          'total_sequence_length',
        ],
        outputs: ['output', 'present_key', 'present_value'],
        attrs: {
          num_heads: { int: Hq },
          kv_num_heads: { int: Hkv },
          scale: { float: 1 / Math.sqrt(D) },
        },
      },
    ],
  });
}
