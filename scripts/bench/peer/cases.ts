/**
 * The peer benchmark's shapes: Qwen2.5-3B's (hidden 2048, MLP 11008, 16 query / 2 KV heads of 128).
 * Real GPUs get the model's shapes; software adapters a scaled-down set that keeps `npm run bench:peer`
 * to a few minutes (ORT's GEMM on SwiftShader takes seconds per call at full size).
 */
import { q4Bytes, q4Layout } from '../../../src/gpu/kernels/quant/format';
import type { PeerCase, TimingOptions } from '../../browser/pages/peer';

const mm = (M: number, N: number, K: number): PeerCase => ({
  id: `mm-${M}x${N}x${K}`,
  kind: 'matmul',
  dtype: 'f32',
  M,
  N,
  K,
});

const attn = (phase: 'decode' | 'prefill', T: number, S: number): PeerCase => ({
  id: `attn-${phase}-${T}-${S}`,
  kind: 'attention',
  dtype: 'f32',
  T,
  S,
  Hq: 16,
  Hkv: 2,
  D: 128,
});

/**
 * f32 activations everywhere; where the adapter has shader-f16 (the engine then runs f16 activations)
 * every case again in f16.
 */
export function peerCases(software: boolean, f16: boolean): PeerCase[] {
  const f32 = baseCases(software);
  if (!f16) return f32;
  return [...f32, ...f32.map((c): PeerCase => ({ ...c, id: `${c.id}-f16`, dtype: 'f16' }))];
}

function baseCases(software: boolean): PeerCase[] {
  if (!software)
    return [
      mm(1, 2048, 2048),
      mm(1, 11008, 2048),
      mm(8, 2048, 2048),
      mm(8, 11008, 2048),
      mm(64, 2048, 2048),
      mm(64, 11008, 2048),
      attn('decode', 1, 512),
      attn('prefill', 512, 512),
    ];
  // JSEP's MatMulNBits GEMM takes seconds per call here: the GEMM shapes shrink in N.
  return [
    mm(1, 2048, 2048),
    mm(1, 11008, 2048),
    mm(8, 1024, 2048),
    mm(64, 512, 2048),
    attn('decode', 1, 512),
    attn('prefill', 64, 64),
  ];
}

export function peerTiming(software: boolean): TimingOptions {
  return software
    ? { budgetMs: 800, minSamples: 3, maxSamples: 10, batchMs: 20 }
    : { budgetMs: 1000, minSamples: 5, maxSamples: 30, batchMs: 50 };
}

/** One line per case for the table. */
export function caseLabel(c: PeerCase): { op: string; shape: string } {
  if (c.kind === 'matmul')
    return {
      op: c.M === 1 ? 'MatMulNBits GEMV' : 'MatMulNBits GEMM',
      shape: `M=${c.M} N=${c.N} K=${c.K}`,
    };
  return {
    op: `GQA ${c.T === c.S ? 'prefill' : 'decode'}`,
    shape: `T=${c.T} S=${c.S} H=${c.Hq}/${c.Hkv}×${c.D}`,
  };
}

/** Bytes our kernels must move per call (inputs read once, outputs written once); for GB/s. */
export function ourBytes(c: PeerCase): number {
  const b = c.dtype === 'f16' ? 2 : 4;
  if (c.kind === 'matmul') {
    const w = q4Bytes(q4Layout(c.N, c.K, { groupSize: 32, scheme: 'sym', scaleDtype: 'f16' }));
    return w + (c.M * c.K + c.M * c.N) * b;
  }
  // q in, o out, the T new k/v rows written, all S cached k/v rows read.
  return (2 * c.T * c.Hq * c.D + 2 * c.T * c.Hkv * c.D + 2 * c.S * c.Hkv * c.D) * b;
}
