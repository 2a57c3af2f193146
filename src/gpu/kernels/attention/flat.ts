import { header, NEG, type ShaderConfig } from './common';

/**
 * 'flat' attention for software adapters: no barriers, no shared memory. One thread per
 * (query row, head, split) walks its keys with an online softmax; the accumulators are rescaled only
 * when the running max grows. Threads are ordered query-fastest, so neighbouring SIMD lanes read the
 * same K/V row (or, in decode, the heads of one GQA group do). When D is a multiple of 4 the shader
 * keeps q and the accumulators in D/4 named vec4 registers instead of private arrays indexed in loops:
 * about 2× faster on SwiftShader (Chromium's fallback adapter), about even on lavapipe.
 */
export const FLAT_WG = 64;

export function flatShader(c: ShaderConfig): string {
  return c.D % 4 === 0 ? unrolledShader(c) : loopShader(c);
}

const PROLOGUE = `@compute @workgroup_size(${FLAT_WG})
fn attention_forward_flat(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let id = gid.x + gid.y * nwg.x * ${FLAT_WG}u;
  if (id >= p.B * p.T * p.Hq * p.nSplit) { return; }
  let i = id % p.T;
  let h = (id / p.T) % p.Hq;
  let s = (id / (p.T * p.Hq)) % p.nSplit;
  let b = id / (p.T * p.Hq * p.nSplit);
  let row = (b * p.T + i) * p.Hq + h;
  let kh = h / (p.Hq / p.Hkv);
  let j0 = s * p.chunk;
  let j1 = min(keyEnd(b, i), j0 + p.chunk);
  var m = ${NEG};
  var l = 0.0;`;

function unrolledShader(c: ShaderConfig): string {
  const R = Array.from({ length: c.D / 4 }, (_, r) => r);
  const ld = (buf: string, base: string, r: number) =>
    `vec4f(f32(${buf}[${base} + ${4 * r}u]), f32(${buf}[${base} + ${4 * r + 1}u]), f32(${buf}[${base} + ${4 * r + 2}u]), f32(${buf}[${base} + ${4 * r + 3}u]))`;
  const each = (f: (r: number) => string) => R.map(f).join('\n    ');
  return `${header(c)}
${PROLOGUE}
  let qb = row * D;
  ${R.map((r) => `let q${r} = ${ld('q', 'qb', r)} * p.scale;\n  var a${r} = vec4f(0.0);`).join('\n  ')}
  for (var j = j0; j < j1; j++) {
    let kb = ((b * p.S + j) * p.Hkv + kh) * D;
    var sc = 0.0;
    ${each((r) => `sc += dot(q${r}, ${ld('k', 'kb', r)});`)}
    if (sc > m) {
      let corr = exp(m - sc);
      l *= corr;
      ${R.map((r) => `a${r} *= corr;`).join(' ')}
      m = sc;
    }
    let w = exp(sc - m);
    l += w;
    ${each((r) => `a${r} += w * ${ld('v', 'kb', r)};`)}
  }
  ${R.map((r) => [0, 1, 2, 3].map((e) => `emit(row, s, ${4 * r + e}u, a${r}[${e}], m, l);`).join(' ')).join('\n  ')}
}`;
}

function loopShader(c: ShaderConfig): string {
  return `${header(c)}
${PROLOGUE}
  var qv: array<f32, D>;
  var acc: array<f32, D>;
  for (var d = 0u; d < D; d++) {
    qv[d] = f32(q[row * D + d]) * p.scale;
    acc[d] = 0.0;
  }
  for (var j = j0; j < j1; j++) {
    let kb = ((b * p.S + j) * p.Hkv + kh) * D;
    var sc = 0.0;
    for (var d = 0u; d < D; d++) { sc += qv[d] * f32(k[kb + d]); }
    if (sc > m) {
      let corr = exp(m - sc);
      l *= corr;
      for (var d = 0u; d < D; d++) { acc[d] *= corr; }
      m = sc;
    }
    let w = exp(sc - m);
    l += w;
    for (var d = 0u; d < D; d++) { acc[d] += w * f32(v[kb + d]); }
  }
  for (var d = 0u; d < D; d++) { emit(row, s, d, acc[d], m, l); }
}`;
}
