/**
 * LoRA over a frozen 4-bit base (tiny-b, f32 activations, vocabulary tables split in 3 row parts by a
 * low binding limit): the policy on the model loaded 4-bit gives the same token log-probs and the same
 * adapter gradients as the policy on the model loaded plain with every 4-bit weight replaced by its
 * dequantized values (so only the kernels differ: 4-bit matmul, the 4-bit embedding, lm_head over 4-bit
 * parts in chunks of rows, dX through a dequantized copy); "merged" into a 4-bit model, the adapter is
 * applied unmerged by its decoder, whose prefill then gives the policy's log-prob (and the base's once
 * taken off), the 4-bit weights untouched; GRPO steps on the 4-bit model run with finite metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dequantizeQ4 } from '../gpu/kernels/quant/dequantize';
import { readQ4 } from '../gpu/kernels/quant/format';
import { closeNodeGpu, gpuErrors, nodeGpuContext } from '../gpu/testing/node-gpu';
import { FUSED } from '../model/fuse-weights';
import { isQuantized, type LinearWeight } from '../model/gpu-weights';
import { ENGINE_Q4, loadWeights } from '../model/load';
import { openFixture } from '../model/testing/goldens';
import { qwenTokenizer } from '../model/testing/qwen-tokenizer';
import { TinyLlavaVideo } from '../model/tinyllava';
import { PREFIX } from '../model/weight-manifest';
import { GRPO_PAPER, Trainer } from './grpo';
import { LoraAdapter } from './lora';
import { AdamW } from './optimizer';
import { Policy } from './policy';

const ctx = await nodeGpuContext({ disableF16: true });
afterAll(() => closeNodeGpu(ctx));

const before = [151644, 8948, 198, 2610, 525, 264];
const after = [13, 151645, 198];
const targets = [151644, 77091, 198, 40, 151935, 5];
const first = before.length + after.length - 1;
// 16 MiB bindings: the [151936, 64] tables go up in 3 row parts.
const MiB = 2 ** 20;
const limits = { maxStorageBufferBindingSize: 16 * MiB, maxBufferSize: 16 * MiB };

const LINEARS = [
  `${FUSED.qkv.name}.weight`,
  'self_attn.o_proj.weight',
  `${FUSED.gateUp.name}.weight`,
  'mlp.down_proj.weight',
];

/** Copies every 4-bit Linear weight and table part of `q4`, dequantized, over the plain model's. */
function dequantizeInto(q4: TinyLlavaVideo, plain: TinyLlavaVideo): number {
  const wq = q4.weights.scope(PREFIX.text);
  const wp = plain.weights.scope(PREFIX.text);
  const pairs: [LinearWeight, LinearWeight][] = [];
  for (let l = 0; l < q4.config.text.layers; l++)
    for (const n of LINEARS)
      pairs.push([wq.linear(`model.layers.${l}.${n}`), wp.linear(`model.layers.${l}.${n}`)]);
  for (const t of ['model.embed_tokens.weight', 'lm_head.weight']) {
    const [a, b] = [wq.table(t), wp.table(t)];
    expect(a.length).toBe(b.length);
    for (const [i, p] of a.entries()) pairs.push([p, b[i]]);
  }
  for (const [q, p] of pairs) {
    if (!isQuantized(q) || isQuantized(p)) throw new Error('expected a 4-bit and a plain weight');
    ctx.tidy(() => ctx.copyRegion(dequantizeQ4(ctx, q, 'f32'), 0, p, 0, p.byteLength));
  }
  return pairs.length;
}

