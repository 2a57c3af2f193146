/**
 * Benchmark cases of the decode engine's own kernels at Qwen2.5-3B shapes: the 4-bit projections (plain,
 * with the fused RMSNorm, with the fused gate·up·SiLU), the 4-bit GEMM for B = 8 decode and prefill
 * chunks, the 4-bit embedding gather, the fused rope + KV write, and attention over the cache (decode)
 * and flash-style prefill. Weights are random 4-bit data made on the GPU (the engine's format, asym
 * groups of 32). Bytes are the minimum traffic: weights, scales and inputs read once, outputs written once.
 */
import type { GpuContext } from '../../src/gpu/context';
import { attention } from '../../src/gpu/kernels/attention/attention';
import { attentionDecode, createKvCache } from '../../src/gpu/kernels/attention/kv-cache';
import { embeddingQ4 } from '../../src/gpu/kernels/embedding-q4';
import { fillRandom } from '../../src/gpu/kernels/fill';
import { matmulQ4 } from '../../src/gpu/kernels/matmul/matmul-q4';
import { qkvRopeWrite } from '../../src/gpu/kernels/qkv-rope';
import type { QTensor } from '../../src/gpu/kernels/quant/format';
import { emptyQ4 } from '../../src/gpu/kernels/quant/quantize';
import { BYTES, type Tensor } from '../../src/gpu/tensor';
import { ENGINE_Q4 } from '../../src/model/load';
import type { BenchCase } from './cases';

const [C, I, H, Hkv, D] = [2048, 11008, 16, 2, 128];

function randomQ4(ctx: GpuContext, N: number, K: number): QTensor {
  const q = emptyQ4(ctx, N, K, { ...ENGINE_Q4, scaleDtype: ctx.summary.f16 ? 'f16' : 'f32' });
  fillRandom(ctx, q.packed, 1);
  fillRandom(ctx, q.scales, 2, 0.001, 0.003);
  if (q.mins) fillRandom(ctx, q.mins, 3, -0.02, -0.01);
  return q;
}

const q4Bytes = (q: QTensor) => q.packed.byteLength + q.scales.byteLength + (q.mins?.byteLength ?? 0);
const parts = (q: QTensor) => [q.packed, q.scales, ...(q.mins ? [q.mins] : [])];
const rand = (ctx: GpuContext, shape: number[], seed: number, lo = -1, hi = 1) =>
  fillRandom(ctx, ctx.empty(shape, ctx.actDtype), seed, lo, hi);

type Fusion = 'none' | 'norm' | 'norm+siluMul';

function q4Case(M: number, N: number, K: number, fusion: Fusion): BenchCase {
  const label = fusion === 'none' ? 'q4 matmul' : `q4 matmul + ${fusion}`;
  return {
    kernel: label,
    variant: '—',
    dtype: 'f16',
    shape: `M=${M} N=${N} K=${K}`,
    bytes: 0, // set in prepare (depends on the scale dtype)
    flops: 2 * M * N * K,
    prepare(ctx) {
      const q = randomQ4(ctx, N, K);
      const x = rand(ctx, [M, K], 4);
      const gamma = rand(ctx, [K], 5, 0.9, 1.1);
      const b = BYTES[ctx.actDtype];
      this.dtype = ctx.actDtype;
      this.bytes = q4Bytes(q) + (M * K + (M * N) / (fusion === 'norm+siluMul' ? 2 : 1)) * b;
      const opts =
        fusion === 'none'
          ? {}
          : {
              norm: { weight: gamma, eps: 1e-6 },
              ...(fusion === 'norm+siluMul' ? { epilogue: 'siluMulHalves' as const } : {}),
            };
      return { call: () => matmulQ4(ctx, x, q, null, ctx.variant, opts), inputs: [x, gamma, ...parts(q)] };
    },
  };
}

