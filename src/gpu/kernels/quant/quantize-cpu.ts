/**
 * The Q4 quantizer on the CPU: the same arithmetic as the GPU quantizer (src/gpu/kernels/quant/quantize.ts),
 * bit for bit, for a converter that writes quantized files and for tests. Format: quant/format.ts.
 *
 * Exact arithmetic, so both sides agree: only f32 operations that IEEE/WGSL round correctly (+, −, ·,
 * comparisons, min/max) decide anything; divisions only make a first guess that is then corrected.
 *   sym:  scale = f16(clamp(max|w| · f32(1/7)))            t = w
 *   asym: min'  = f16(min), scale = f16(clamp((max − min') · f32(1/15)))   t = f32(w − min')
 *   q = the integer whose level is nearest to t, ties up: t ≥ (q + ½)·scale ⇒ go up; t < (q − ½)·scale ⇒
 *       go down; then clamped to [−8, 7] (sym, stored + 8) or [0, 15] (asym).
 * With f16 scales (q ± ½)·scale is exact in f32 (≤ 6 + 11 significant bits), so there is no rounding at
 * all in the decision. With f32 scales the product rounds once, identically on both sides.
 */
import { f16BitsToF32, f32ToF16Bits } from '../../f16';
import {
  INV7,
  INV15,
  type Q4Host,
  type Q4Layout,
  type Q4Options,
  type Q4ScaleDtype,
  q4Layout,
  q4Value,
  SCALE_MAX,
  SCALE_MIN,
} from './format';

const f = Math.fround;

/** The stored scale: clamped to the f16 normal range, then rounded to the storage dtype. */
export function storeScale(v: number, dtype: Q4ScaleDtype): number {
  const c = Math.min(Math.max(v, SCALE_MIN), SCALE_MAX);
  return dtype === 'f16' ? f16BitsToF32(f32ToF16Bits(c)) : f(c);
}

/** The stored min: f16 rounds to nearest-even, with magnitudes under 2⁻¹⁴ set to 0; f32 keeps it. */
export function storeMin(v: number, dtype: Q4ScaleDtype): number {
  if (dtype === 'f32') return f(v);
  if (Math.abs(v) < SCALE_MIN) return 0;
  return f16BitsToF32(f32ToF16Bits(Math.min(Math.max(v, -SCALE_MAX), SCALE_MAX)));
}

/** The integer level nearest t/s, ties up, clamped to [lo, hi]. */
export function nearestLevel(t: number, s: number, lo: number, hi: number): number {
  let q = Math.round(t / s);
  if (t >= f((q + 0.5) * s)) q++;
  else if (t < f((q - 0.5) * s)) q--;
  return Math.min(Math.max(q, lo), hi);
}

/** Quantizes W [N, K] (row-major f32) into the Q4 format. */
export function quantizeQ4Cpu(w: Float32Array, N: number, K: number, opts: Q4Options = {}): Q4Host {
  const L = q4Layout(N, K, opts);
  if (w.length !== N * K) throw new Error(`quantizeQ4Cpu: ${w.length} values for [${N}, ${K}]`);
  const G = L.groupSize;
  const sym = L.scheme === 'sym';
  const packed = new Uint32Array(N * L.words);
  const scales = new Float32Array(N * L.groups);
  const mins = sym ? undefined : new Float32Array(N * L.groups);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < L.groups; g++) {
      const k0 = g * G;
      const k1 = Math.min(k0 + G, K);
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      let amax = 0;
      for (let k = k0; k < k1; k++) {
        const v = w[n * K + k];
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
        amax = Math.max(amax, Math.abs(v));
      }
      const gi = n * L.groups + g;
      let s: number;
      let mn = 0;
      if (sym) s = storeScale(f(amax * INV7), L.scaleDtype);
      else {
        mn = storeMin(lo, L.scaleDtype);
        s = storeScale(f(f(hi - mn) * INV15), L.scaleDtype);
        (mins as Float32Array)[gi] = mn;
      }
      scales[gi] = s;
      for (let k = k0; k < k0 + G; k++) {
        let code: number;
        if (k >= K) code = sym ? 8 : 0;
        else if (sym) code = nearestLevel(w[n * K + k], s, -8, 7) + 8;
        else code = nearestLevel(f(w[n * K + k] - mn), s, 0, 15);
        packed[n * L.words + (k >> 3)] |= code << (4 * (k & 7));
      }
    }
  }
  return { packed, scales, ...(mins ? { mins } : {}), ...pick(L) };
}

function pick(L: Q4Layout) {
  const { N, K, groupSize, scheme, scaleDtype } = L;
  return { N, K, groupSize, scheme, scaleDtype };
}

/** ŵ [N, K] as f32: (q − 8)·scale (exact for f16 scales) or q·scale + min rounded once to f32. */
export function dequantizeQ4Cpu(h: Q4Host): Float32Array {
  const L = q4Layout(h.N, h.K, h);
  const out = new Float32Array(h.N * h.K);
  for (let n = 0; n < h.N; n++) for (let k = 0; k < h.K; k++) out[n * h.K + k] = q4Value(h, L, n, k);
  return out;
}

export interface Q4Error {
  /** root mean square of w − ŵ. */
  rmse: number;
  /** rmse / rms(w). */
  relRmse: number;
  maxAbs: number;
  /** Storage cost: bits per weight, packed + scales (+ mins). */
  bitsPerWeight: number;
}

/** Reconstruction error of quantizing w with these options (to compare schemes and group sizes). */
export function q4Error(w: Float32Array, N: number, K: number, opts: Q4Options = {}): Q4Error {
  const h = quantizeQ4Cpu(w, N, K, opts);
  const r = dequantizeQ4Cpu(h);
  let se = 0;
  let ss = 0;
  let maxAbs = 0;
  for (let i = 0; i < w.length; i++) {
    const e = w[i] - r[i];
    se += e * e;
    ss += w[i] * w[i];
    maxAbs = Math.max(maxAbs, Math.abs(e));
  }
  const L = q4Layout(N, K, opts);
  const scaleBits = (L.scaleDtype === 'f16' ? 16 : 32) * (L.scheme === 'asym' ? 2 : 1);
  return {
    rmse: Math.sqrt(se / w.length),
    relRmse: Math.sqrt(se / ss),
    maxAbs,
    bitsPerWeight: (L.N * (L.Kp * 4 + L.groups * scaleBits)) / (N * K),
  };
}
