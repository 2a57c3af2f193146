/**
 * A LoRA adapter in the form the decoder applies unmerged (model/qwen2.ts DecoderAdapter), for rollouts
 * over a 4-bit base: merging into 4-bit weights would re-quantize them and round small updates away.
 * The fused projections get one pair each: A = [A_q; A_k; A_v] [3r, C] and B block-structured
 * [q+k+v rows, 3r] (B_q in the q rows' first r columns, zeros elsewhere; likewise gate/up), so
 * (h·Aᵀ)·Bᵀ = the three adapters' outputs side by side. Every tensor is a copy the caller owns.
 */
import type { GpuContext } from '../gpu/context';
import { copy } from '../gpu/kernels/copy';
import { transpose } from '../gpu/kernels/transpose';
import type { Tensor } from '../gpu/tensor';
import type { TextConfig } from '../model/config';
import type { DecoderAdapter, DecoderLoraPair } from '../model/qwen2';
import type { LoraAdapter, LoraPair, LoraTarget } from './lora';

/** Every tensor of an adapter built by decoderAdapter (to release them). */
export function adapterTensors(a: DecoderAdapter): Tensor[] {
  return a.layers.flatMap((l) => Object.values(l).flatMap((p) => (p ? [p.A, p.B] : [])));
}

export function decoderAdapter(ctx: GpuContext, cfg: TextConfig, lora: LoraAdapter): DecoderAdapter {
  const { heads: H, kvHeads: Hkv, headDim: D, mlp: I, hidden: C } = cfg;
  const r = lora.config.r;
  const fused = (pairs: (LoraPair | undefined)[], rows: number[]): DecoderLoraPair | undefined => {
    if (!pairs.some(Boolean)) return undefined;
    const k = pairs.length;
    const N = rows.reduce((a, b) => a + b, 0);
    const A = ctx.upload(new Float32Array(k * r * C), [k * r, C], 'f32');
    const Bt = ctx.upload(new Float32Array(k * r * N), [k * r, N], 'f32'); // Bᵀ: its blocks are row runs
    let col = 0;
    for (const [b, p] of pairs.entries()) {
      if (p) {
        ctx.copyRegion(p.A, 0, A, b * r * C * 4, p.A.byteLength);
        const bt = transpose(ctx, p.B); // [r, rows]
        for (let j = 0; j < r; j++)
          ctx.copyRegion(bt, j * rows[b] * 4, Bt, ((b * r + j) * N + col) * 4, rows[b] * 4);
      }
      col += rows[b];
    }
    return { A, B: transpose(ctx, Bt) };
  };
  const own = (p: LoraPair | undefined): DecoderLoraPair | undefined =>
    p && { A: copy(ctx, p.A), B: copy(ctx, p.B) };
  const layers = lora.layers.map((pairs: Partial<Record<LoraTarget, LoraPair>>) =>
    ctx.keep(
      ctx.tidy(() => {
        const l: DecoderAdapter['layers'][number] = {};
        const qkv = fused([pairs.q, pairs.k, pairs.v], [H * D, Hkv * D, Hkv * D]);
        const gateUp = fused([pairs.gate, pairs.up], [I, I]);
        const o = own(pairs.o);
        const down = own(pairs.down);
        if (qkv) l.qkv = qkv;
        if (o) l.o = o;
        if (gateUp) l.gateUp = gateUp;
        if (down) l.down = down;
        return l;
      }),
    ),
  );
  return { scale: lora.scale, layers };
}