describe('LoRA over a 4-bit base (tiny-b, f32)', () => {
  let q4: TinyLlavaVideo;
  let plain: TinyLlavaVideo;
  let pq: Policy;
  let pp: Policy;
  const adapters: LoraAdapter[] = [];
  const lora = () => {
    const a = new LoraAdapter(ctx, q4.config.text, {
      r: 4,
      alpha: 8,
      dropout: 0,
      rslora: false,
      targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'],
      seed: 3,
    });
    // Non-zero B (the same in every adapter), so the adapter acts and dA is not zero.
    ctx.flush();
    for (const { pair } of a.pairs()) {
      const b = new Float32Array(pair.B.size).map((_, i) => 0.05 * Math.sin(i * 1.7 + pair.B.size));
      ctx.device.queue.writeBuffer(pair.B.buffer, 0, b);
    }
    adapters.push(a);
    return a;
  };

  beforeAll(async () => {
    const ckpt = await openFixture('tiny-b');
    q4 = new TinyLlavaVideo(
      ctx,
      ckpt.config,
      await loadWeights(ctx, ckpt, undefined, { quantize: ENGINE_Q4, limits }),
    );
    plain = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt, undefined, { limits }));
    expect(dequantizeInto(q4, plain)).toBe(4 * q4.config.text.layers + 6);
    // Chunks of 4 rows: the 6 completion rows take two lm_head chunks on the 4-bit side.
    pq = new Policy(ctx, q4, { headRows: 4 });
    pp = new Policy(ctx, plain);
  });
  afterAll(() => {
    for (const a of adapters) a.destroy();
    pq?.destroy();
    pp?.destroy();
    q4?.destroy();
    plain?.destroy();
  });

  const ids = [...before, ...after, ...targets.slice(0, -1)];

  it('gives the dequantized plain model’s log-probs, with and without an adapter', async () => {
    const a = lora();
    const [xq, xp] = [pq.embed(ids), pp.embed(ids)];
    const embeds = [await ctx.read(xq), await ctx.read(xp)];
    expect(embeds[0]).toEqual(embeds[1]); // the 4-bit embedding decodes to the same values
    for (const ad of [null, a]) {
      const got = await pq.logprobs(xq, first, targets, ad);
      const want = await pp.logprobs(xp, first, targets, ad);
      for (let j = 0; j < targets.length; j++) {
        expect(Number.isFinite(got[j])).toBe(true);
        expect(Math.abs(got[j] - want[j]), `token ${j}: ${got[j]} vs ${want[j]}`).toBeLessThan(2e-4);
      }
    }
    ctx.release(xq, xp);
    expect(gpuErrors).toEqual([]);
  });

  it('gives the same adapter gradients and input gradients', async () => {
    const [aq, ap] = [lora(), lora()];
    const g = Float32Array.from(targets, (_, j) => 0.5 - 0.3 * j);
    const [xq, xp] = [pq.embed(ids), pp.embed(ids)];
    const T = ids.length;
    const C = q4.config.text.hidden;
    const [dq, dp] = [0, 1].map(() => ctx.upload(new Float32Array(T * C), [T, C], 'f32'));
    await pq.backward(xq, first, targets, aq, () => g, dq);
    await pp.backward(xp, first, targets, ap, () => g, dp);
    const close = (got: Float32Array, want: Float32Array, what: string) => {
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(scale, `${what}: not vacuous`).toBeGreaterThan(1e-5);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
      expect(worst / scale, what).toBeLessThan(1e-3);
    };
    const gq = await aq.read();
    const gradsOf = async (a: LoraAdapter) => {
      const out: Float32Array[] = [];
      for (const { pair } of a.pairs()) out.push(await ctx.read(pair.dA), await ctx.read(pair.dB));
      return out;
    };
    const [wq, wp] = [await gradsOf(aq), await gradsOf(ap)];
    expect(wq.length).toBe(2 * gq.length);
    for (const [i, w] of wq.entries())
      close(w, wp[i], `${gq[i >> 1].layer} ${gq[i >> 1].target} d${i % 2 ? 'B' : 'A'}`);
    close(await ctx.read(dq), await ctx.read(dp), 'dX0');
    ctx.release(xq, xp, dq, dp);
  });

  it('hands the adapter to the 4-bit decoder unmerged: the inference path gives the policy’s log-probs', async () => {
    const a = lora();
    const w = q4.weights.scope(`${PREFIX.text}model.layers.0.`).linear(`${FUSED.qkv.name}.weight`);
    if (!isQuantized(w)) throw new Error('expected 4-bit qkv');
    const base = await readQ4(ctx, w);
    const x = pq.embed([...before, ...after]);
    const adapted = await pq.logprobs(x, first, targets.slice(0, 1), a);
    const unadapted = await pq.logprobs(x, first, targets.slice(0, 1), null);
    ctx.release(x);
    const firstLogprob = async () => {
      const t = q4.prefill(before, null, after);
      const row = await ctx.read(t);
      ctx.release(t);
      const m = row.reduce((s, v) => Math.max(s, v), Number.NEGATIVE_INFINITY);
      const z = row.reduce((s, v) => s + Math.exp(v - m), 0);
      return row[targets[0]] - m - Math.log(z);
    };
    expect(Math.abs(adapted[0] - unadapted[0])).toBeGreaterThan(1e-2); // the adapter matters
    pq.mergeInto(q4, a);
    expect(Math.abs((await firstLogprob()) - adapted[0])).toBeLessThan(2e-4);
    pq.mergeInto(q4, null);
    expect(Math.abs((await firstLogprob()) - unadapted[0])).toBeLessThan(2e-4);
    // The 4-bit weights were never written.
    const after4 = await readQ4(ctx, w);
    expect(after4.packed).toEqual(base.packed);
    expect(after4.scales).toEqual(base.scales);
    expect(after4.mins).toEqual(base.mins);
  });

  it('refuses full fine-tuning of the 4-bit model with a clear message', () => {
    expect(() => pq.trainAll()).toThrow(/^full fine-tuning: the embedding table is split in 3 parts/);
  });

  it('runs GRPO steps on the 4-bit model with finite metrics', async () => {
    const a = lora();
    const opt = new AdamW(ctx, a, {
      lr: 0.01,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0,
      maxGradNorm: 1,
      schedule: 'constant',
      warmupRatio: 0,
      totalSteps: 2,
    });
    const trainer = new Trainer(ctx, q4, qwenTokenizer(), [151643], pq, a, opt, {
      ...GRPO_PAPER,
      num_generations: 2,
      max_completion_length: 3,
      seed: 2,
    });
    const item = { before, after, visual: null, solution: '<answer>A</answer>' };
    for (let s = 1; s <= 2; s++) {
      const m = await trainer.grpoStep([item]);
      expect(m.step).toBe(s);
      expect(m.completions).toHaveLength(2);
      for (const v of [m.loss, m.kl, m.gradNorm, m.rewardMean, m.completionLength])
        expect(Number.isFinite(v), JSON.stringify(m.ms)).toBe(true);
    }
    opt.destroy();
    expect(gpuErrors).toEqual([]);
  });
});
