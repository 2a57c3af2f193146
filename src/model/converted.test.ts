/**
 * The converted format (npm run convert) against the bf16 checkpoint loaded 4-bit: on tiny-a and tiny-b,
 * every 4-bit weight on the GPU is bit-identical (the CPU quantizer the converter uses and the GPU
 * quantizer at load read the same f32 values), and so are the logits of the prompt and 8 greedy steps
 * and the greedy ids where the vision tower runs f16 (on an f32 adapter the converted vision tower holds
 * f16-rounded weights, so logits agree closely, not bit for bit). A corrupt or short file fails naming it.
 */
import { describe, expect, it } from 'vitest';
import { layoutOf, readQ4 } from '../gpu/kernels/quant/format';
import { ctx } from '../gpu/testing/kernel-suite';
import { openCheckpoint } from './checkpoint';
import { ENGINE_MANIFEST, type EngineManifest } from './engine-format';
import { FUSED } from './fuse-weights';
import type { GpuWeights } from './gpu-weights';
import { ENGINE_Q4, loadWeights } from './load';
import { MapWeightSource } from './sources/map';
import { convertFixture } from './testing/convert';
import { readGoldenFrames, readGoldenIndex } from './testing/goldens';
import { TinyLlavaVideo } from './tinyllava';
import { PREFIX } from './weight-manifest';

const argmax = (x: ArrayLike<number>) => {
  let a = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[a]) a = i;
  return a;
};

/** Logits of the last prompt position and of `steps` greedy steps, and the greedy ids. */
async function greedy(model: TinyLlavaVideo, fixture: string, steps: number) {
  const index = readGoldenIndex(fixture);
  const pixels = ctx.upload(readGoldenFrames(index), index.frames.shape, ctx.actDtype);
  const features = model.visionFeatures(pixels);
  const visual = model.connector(features);
  ctx.release(pixels, features);
  let logits = model.prefill(index.prompt.part0Ids, visual, index.prompt.part1Ids);
  ctx.release(visual);
  const rows: Float32Array[] = [];
  const ids: number[] = [];
  for (let s = 0; s <= steps; s++) {
    const row = await ctx.read(logits);
    ctx.release(logits);
    rows.push(row);
    ids.push(argmax(row));
    if (s < steps) logits = model.step(ids[s]);
  }
  return { rows, ids };
}

/** Every 4-bit weight the forward pass reads, by name (vocabulary tables by part). */
function q4Names(w: GpuWeights, layers: number, connectorLayers: number): string[] {
  const names = [`${PREFIX.text}model.embed_tokens.weight`, `${PREFIX.connector}linear.weight`];
  for (let l = 0; l < layers; l++)
    for (const n of [FUSED.qkv.name, 'self_attn.o_proj', FUSED.gateUp.name, 'mlp.down_proj'])
      names.push(`${PREFIX.text}model.layers.${l}.${n}.weight`);
  for (let l = 0; l < connectorLayers; l++)
    for (const n of ['0.to_q', '0.to_k', '0.to_v', '0.to_out', '1.1', '1.3'])
      names.push(`${PREFIX.connector}layers.${l}.${n}.weight`);
  return names.filter((n) => w.has(n));
}

