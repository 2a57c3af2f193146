import { type GpuContext, grid, wgslTypes } from '../../context';
import { memoShader } from '../../pipeline-cache';
import type { Tensor } from '../../tensor';
import { layoutOf, type QTensor } from './format';

/**
 * ŵ [N, K] of a Q4 weight (format.ts) as a plain f32 or f16 tensor: training's temporary copy of one
 * frozen projection (dX through it, or base + s·B·A merged and quantized again). One thread per output
 * element, barrier-free; the same arithmetic as dequantizeQ4Cpu (quantize-cpu.ts), f16 output rounded
 * once. Entry point dequantize_q4.
 */
const WG = 64;

function shader(out: 'f32' | 'f16', scheme: 'sym' | 'asym', scale: 'f16' | 'f32'): string {
  const st = scale === 'f16' ? 'u32' : 'f32';
  const rd = (arr: string, i: string) =>
    scale === 'f16' ? `unpack2x16float(${arr}[${i} >> 1u])[${i} & 1u]` : `${arr}[${i}]`;
  const bufs = [
    'var<storage, read> wq: array<u32>;',
    `var<storage, read> sc: array<${st}>;`,
    ...(scheme === 'asym' ? [`var<storage, read> mn: array<${st}>;`] : []),
    'var<storage, read_write> w: array<OT>;',
    'var<uniform> p: P;',
  ];
  const value = scheme === 'sym' ? `(q - 8.0) * ${rd('sc', 'g')}` : `q * ${rd('sc', 'g')} + ${rd('mn', 'g')}`;
  return `${wgslTypes({ OT: out })}
struct P { N: u32, K: u32, words: u32, groups: u32, G: u32 }
${bufs.map((v, k) => `@group(0) @binding(${k}) ${v}`).join('\n')}

@compute @workgroup_size(${WG})
fn dequantize_q4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.y * nw.x * ${WG}u + gid.x;
  if (i >= p.N * p.K) { return; }
  let n = i / p.K;
  let k = i % p.K;
  let q = f32((wq[n * p.words + (k >> 3u)] >> (4u * (k & 7u))) & 15u);
  let g = n * p.groups + k / p.G;
  w[i] = OT(${value});
}`;
}

/** Q4 weight [N, K] → ŵ [N, K] in `dtype` (f16 needs shader-f16). */
export function dequantizeQ4(ctx: GpuContext, q: QTensor, dtype: 'f32' | 'f16' = 'f32'): Tensor {
  const L = layoutOf(q);
  if (dtype === 'f16' && !ctx.summary.f16)
    throw new Error('dequantize_q4: f16 output needs the shader-f16 feature, which this adapter lacks');
  const w = ctx.empty([L.N, L.K], dtype);
  const entry = 'dequantize_q4';
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`${entry}|${dtype}|${L.scheme}|${L.scaleDtype}`, () =>
        shader(dtype, L.scheme, L.scaleDtype),
      ),
      entry,
    ),
    bindings: [q.packed, q.scales, ...(q.mins ? [q.mins] : []), w],
    uniforms: { u32: [L.N, L.K, L.words, L.groups, L.groupSize] },
    workgroups: grid(Math.ceil(w.size / WG), ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  return w;
}
