import type { GpuContext } from '../../context';
import type { Tensor } from '../../tensor';

/**
 * The 4-bit weight format ("Q4") of a Linear weight W [N, K] (PyTorch layout [out, in]).
 *
 * Groups: each row is cut into groups of G consecutive k (G a multiple of 32; 32, 64 and 128 are used).
 * K is padded up to Kp = ceil(K / G)·G. Padded positions are left out of their group's statistics, hold
 * the nibble 8 (sym; decodes to 0) or 0 (asym), and are never used: the kernels read x as 0 past K.
 *
 *   packed  u32 [N, Kp/8]  word j of row n holds k = 8j … 8j+7; nibble i (bits 4i … 4i+3, low first) is
 *                          k offset i. 32 consecutive k (4 words) never straddle a group.
 *   scales  [N, nG]        nG = Kp/G, row-major. 'f16' (default) or 'f32'. f16 scales are read as u32
 *                          pairs with unpack2x16float, which is core WGSL: no shader-f16 needed.
 *   mins    [N, nG]        asym only, same dtype as scales.
 *
 * Reconstruction: sym  ŵ = (q − 8)·scale, scale = max|w| / 7  (q − 8 ∈ [−8, 7]; ±7 in practice)
 *                 asym ŵ = q·scale + min, scale = (max − min) / 15  (q ∈ [0, 15])
 * Rounding (GPU and CPU bit-identical): q is the level nearest to w, ties going up (toward +∞); see
 * quantize-cpu.ts for the exact arithmetic. Scales are clamped to [2⁻¹⁴, 65504] (f16 normal
 * range; an all-zero group gets scale 2⁻¹⁴), stored f16 rounded to nearest-even. f16 mins below 2⁻¹⁴ in
 * magnitude become 0 (GPUs may flush f16 subnormals).
 */
export type Q4Scheme = 'sym' | 'asym';
export type Q4ScaleDtype = 'f16' | 'f32';

export interface Q4Options {
  /** k per group (multiple of 32); default 32. */
  groupSize?: number;
  /** default 'sym'. */
  scheme?: Q4Scheme;
  /** default 'f16'. */
  scaleDtype?: Q4ScaleDtype;
}

/** Everything the kernels need to know about a Q4 weight's shape. */
export interface Q4Layout {
  N: number;
  K: number;
  groupSize: number;
  scheme: Q4Scheme;
  scaleDtype: Q4ScaleDtype;
  /** K padded to whole groups. */
  Kp: number;
  /** Groups per row: Kp / groupSize. */
  groups: number;
  /** u32 words per row: Kp / 8. */
  words: number;
}

/** A Q4 weight on the GPU. packed u32 [N, Kp/8]; scales and mins [N, nG]. */
export interface QTensor {
  packed: Tensor;
  scales: Tensor;
  mins?: Tensor;
  N: number;
  K: number;
  groupSize: number;
  scheme: Q4Scheme;
}

/** A Q4 weight in host memory (the CPU quantizer's output; scales/mins hold the stored values). */
export interface Q4Host {
  packed: Uint32Array;
  scales: Float32Array;
  mins?: Float32Array;
  N: number;
  K: number;
  groupSize: number;
  scheme: Q4Scheme;
  scaleDtype: Q4ScaleDtype;
}

export const Q4_DEFAULTS: Required<Q4Options> = { groupSize: 32, scheme: 'sym', scaleDtype: 'f16' };

/** Smallest and largest scale (f16 normal range, so f16 and f32 scales behave alike). */
export const SCALE_MIN = 2 ** -14;
export const SCALE_MAX = 65504;
/** 1/7 and 1/15 as f32: scales are computed by a correctly rounded f32 multiply, never a division. */
export const INV7 = Math.fround(1 / 7);
export const INV15 = Math.fround(1 / 15);

export function q4Layout(N: number, K: number, opts: Q4Options = {}): Q4Layout {
  const { groupSize, scheme, scaleDtype } = { ...Q4_DEFAULTS, ...opts };
  if (!(Number.isInteger(N) && Number.isInteger(K) && N > 0 && K > 0))
    throw new Error(`q4: bad shape [${N}, ${K}]`);
  if (!(groupSize > 0 && groupSize % 32 === 0))
    throw new Error(`q4: group size must be a multiple of 32, got ${groupSize}`);
  const groups = Math.ceil(K / groupSize);
  const Kp = groups * groupSize;
  return { N, K, groupSize, scheme, scaleDtype, Kp, groups, words: Kp / 8 };
}