describe('converted format', () => {
  for (const fixture of ['tiny-a', 'tiny-b'] as const) {
    it(`${fixture}: the converted folder loads the bf16 checkpoint's 4-bit weights and logits`, async () => {
      const { ckpt, files, manifest } = await convertFixture(fixture, 64 << 10);
      const shards = Object.keys(manifest.files).filter((f) => f.endsWith('.safetensors'));
      const bytes = (m: Pick<EngineManifest, 'files'>) => shards.reduce((n, f) => n + m.files[f].size, 0);
      const bf16 = [...(await ckpt.source.list())!]
        .filter((f) => f.endsWith('.safetensors'))
        .reduce((n, f) => n + ckpt.weights.shards.find((s) => s.file === f)!.fileSize, 0);
      console.log(
        `${fixture}: converted ${bytes(manifest)} bytes in ${shards.length} shards, bf16 ${bf16} → ${(bytes(manifest) / bf16).toFixed(3)}×`,
      );
      expect(shards.length).toBeGreaterThan(1);
      const conv = await openCheckpoint(new MapWeightSource(files, `${fixture}-q4`));
      expect(conv.converted?.manifest.version).toBe(1);
      const a = await loadWeights(ctx, ckpt, undefined, { quantize: ENGINE_Q4 });
      const b = await loadWeights(ctx, conv);
      const cfg = ckpt.config;
      const ma = new TinyLlavaVideo(ctx, cfg, a, 2);
      const mb = new TinyLlavaVideo(ctx, cfg, b, 2);
      try {
        const names = q4Names(a, cfg.text.layers, cfg.connector.layers);
        expect(names.length).toBe(2 + 4 * cfg.text.layers + 6 * cfg.connector.layers);
        for (const name of names) {
          const pa = a.table(name);
          const pb = b.table(name);
          const qa = await Promise.all(pa.map((p) => readQ4(ctx, p as never)));
          const qb = await Promise.all(pb.map((p) => readQ4(ctx, p as never)));
          const cat = (qs: typeof qa, k: 'packed' | 'scales' | 'mins') =>
            qs.flatMap((h) => Array.from((h[k] as ArrayLike<number>) ?? []));
          expect(layoutOf(qb[0]), name).toEqual(layoutOf(qa[0]));
          for (const k of ['packed', 'scales', 'mins'] as const)
            expect(cat(qb, k), `${name} ${k}`).toEqual(cat(qa, k));
        }
        const ga = await greedy(ma, fixture, 8);
        const gb = await greedy(mb, fixture, 8);
        expect(gb.ids).toEqual(ga.ids);
        let maxDiff = 0;
        for (const [s, row] of ga.rows.entries())
          for (let i = 0; i < row.length; i++) maxDiff = Math.max(maxDiff, Math.abs(row[i] - gb.rows[s][i]));
        console.log(`${fixture} (${ctx.actDtype}): greedy ${ga.ids.join(' ')}; max |Δlogit| ${maxDiff}`);
        if (ctx.actDtype === 'f16') expect(maxDiff).toBe(0);
        else expect(maxDiff).toBeLessThan(1e-2);
      } finally {
        ma.destroy();
        mb.destroy();
      }
    });
  }

  it('a short or corrupt file fails naming it, and a changed manifest version is refused', async () => {
    const { files, manifest } = await convertFixture('tiny-a', 64 << 10);
    const shard = Object.keys(manifest.files).find((f) => f.endsWith('.safetensors'))!;
    const short = new Map(files);
    short.set(shard, files.get(shard)!.slice(0, -100));
    await expect(openCheckpoint(new MapWeightSource(short, 'short'))).rejects.toThrow(
      new RegExp(`${shard} in short is \\d+ bytes, the manifest says`),
    );
    const corrupt = new Map(files);
    const bad = files.get(shard)!.slice();
    bad[bad.length - 7] ^= 0x40;
    corrupt.set(shard, bad);
    const ckpt = await openCheckpoint(new MapWeightSource(corrupt, 'corrupt'));
    await expect(loadWeights(ctx, ckpt)).rejects.toThrow(
      new RegExp(`${shard} in corrupt does not match its manifest \\(SHA-256`),
    );
    // A config file not read by the load is still checked (verify reads the rest).
    const cfg = new Map(files);
    const t = files.get('tokenizer_config.json')!.slice();
    t[1] ^= 1;
    cfg.set('tokenizer_config.json', t);
    const c2 = await openCheckpoint(new MapWeightSource(cfg, 'tok'));
    await expect(c2.converted!.verify()).rejects.toThrow(/tokenizer_config.json in tok does not match/);
    const v2 = new Map(files);
    v2.set(ENGINE_MANIFEST, new TextEncoder().encode(JSON.stringify({ ...manifest, version: 2 })));
    await expect(openCheckpoint(new MapWeightSource(v2, 'v2'))).rejects.toThrow(/format version 2/);
  });
});
