import { wgslTypes } from '../../context';

/**
 * What the attention shaders share: the bindings, the parameter struct, which keys a query row sees,
 * and how a row's result is written (normalised, or as a partial softmax state for split-K).
 *
 * Layouts: q and out [B, T, Hq, D]; k and v [B, S, Hkv, D] (S = rows per sequence in the buffer,
 * which for a KV cache is Smax); partial states pacc [B, T, Hq, nSplit, D] and pml [B, T, Hq, nSplit, 2]
 * (running max m and denominator l), all f32.
 */
export interface ShaderConfig {
  qType: 'f32' | 'f16';
  kvType: 'f32' | 'f16';
  D: number;
  /** Keys per sequence come from a u32 [B] buffer (KV cache lengths) instead of the uniform nKeys. */
  perSeqLengths: boolean;
  /** Write (acc, m, l) per split for the merge pass instead of the normalised output. */
  partial: boolean;
}

/** Uniform u32 fields in order (then one f32: scale). */
export const PARAM_FIELDS = [
  'B',
  'T',
  'S',
  'Hq',
  'Hkv',
  'nKeys',
  'qOffset',
  'causal',
  'nSplit',
  'chunk',
] as const;

/** Start value of the running max: finite so that (m − s) never becomes inf − inf. */
export const NEG = '-3.0e38';

export function header(c: ShaderConfig): string {
  let n = 3;
  const extra: string[] = [];
  if (c.perSeqLengths) extra.push(`@group(0) @binding(${n++}) var<storage, read> lens: array<u32>;`);
  if (c.partial) {
    extra.push(`@group(0) @binding(${n++}) var<storage, read_write> pacc: array<f32>;`);
    extra.push(`@group(0) @binding(${n++}) var<storage, read_write> pml: array<f32>;`);
  } else {
    extra.push(`@group(0) @binding(${n++}) var<storage, read_write> out: array<QT>;`);
  }
  const keyCount = c.perSeqLengths ? 'min(lens[b], p.S)' : 'p.nKeys';
  // With per-sequence lengths the T queries are the last T positions of the sequence.
  const qOff = c.perSeqLengths ? 'i32(keyCount(b)) - i32(p.T)' : 'i32(p.qOffset)';
  const emit = c.partial
    ? `let ps = row * p.nSplit + s;
  pacc[ps * D + d] = a;
  if (d == 0u) { pml[ps * 2u] = m; pml[ps * 2u + 1u] = l; }`
    : `out[row * D + d] = QT(select(0.0, a / l, l > 0.0));`;
  return `${wgslTypes({ QT: c.qType, KT: c.kvType })}
struct P { ${PARAM_FIELDS.map((f) => `${f}: u32`).join(', ')}, scale: f32 }
@group(0) @binding(0) var<storage, read> q: array<QT>;
@group(0) @binding(1) var<storage, read> k: array<KT>;
@group(0) @binding(2) var<storage, read> v: array<KT>;
${extra.join('\n')}
@group(0) @binding(${n}) var<uniform> p: P;
const D = ${c.D}u;

fn keyCount(b: u32) -> u32 { return ${keyCount}; }

// Keys [0, keyEnd) are visible to query i of sequence b (causal: key j iff j <= qOffset + i).
fn keyEnd(b: u32, i: u32) -> u32 {
  let n = keyCount(b);
  if (p.causal == 0u) { return n; }
  return u32(clamp(${qOff} + i32(i) + 1, 0, i32(n)));
}

// row = (b·T + i)·Hq + h; s = split index; a = unnormalised accumulator of dim d.
fn emit(row: u32, s: u32, d: u32, a: f32, m: f32, l: f32) {
  ${emit}
}
`;
}
