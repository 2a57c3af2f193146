/**
 * The SigLIP vision tower (src/model/siglip.ts) as the trainer runs it: the same forward up to the
 * feature layer, keeping what the backward needs, and the backward of every tower weight given
 * d(features). For small models trained from scratch (rl:demo's first stage); the real model's tower
 * stays frozen. Letters as the forward's: F frames, P patches a frame, N = F·P tokens, C hidden, H
 * heads, D head dim, I MLP width, K values a patch (3·p²).
 *
 * The trainable tensors are the inference model's own (plain f32): an optimizer step moves the tower
 * the app runs. The pixels are an input and get no gradient.
 */
import type { GpuContext } from '../gpu/context';
import { gelu, geluBackward } from '../gpu/kernels/activations';
import { add, axpy } from '../gpu/kernels/add';
import { attention, attentionBackward } from '../gpu/kernels/attention/attention';
import { layernorm, layernormBackward } from '../gpu/kernels/layernorm';
import { matmul } from '../gpu/kernels/matmul/matmul';
import {
  matmulBackwardBias,
  matmulBackwardInput,
  matmulBackwardWeight,
} from '../gpu/kernels/matmul/matmul-backward';
import { patchify } from '../gpu/kernels/patchify';
import type { Tensor } from '../gpu/tensor';
import type { VisionConfig } from '../model/config';
import { concatRows } from '../model/layers';
import type { TinyLlavaVideo } from '../model/tinyllava';
import { PREFIX } from '../model/weight-manifest';
import { type Param, ScopeParams } from './params';

const LINEARS = [
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.out_proj',
  'mlp.fc1',
  'mlp.fc2',
];

/** Names (under the vision tower's prefix) of every tensor the forward reads, in a fixed order. */
export function visionParamNames(v: Pick<VisionConfig, 'runLayers'>): string[] {
  const names = [
    'embeddings.patch_embedding.weight',
    'embeddings.patch_embedding.bias',
    'embeddings.position_embedding.weight',
  ];
  for (let l = 0; l < v.runLayers; l++) {
    const p = `encoder.layers.${l}.`;
    names.push(...['layer_norm1', 'layer_norm2'].flatMap((n) => [`${p}${n}.weight`, `${p}${n}.bias`]));
    names.push(...LINEARS.flatMap((n) => [`${p}${n}.weight`, `${p}${n}.bias`]));
  }
  return names;
}

/** What one encoder layer's backward needs of its forward. */
interface LayerActs {
  x: Tensor; // [N, C] the layer's input
  h1: Tensor; // layer_norm1(x)
  q: Tensor; // [F, P, H, D]
  k: Tensor;
  v: Tensor;
  a: Tensor; // [N, C] attention output
  x1: Tensor; // x + out_proj(a)
  h2: Tensor; // layer_norm2(x1)
  up: Tensor; // [N, I] fc1(h2)
  act: Tensor; // gelu(up)
}

export class VisionTrainer {
  readonly v: VisionConfig;
  readonly params: Param[];
  private readonly weights: ScopeParams;

  constructor(
    private readonly ctx: GpuContext,
    model: TinyLlavaVideo,
  ) {
    this.v = model.config.vision;
    const w = model.weights.scope(PREFIX.vision);
    this.weights = new ScopeParams(ctx, w, visionParamNames(this.v), 'the vision tower');
    this.params = this.weights.params;
  }

  /** The gradient accumulated for `name` (under the tower's prefix). */
  grad(name: string): Tensor {
    return this.weights.grad(name);
  }

  zeroGrads(): void {
    this.weights.zeroGrads();
  }

  /** pixels [F, 3, S, S] → features [F, P', C], as the model's tower computes them. */
  forward(pixels: Tensor): Tensor {
    return this.ctx.tidy(() => this.select(this.run(pixels).out, pixels.shape[0]));
  }

  /** Adds d(weights) for upstream dFeatures [F, P', C] (f32) to the gradients. */
  backward(pixels: Tensor, dFeatures: Tensor): void {
    const { ctx, v } = this;
    const F = pixels.shape[0];
    const P = v.gridSize * v.gridSize;
    const C = v.hidden;
    ctx.tidy(() => {
      const f = this.run(pixels);
      let dx = this.unselect(dFeatures, F); // [N, C]
      for (let l = v.runLayers - 1; l >= 0; l--) dx = this.layerBackward(l, f.layers[l], dx, F, P);
      // x₀ = patches·Wᵀ + b + pos (pos repeated for every frame)
      const acc = (name: string, d: Tensor) => axpy(ctx, this.weights.grad(name), d, 1);
      acc(
        'embeddings.patch_embedding.weight',
        matmulBackwardWeight(ctx, dx, f.patches).view([C, 3, v.patchSize, v.patchSize]),
      );
      acc('embeddings.patch_embedding.bias', matmulBackwardBias(ctx, dx));
      acc('embeddings.position_embedding.weight', matmulBackwardBias(ctx, dx.view([F, P * C])).view([P, C]));
    });
  }

  private w(name: string): Tensor {
    return this.weights.weight(name);
  }

