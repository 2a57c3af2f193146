import { type GpuContext, grid } from '../../context';
import { assertDtype, assertShape, type Tensor } from '../../tensor';
import {
  f32Bits,
  INV7,
  INV15,
  layoutOf,
  type Q4Layout,
  type Q4Options,
  type QTensor,
  q4Layout,
  SCALE_MAX,
  SCALE_MIN,
} from './format';

/**
 * Quantizes a Linear weight W [N, K] (f32, or f16 read as u32 pairs so no shader-f16 is needed) into Q4 on
 * the GPU, at load time. Bit-identical to quantizeQ4Cpu (quantize-cpu.ts), whose comment gives
 * the arithmetic. One thread per pair of consecutive groups (flat index over [N, nG]), so f16 scales are
 * written as whole u32 words without atomics. Barrier-free: the same kernel serves every adapter.
 */
const WG = 64;

const bits = (x: number) => `bitcast<f32>(${f32Bits(x)}u)`;

function shader(input: 'f32' | 'f16', L: Q4Layout): string {
  const sym = L.scheme === 'sym';
  const f16s = L.scaleDtype === 'f16';
  const st = f16s ? 'u32' : 'f32';
  return `
struct P { N: u32, K: u32, NG: u32, WPR: u32, G: u32, R0: u32 }
@group(0) @binding(0) var<storage, read> w: array<${input === 'f32' ? 'f32' : 'u32'}>;
@group(0) @binding(1) var<storage, read_write> packed: array<u32>;
@group(0) @binding(2) var<storage, read_write> sc: array<${st}>;
${sym ? '' : `@group(0) @binding(3) var<storage, read_write> mn: array<${st}>;`}
@group(0) @binding(${sym ? 3 : 4}) var<uniform> p: P;

fn ld(e: u32) -> f32 {
  ${input === 'f32' ? 'return w[e];' : 'return unpack2x16float(w[e >> 1u])[e & 1u];'}
}

// f32 → f16 bits, round to nearest even; v is 0 or a normal f16 magnitude (the callers clamp).
fn f16bits(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) == 0u) { return 0u; }
  var h = ((((b >> 23u) & 0xffu) - 112u) << 10u) | ((b >> 13u) & 0x3ffu);
  let rem = b & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) == 1u)) { h += 1u; }
  return ((b >> 16u) & 0x8000u) | h;
}
// f16 bits → f32, exact (normal or zero).
fn f16val(h: u32) -> f32 {
  if ((h & 0x7fffu) == 0u) { return 0.0; }
  return bitcast<f32>(((h & 0x8000u) << 16u) | ((((h >> 10u) & 0x1fu) + 112u) << 23u) | ((h & 0x3ffu) << 13u));
}
fn scaleBits(v: f32) -> u32 {
  let c = clamp(v, ${bits(SCALE_MIN)}, ${bits(SCALE_MAX)});
  return ${f16s ? 'f16bits(c)' : 'bitcast<u32>(c)'};
}
fn minBits(v: f32) -> u32 {
  ${f16s ? `if (abs(v) < ${bits(SCALE_MIN)}) { return 0u; }\n  return f16bits(clamp(v, -${bits(SCALE_MAX)}, ${bits(SCALE_MAX)}));` : 'return bitcast<u32>(v);'}
}
fn val(b: u32) -> f32 { return ${f16s ? 'f16val(b)' : 'bitcast<f32>(b)'}; }

// Nearest level to t in steps of s, ties up: the division only guesses; exact compares decide.
fn level(t: f32, s: f32, lo: f32, hi: f32) -> u32 {
  var q = round(t / s);
  if (t >= (q + 0.5) * s) { q += 1.0; } else if (t < (q - 0.5) * s) { q -= 1.0; }
  return u32(clamp(q, lo, hi) - lo);
}

@compute @workgroup_size(${WG})
fn quantize_q4_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let pair = gid.y * nw.x * ${WG}u + gid.x;
  let total = p.N * p.NG;
  if (2u * pair >= total) { return; }
  var sbits = vec2<u32>();
  var mbits = vec2<u32>();
  for (var j = 0u; j < 2u; j++) {
    let gi = 2u * pair + j;
    if (gi >= total) { break; }
    let n = gi / p.NG;
    let k0 = (gi % p.NG) * p.G;
    let k1 = min(k0 + p.G, p.K);
    let base = n * p.K;
    var lo = ld(base + k0);
    var hi = lo;
    for (var k = k0 + 1u; k < k1; k++) { let v = ld(base + k); lo = min(lo, v); hi = max(hi, v); }
    ${
      sym
        ? `let sb = scaleBits(max(abs(lo), abs(hi)) * ${bits(INV7)});
    let s = val(sb);
    let off = 0.0;`
        : `let mb = minBits(lo);
    let off = val(mb);
    let sb = scaleBits((hi - off) * ${bits(INV15)});
    let s = val(sb);
    mbits[j] = mb;`
    }
    sbits[j] = sb;
    for (var wi = 0u; wi < p.G / 8u; wi++) {
      var word = 0u;
      for (var i = 0u; i < 8u; i++) {
        let k = k0 + wi * 8u + i;
        var code = ${sym ? '8u' : '0u'};
        if (k < p.K) { code = level(ld(base + k) - off, s, ${sym ? '-8.0, 7.0' : '0.0, 15.0'}); }
        word |= code << (4u * i);
      }
      packed[(p.R0 + n) * p.WPR + k0 / 8u + wi] = word;
    }
  }
  ${
    f16s
      ? `sc[p.R0 * p.NG / 2u + pair] = sbits.x | (sbits.y << 16u);
  ${sym ? '' : 'mn[p.R0 * p.NG / 2u + pair] = mbits.x | (mbits.y << 16u);'}`
      : `for (var j = 0u; j < 2u && 2u * pair + j < total; j++) {
    sc[p.R0 * p.NG + 2u * pair + j] = bitcast<f32>(sbits[j]);
    ${sym ? '' : 'mn[p.R0 * p.NG + 2u * pair + j] = bitcast<f32>(mbits[j]);'}
  }`
  }
}`;
}

