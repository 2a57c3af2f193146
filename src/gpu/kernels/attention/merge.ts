import { type GpuContext, grid, wgslTypes } from '../../context';
import { memoShader } from '../../pipeline-cache';
import type { Tensor } from '../../tensor';
import { NEG } from './common';

/**
 * Split-K merge: combines nSplit partial softmax states (acc, m, l) of each row into
 * out = Σ e^(m_s − M)·acc_s / Σ e^(m_s − M)·l_s with M = max m_s. Empty splits carry l = 0 and add
 * nothing; a row with no visible key at all gives 0. One thread per output element.
 */
const WG = 64;

function shader(outType: 'f32' | 'f16', D: number): string {
  return `${wgslTypes({ QT: outType })}
struct P { rows: u32, nSplit: u32 }
@group(0) @binding(0) var<storage, read> pacc: array<f32>;
@group(0) @binding(1) var<storage, read> pml: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<QT>;
@group(0) @binding(3) var<uniform> p: P;
const D = ${D}u;
@compute @workgroup_size(${WG})
fn attention_merge_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let id = gid.x + gid.y * nwg.x * ${WG}u;
  if (id >= p.rows * D) { return; }
  let base = (id / D) * p.nSplit;
  let d = id % D;
  var mx = ${NEG};
  for (var s = 0u; s < p.nSplit; s++) { mx = max(mx, pml[(base + s) * 2u]); }
  var l = 0.0;
  var a = 0.0;
  for (var s = 0u; s < p.nSplit; s++) {
    let w = exp(pml[(base + s) * 2u] - mx);
    l += w * pml[(base + s) * 2u + 1u];
    a += w * pacc[(base + s) * D + d];
  }
  out[id] = QT(select(0.0, a / l, l > 0.0));
}`;
}

/** pacc [rows, nSplit, D], pml [rows, nSplit, 2] → out (shape `shape`, rows·D elements). */
export function mergeSplits(
  ctx: GpuContext,
  pacc: Tensor,
  pml: Tensor,
  shape: readonly number[],
  dtype: 'f32' | 'f16',
): Tensor {
  const [rows, nSplit, D] = pacc.shape;
  const out = ctx.empty(shape, dtype);
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`attention_merge|${dtype}|${D}`, () => shader(dtype, D)),
      'attention_merge_forward',
    ),
    bindings: [pacc, pml, out],
    uniforms: { u32: [rows, nSplit] },
    workgroups: grid(Math.ceil((rows * D) / WG), ctx.maxWorkgroupsPerDim),
    label: 'attention_merge_forward',
  });
  return out;
}