  /** The forward with every layer's activations: out [N, C] is the feature layer's output. */
  private run(pixels: Tensor): { patches: Tensor; layers: LayerActs[]; out: Tensor } {
    const { ctx, v } = this;
    const F = pixels.shape[0];
    const P = v.gridSize * v.gridSize;
    const C = v.hidden;
    const H = v.heads;
    const D = C / H;
    const K = 3 * v.patchSize * v.patchSize;
    const lin = (x: Tensor, name: string) => matmul(ctx, x, this.w(`${name}.weight`), this.w(`${name}.bias`));
    const ln = (x: Tensor, name: string) =>
      layernorm(ctx, x, this.w(`${name}.weight`), this.w(`${name}.bias`), v.eps);
    const patches = patchify(ctx, pixels, v.patchSize).view([F * P, K]);
    const e = matmul(
      ctx,
      patches,
      this.w('embeddings.patch_embedding.weight').view([C, K]),
      this.w('embeddings.patch_embedding.bias'),
    );
    let x = add(ctx, e, concatRows(ctx, Array(F).fill(this.w('embeddings.position_embedding.weight'))));
    const layers: LayerActs[] = [];
    for (let l = 0; l < v.runLayers; l++) {
      const p = `encoder.layers.${l}.`;
      const h1 = ln(x, `${p}layer_norm1`);
      const q = lin(h1, `${p}self_attn.q_proj`).view([F, P, H, D]);
      const k = lin(h1, `${p}self_attn.k_proj`).view([F, P, H, D]);
      const vv = lin(h1, `${p}self_attn.v_proj`).view([F, P, H, D]);
      const a = attention(ctx, q, k, vv, { causal: false, scale: 1 / Math.sqrt(D) }).view([F * P, C]);
      const x1 = add(ctx, x, lin(a, `${p}self_attn.out_proj`));
      const h2 = ln(x1, `${p}layer_norm2`);
      const up = lin(h2, `${p}mlp.fc1`);
      const act = gelu(ctx, up, 'tanh');
      layers.push({ x, h1, q, k, v: vv, a, x1, h2, up, act });
      x = add(ctx, x1, lin(act, `${p}mlp.fc2`));
    }
    return { patches, layers, out: x };
  }

  /** One encoder layer in reverse: d(its output) [N, C] → d(its input), adding the weights' gradients. */
  private layerBackward(l: number, L: LayerActs, dOut: Tensor, F: number, P: number): Tensor {
    const { ctx, v } = this;
    const C = v.hidden;
    const H = v.heads;
    const D = C / H;
    const p = `encoder.layers.${l}.`;
    const acc = (name: string, d: Tensor) => axpy(ctx, this.weights.grad(name), d, 1);
    /** y = x·Wᵀ + b: adds dW, db; returns dX. */
    const linBack = (dy: Tensor, x: Tensor, name: string) => {
      acc(`${p}${name}.weight`, matmulBackwardWeight(ctx, dy, x));
      acc(`${p}${name}.bias`, matmulBackwardBias(ctx, dy));
      return matmulBackwardInput(ctx, dy, this.w(`${p}${name}.weight`));
    };
    const lnBack = (dy: Tensor, x: Tensor, name: string) => {
      const r = layernormBackward(ctx, dy, x, this.w(`${p}${name}.weight`), v.eps);
      acc(`${p}${name}.weight`, r.dW);
      acc(`${p}${name}.bias`, r.dB);
      return r.dX;
    };
    // out = x1 + fc2(gelu(fc1(layer_norm2(x1))))
    const dUp = geluBackward(ctx, linBack(dOut, L.act, 'mlp.fc2'), L.up, 'tanh');
    const dx1 = add(ctx, dOut, lnBack(linBack(dUp, L.h2, 'mlp.fc1'), L.x1, 'layer_norm2'));
    // x1 = x + out_proj(attention(q, k, v of layer_norm1(x)))
    const da = linBack(dx1, L.a, 'self_attn.out_proj').view([F, P, H, D]);
    const g = attentionBackward(ctx, da, L.q, L.k, L.v, { causal: false, scale: 1 / Math.sqrt(D) });
    const dh1 = linBack(g.dQ.view([F * P, C]), L.h1, 'self_attn.q_proj');
    axpy(ctx, dh1, linBack(g.dK.view([F * P, C]), L.h1, 'self_attn.k_proj'), 1);
    axpy(ctx, dh1, linBack(g.dV.view([F * P, C]), L.h1, 'self_attn.v_proj'), 1);
    return add(ctx, dx1, lnBack(dh1, L.x, 'layer_norm1'));
  }

  /** out [F·P, C] → features: every frame's tokens minus the first (upstream quirk), or all. */
  private select(out: Tensor, F: number): Tensor {
    const { ctx, v } = this;
    const P = v.gridSize * v.gridSize;
    const C = v.hidden;
    if (v.selectStrategy === 'cls_patch') return out.view([F, P, C]);
    const e = out.byteLength / out.size;
    const feats = ctx.empty([F, P - 1, C], out.dtype);
    for (let f = 0; f < F; f++)
      ctx.copyRegion(out, (f * P + 1) * C * e, feats, f * (P - 1) * C * e, (P - 1) * C * e);
    return feats;
  }

  /** dFeatures [F, P', C] → d(out) [F·P, C], zero on the tokens select() dropped. */
  private unselect(dFeatures: Tensor, F: number): Tensor {
    const { ctx, v } = this;
    const P = v.gridSize * v.gridSize;
    const C = v.hidden;
    if (v.selectStrategy === 'cls_patch') return dFeatures.view([F * P, C]);
    const dOut = ctx.upload(new Float32Array(F * P * C), [F * P, C], 'f32'); // the dropped rows stay 0
    for (let f = 0; f < F; f++)
      ctx.copyRegion(dFeatures, f * (P - 1) * C * 4, dOut, (f * P + 1) * C * 4, (P - 1) * C * 4);
    return dOut;
  }

  destroy(): void {
    this.weights.destroy();
  }
}