/** The engine's kernels; `big`: the full decode shapes (a software adapter takes ~0.1–1 s per call). */
export function engineCases(ctx: GpuContext): BenchCase[] {
  const cases: BenchCase[] = [
    q4Case(1, C, C, 'none'), // o_proj
    q4Case(1, C + 2 * Hkv * D, C, 'norm'), // input_layernorm → [q; k; v]
    q4Case(1, 2 * I, C, 'norm+siluMul'), // post_attention_layernorm → [gate; up] → SiLU·mul
    q4Case(1, C, I, 'none'), // down_proj
    q4Case(8, C, C, 'none'), // B = 8 decode (GRPO rollouts)
    q4Case(64, C, C, 'none'), // a 64-token prefill chunk
  ];

  const [T, V] = [8, 32768];
  cases.push({
    kernel: 'embedding q4',
    variant: '—',
    dtype: 'f16',
    shape: `T=${T} V=${V} C=${C}`,
    bytes: 0,
    flops: null,
    prepare(ctx) {
      const table = randomQ4(ctx, V, C);
      const ids = ctx.upload(
        Uint32Array.from({ length: T }, (_, i) => (i * 7919) % V),
        [T],
        'u32',
      );
      this.dtype = ctx.actDtype;
      // Rows read (packed + scales) and rows written.
      this.bytes = T * (q4Bytes(table) / V + C * BYTES[ctx.actDtype]);
      return { call: () => embeddingQ4(ctx, ids, table), inputs: [ids, ...parts(table)] };
    },
  });

  const Smax = 3072;
  for (const B of [1, 8])
    cases.push({
      kernel: 'qkv rope + kv write',
      variant: '—',
      dtype: 'f16',
      shape: `B=${B} T=1 H=${H}/${Hkv} D=${D}`,
      bytes: 0,
      flops: null,
      prepare(ctx) {
        const cache = createKvCache(ctx, { B, Smax, Hkv, D });
        const qkv = rand(ctx, [B, 1, (H + 2 * Hkv) * D], 6);
        this.dtype = ctx.actDtype;
        this.bytes = B * (H + 2 * Hkv) * D * 2 * BYTES[ctx.actDtype];
        return {
          call: () => qkvRopeWrite(ctx, qkv, cache, 100, 1e6, H),
          inputs: [qkv, cache.k, cache.v],
        };
      },
    });

  for (const [B, S] of [
    [1, 1024],
    [8, 1024],
  ])
    cases.push({
      kernel: 'attention decode',
      variant: ctx.variant,
      dtype: 'f16',
      shape: `B=${B} S=${S} H=${H}/${Hkv} D=${D}`,
      bytes: 0,
      flops: 4 * B * S * H * D,
      prepare(ctx) {
        const cache = createKvCache(ctx, { B, Smax: S, Hkv, D });
        fillRandom(ctx, cache.k, 7);
        fillRandom(ctx, cache.v, 8);
        const q = rand(ctx, [B, 1, H, D], 9);
        this.dtype = ctx.actDtype;
        this.bytes = (2 * B * S * Hkv * D + 2 * B * H * D) * BYTES[ctx.actDtype];
        return {
          call: () => attentionDecode(ctx, q, cache.k, cache.v, S, 1 / Math.sqrt(D)),
          inputs: [q, cache.k, cache.v],
        };
      },
    });

  const P = 128;
  cases.push({
    kernel: 'attention prefill (causal)',
    variant: ctx.variant,
    dtype: 'f16',
    shape: `T=S=${P} H=${H}/${Hkv} D=${D}`,
    bytes: 0,
    flops: 2 * P * P * H * D, // causal: half of 4·T·S·H·D
    prepare(ctx) {
      const q = rand(ctx, [P, H, D], 10);
      const k = rand(ctx, [P, Hkv, D], 11);
      const v = rand(ctx, [P, Hkv, D], 12);
      this.dtype = ctx.actDtype;
      this.bytes = (2 * P * H * D + 2 * P * Hkv * D) * BYTES[ctx.actDtype];
      return {
        call: () => attention(ctx, q, k, v, { causal: true, scale: 1 / Math.sqrt(D) }),
        inputs: [q, k, v] as Tensor[],
      };
    },
  });
  return cases;
}