export function layoutOf(q: QTensor | Q4Host): Q4Layout {
  const scaleDtype = 'scaleDtype' in q ? q.scaleDtype : (q.scales.dtype as Q4ScaleDtype);
  return q4Layout(q.N, q.K, { groupSize: q.groupSize, scheme: q.scheme, scaleDtype });
}

/** Throws unless every part shares part 0's K, group size, scheme and scale dtype (row parts of one weight). */
export function assertSameQ4Format(what: string, parts: readonly (QTensor | Q4Host)[]): Q4Layout {
  if (parts.length === 0) throw new Error(`${what}: no parts`);
  const fmtOf = (L: Q4Layout) => `K ${L.K}, G ${L.groupSize}, ${L.scheme}, ${L.scaleDtype}`;
  const L0 = layoutOf(parts[0]);
  for (const [i, q] of parts.entries()) {
    const L = layoutOf(q);
    if (
      L.K !== L0.K ||
      L.groupSize !== L0.groupSize ||
      L.scheme !== L0.scheme ||
      L.scaleDtype !== L0.scaleDtype
    )
      throw new Error(`${what}: part ${i} (${fmtOf(L)}) differs from part 0 (${fmtOf(L0)})`);
  }
  return L0;
}

/** Bytes a Q4 weight occupies (packed + scales + mins). */
export function q4Bytes(L: Q4Layout): number {
  const perScale = L.scaleDtype === 'f16' ? 2 : 4;
  return L.N * L.words * 4 + L.N * L.groups * perScale * (L.scheme === 'asym' ? 2 : 1);
}

/** The 4-bit code of W[n, k] (k < Kp). */
export function q4Code(h: Q4Host, L: Q4Layout, n: number, k: number): number {
  return (h.packed[n * L.words + (k >> 3)] >>> (4 * (k & 7))) & 15;
}

/** The reconstructed weight ŵ[n, k], in f64 (a plain-loop reference, not what a kernel rounds). */
export function q4Value(h: Q4Host, L: Q4Layout, n: number, k: number): number {
  const g = n * L.groups + Math.floor(k / L.groupSize);
  const q = q4Code(h, L, n, k);
  return L.scheme === 'sym' ? (q - 8) * h.scales[g] : q * h.scales[g] + (h.mins as Float32Array)[g];
}

/** Uploads a host Q4 weight (e.g. from the CPU quantizer or a converted file). */
export function uploadQ4(ctx: GpuContext, h: Q4Host): QTensor {
  const L = layoutOf(h);
  const sshape = [L.N, L.groups];
  return {
    packed: ctx.upload(h.packed, [L.N, L.words], 'u32'),
    scales: ctx.upload(h.scales, sshape, L.scaleDtype),
    ...(h.mins ? { mins: ctx.upload(h.mins, sshape, L.scaleDtype) } : {}),
    N: L.N,
    K: L.K,
    groupSize: L.groupSize,
    scheme: L.scheme,
  };
}

/** Reads a Q4 weight back to host memory (tests, exporting a converted model). */
export async function readQ4(ctx: GpuContext, q: QTensor): Promise<Q4Host> {
  const L = layoutOf(q);
  return {
    packed: (await ctx.readU32(q.packed)).slice(0, L.N * L.words),
    scales: await ctx.read(q.scales),
    ...(q.mins ? { mins: await ctx.read(q.mins) } : {}),
    N: L.N,
    K: L.K,
    groupSize: L.groupSize,
    scheme: L.scheme,
    scaleDtype: L.scaleDtype,
  };
}

export function releaseQ4(ctx: GpuContext, q: QTensor): void {
  ctx.release(q.packed, q.scales, ...(q.mins ? [q.mins] : []));
}

/** The bits of an f32, for exact constants in WGSL: `bitcast<f32>(${f32Bits(x)}u)`. */
export function f32Bits(x: number): number {
  return new Uint32Array(new Float32Array([x]).buffer)[0];
}