/** W [N, K] f32|f16 → Q4 (format.ts). Records the dispatch; W can be released afterwards. */
export function quantizeQ4(ctx: GpuContext, w: Tensor, opts: Q4Options = {}): QTensor {
  if (w.shape.length !== 2) throw new Error(`quantizeQ4.w: expected [N, K], got [${w.shape.join(', ')}]`);
  const q = emptyQ4(ctx, w.shape[0], w.shape[1], opts);
  quantizeQ4Into(ctx, w, q, 0);
  return q;
}

/** An uninitialised Q4 weight of W [N, K], to be filled by quantizeQ4Into in row blocks. */
export function emptyQ4(ctx: GpuContext, N: number, K: number, opts: Q4Options = {}): QTensor {
  const L = q4Layout(N, K, opts);
  const packed = ctx.empty([N, L.words], 'u32', 'q4.packed');
  const scales = ctx.empty([N, L.groups], L.scaleDtype, 'q4.scales');
  const mins = L.scheme === 'asym' ? ctx.empty([N, L.groups], L.scaleDtype, 'q4.mins') : undefined;
  return { packed, scales, ...(mins ? { mins } : {}), N, K, groupSize: L.groupSize, scheme: L.scheme };
}

/**
 * Quantizes rows W[row0 … row0 + n) given as w [n, K] into q, so a weight too big to upload whole (e.g.
 * more than a storage binding's limit in f32) can be quantized block by block. With f16 scales,
 * row0 · groups must be even (scales are written in u32 pairs).
 */
export function quantizeQ4Into(ctx: GpuContext, w: Tensor, q: QTensor, row0: number): void {
  assertDtype('quantizeQ4.w', w, 'f32', 'f16');
  const L = layoutOf(q);
  assertShape('quantizeQ4.w', w, [undefined, L.K]);
  const n = w.shape[0];
  if (!(Number.isInteger(row0) && row0 >= 0 && row0 + n <= L.N))
    throw new Error(`quantizeQ4Into: rows ${row0}…${row0 + n} outside [0, ${L.N})`);
  if (L.scaleDtype === 'f16' && (row0 * L.groups) % 2)
    throw new Error(`quantizeQ4Into: row0 · groups (${row0} · ${L.groups}) must be even with f16 scales`);
  if (n === 0) return;
  const entry = 'quantize_q4_forward';
  ctx.dispatch({
    pipeline: ctx.pipeline(shader(w.dtype as 'f32' | 'f16', L), entry),
    bindings: [w, q.packed, q.scales, ...(q.mins ? [q.mins] : [])],
    uniforms: { u32: [n, L.K, L.groups, L.words, L.groupSize, row0] },
    workgroups: grid(Math.ceil(Math.ceil((n * L.groups) / 2) / WG), ctx.maxWorkgroupsPerDim),
    label: entry,
  });
}
