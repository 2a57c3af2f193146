import { header, NEG, type ShaderConfig } from './common';

/**
 * 'flat' attention for software adapters: no barriers, no shared memory. One thread per
 * (query row, head, split) walks its keys with an online softmax, holding q and the D accumulators
 * in private arrays. The rescale of the accumulators happens only when the running max grows.
 */
export const FLAT_WG = 64;

export function flatShader(c: ShaderConfig): string {
  return `${header(c)}
@compute @workgroup_size(${FLAT_WG})
fn attention_forward_flat(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let id = gid.x + gid.y * nwg.x * ${FLAT_WG}u;
  if (id >= p.B * p.T * p.Hq * p.nSplit) { return; }
  let row = id / p.nSplit;
  let s = id % p.nSplit;
  let h = row % p.Hq;
  let i = (row / p.Hq) % p.T;
  let b = row / (p.Hq * p.T);
  let kh = h / (p.Hq / p.Hkv);
  let j0 = s * p.chunk;
  let j1 = min(keyEnd(b, i), j0 + p.chunk);

  var qv: array<f32, D>;
  var acc: array<f32, D>;
  for (var d = 0u; d < D; d++) {
    qv[d] = f32(q[row * D + d]) * p.scale;
    acc[d] = 0.0;
  }
  var m = ${NEG};
  var l = 0.0;
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
