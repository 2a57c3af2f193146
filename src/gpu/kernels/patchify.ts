import { type GpuContext, grid, wgslTypes } from '../context';
import type { Tensor } from '../tensor';

/**
 * im2col for a stride = kernel convolution (SigLIP's patch embedding): pixels [F, 3, S, S] →
 * patches [F, P, 3·p·p] with P = ⌊S/p⌋² (like the convolution, the last S mod p pixels are unused:
 * 384 px with p = 14 gives 27×27), each row ordered (channel, ky, kx) like a PyTorch Conv2d
 * weight [C, 3, p, p] flattened, so the convolution becomes matmul(patches, weight.view([C, 3·p·p])).
 * Pure data movement: one thread per output element, no variants.
 */
const WG = 256;

function shader(dtype: Tensor['dtype']): string {
  return `${wgslTypes({ T: dtype })}
struct P { F: u32, S: u32, p: u32, n: u32 }
@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> u: P;
@compute @workgroup_size(${WG})
fn patchify_forward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = g.x + g.y * nw.x * ${WG}u;
  if (i >= u.n) { return; }
  let pp = u.p * u.p;
  let row = 3u * pp;
  let side = u.S / u.p; // integer division: remainder pixels are dropped
  let k = i % row;          // position inside the patch row
  let pi = (i / row) % (side * side);
  let f = i / (row * side * side);
  let c = k / pp;
  let ky = (k % pp) / u.p;
  let kx = k % u.p;
  let py = pi / side;
  let px = pi % side;
  let src = ((f * 3u + c) * u.S + py * u.p + ky) * u.S + px * u.p + kx;
  y[i] = x[src];
}`;
}

export function patchify(ctx: GpuContext, x: Tensor, patch: number): Tensor {
  const [F, C, S, S2] = x.shape;
  if (x.shape.length !== 4 || C !== 3 || S !== S2 || S < patch) {
    throw new Error(`patchify: expected [F, 3, S, S] with S ≥ ${patch}, got [${x.shape}]`);
  }
  const side = Math.floor(S / patch);
  const y = ctx.empty([F, side * side, 3 * patch * patch], x.dtype);
  ctx.dispatch({
    pipeline: ctx.pipeline(shader(x.dtype), 'patchify_forward'),
    bindings: [x, y],
    uniforms: { u32: [F, S, patch, y.size] },
    workgroups: grid(Math.ceil(y.size / WG)),
    label: 'patchify_forward',
  });
  return y;
}

/** CPU reference. */
export function patchifyCpu(x: Float32Array, F: number, S: number, p: number): Float32Array {
  const side = Math.floor(S / p);
  const y = new Float32Array(F * side * side * 3 * p * p);
  let o = 0;
  for (let f = 0; f < F; f++)
    for (let py = 0; py < side; py++)
      for (let px = 0; px < side; px++)
        for (let c = 0; c < 3; c++)
          for (let ky = 0; ky < p; ky++)
            for (let kx = 0; kx < p; kx++) y[o++] = x[((f * 3 + c) * S + py * p + ky) * S + px * p + kx];
  return y;
}
