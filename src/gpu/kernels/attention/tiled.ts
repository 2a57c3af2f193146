import { header, NEG, type ShaderConfig } from './common';

/**
 * 'tiled' attention for real GPUs (flash-attention style). A workgroup owns BR query rows of one
 * (sequence, kv head): rows are the flattened (query i, head within the GQA group) pairs, so the heads
 * sharing a kv head share every K/V tile. Per tile of BC keys:
 *   1. load K[BC, D] into shared memory (row stride D+1 so score reads do not bank-conflict);
 *   2. scores S[BR, BC] = q·k, spread over all threads;
 *   3. per row: new running max, weights exp(s − m), correction of the old state;
 *   4. load V into the same shared buffer;
 *   5. acc[BR, D] = acc·corr + P·V, each thread owning NACC = BR·D / WG outputs in registers.
 * Shared memory is f32 whatever the input dtype; tile sizes shrink to fit the adapter's limit.
 */
export const TILED_WG = 128;

export interface Tile {
  BR: number;
  BC: number;
}

export function sharedBytes(D: number, t: Tile): number {
  return 4 * (t.BR * D + t.BC * (D + 1) + t.BR * t.BC + 4 * t.BR + 1);
}

/** Largest tile that fits `limit` bytes of workgroup memory; BR shrinks when there are few rows. */
export function chooseTile(D: number, rows: number, limit: number): Tile {
  const candidates: Tile[] = [
    { BR: 16, BC: 32 },
    { BR: 16, BC: 16 },
    { BR: 8, BC: 16 },
    { BR: 8, BC: 8 },
    { BR: 4, BC: 8 },
  ];
  const maxBR = Math.max(4, 2 ** Math.ceil(Math.log2(Math.max(1, rows))));
  for (const c of candidates) {
    const t = { BR: Math.min(c.BR, maxBR), BC: c.BC };
    if (sharedBytes(D, t) <= limit) return t;
  }
  throw new Error(`attention: D=${D} does not fit ${limit} bytes of workgroup memory`);
}

export function tiledShader(c: ShaderConfig, t: Tile): string {
  const { D } = c;
  const { BR, BC } = t;
  const WG = TILED_WG;
  const NACC = Math.ceil((BR * D) / WG);
  const loadTile = (src: 'k' | 'v') => `
    for (var e = lid; e < BC * D; e += WG) {
      let c = e / D;
      let j = t0 + c;
      var val = 0.0;
      if (j < jEnd) { val = f32(${src}[((b * p.S + j) * p.Hkv + kh) * D + e % D]); }
      kvs[c * KP + e % D] = val;
    }
    workgroupBarrier();`;
  return `${header(c)}
const BR = ${BR}u;
const BC = ${BC}u;
const WG = ${WG}u;
const KP = D + 1u;
var<workgroup> qs: array<f32, ${BR * D}>;
var<workgroup> kvs: array<f32, ${BC * (D + 1)}>;
var<workgroup> ss: array<f32, ${BR * BC}>;
var<workgroup> rowM: array<f32, ${BR}>;
var<workgroup> rowL: array<f32, ${BR}>;
var<workgroup> rowC: array<f32, ${BR}>;
var<workgroup> rowEnd: array<u32, ${BR}>;
var<workgroup> tileEnd: u32;

@compute @workgroup_size(${WG})
fn attention_forward_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let G = p.Hq / p.Hkv;
  let nRows = p.T * G;
  let r0 = wg.x * BR;
  let b = wg.y / p.Hkv;
  let kh = wg.y % p.Hkv;
  let s = wg.z;
  let j0 = s * p.chunk;
  let j1 = j0 + p.chunk;

  for (var e = lid; e < BR * D; e += WG) {
    let rr = r0 + e / D;
    var val = 0.0;
    if (rr < nRows) {
      let h = kh * G + rr % G;
      val = f32(q[((b * p.T + rr / G) * p.Hq + h) * D + e % D]) * p.scale;
    }
    qs[e] = val;
  }
  if (lid < BR) {
    let rr = r0 + lid;
    var end = j0;
    if (rr < nRows) { end = max(j0, min(keyEnd(b, rr / G), j1)); }
    rowEnd[lid] = end;
    rowM[lid] = ${NEG};
    rowL[lid] = 0.0;
  }
  if (lid == 0u) {
    // Later rows see at least as many keys, so the last row bounds the tile loop.
    let last = min(r0 + BR, nRows) - 1u;
    tileEnd = max(j0, min(keyEnd(b, last / G), j1));
  }
  let jEnd = workgroupUniformLoad(&tileEnd);

  var acc: array<f32, ${NACC}>;
  for (var a = 0u; a < ${NACC}u; a++) { acc[a] = 0.0; }
  for (var t0 = j0; t0 < jEnd; t0 += BC) {
    ${loadTile('k')}
    for (var e = lid; e < BR * BC; e += WG) {
      let r = e / BC;
      let c = e % BC;
      var sc = 0.0;
      for (var d = 0u; d < D; d++) { sc += qs[r * D + d] * kvs[c * KP + d]; }
      ss[e] = sc;
    }
    workgroupBarrier();
    if (lid < BR) {
      let end = rowEnd[lid];
      let n = select(0u, min(BC, end - t0), end > t0);
      let mOld = rowM[lid];
      var mx = mOld;
      for (var c = 0u; c < n; c++) { mx = max(mx, ss[lid * BC + c]); }
      let corr = exp(mOld - mx);
      var sum = 0.0;
      for (var c = 0u; c < BC; c++) {
        let w = select(0.0, exp(ss[lid * BC + c] - mx), c < n);
        ss[lid * BC + c] = w;
        sum += w;
      }
      rowM[lid] = mx;
      rowL[lid] = rowL[lid] * corr + sum;
      rowC[lid] = corr;
    }
    workgroupBarrier();
    ${loadTile('v')}
    for (var a = 0u; a < ${NACC}u; a++) {
      let o = lid + a * WG;
      if (o < BR * D) {
        let r = o / D;
        let d = o % D;
        var sum = acc[a] * rowC[r];
        for (var c = 0u; c < BC; c++) { sum += ss[r * BC + c] * kvs[c * KP + d]; }
        acc[a] = sum;
      }
    }
    workgroupBarrier();
  }

  for (var a = 0u; a < ${NACC}u; a++) {
    let o = lid + a * WG;
    let r = o / D;
    let rr = r0 + r;
    if (o < BR * D && rr < nRows) {
      let row = (b * p.T + rr / G) * p.Hq + kh * G + rr % G;
      emit(row, s, o % D, acc[a], rowM[r], rowL[r]);
    }
  }
}`;
}
