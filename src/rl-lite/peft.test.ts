/**
 * PEFT interchange on the tiny-a fixture: our files round-trip (the same tensors, the same policy
 * log-probs); an adapter written by an independent numpy writer (scripts/reference/make_adapter.py,
 * its output committed under test-data/peft-tiny-a) loads with the values the script documents, in
 * f32, bf16 and f16; bad files fail with messages that name the key or tensor.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../gpu/tensor';
import { ctx } from '../gpu/testing/kernel-suite';
import { parseModelConfig } from '../model/config';
import { loadWeights } from '../model/load';
import { SafetensorsCheckpoint } from '../model/safetensors';
import { encodeSafetensors, type TensorToWrite } from '../model/safetensors-writer';
import { MapWeightSource } from '../model/sources/map';
import { openFixture, REPO_ROOT } from '../model/testing/goldens';
import { TinyLlavaVideo } from '../model/tinyllava';
import { LORA_TARGETS, LoraAdapter, type LoraTarget, targetShape } from './lora';
import {
  ADAPTER_CONFIG,
  ADAPTER_WEIGHTS,
  encodePeftAdapter,
  loadPeftAdapter,
  peftName,
  readPeftAdapter,
} from './peft';
import { Policy } from './policy';

const REFERENCE = join(REPO_ROOT, 'test-data/peft-tiny-a');
const referenceFiles = () =>
  new Map(
    [ADAPTER_CONFIG, ADAPTER_WEIGHTS].map((f) => [f, new Uint8Array(readFileSync(join(REFERENCE, f)))]),
  );
const text = parseModelConfig(readFileSync(join(REPO_ROOT, 'public/models/tiny-a/config.json'), 'utf8')).text;

/** make_adapter.py's values (t: the target's index in q, k, v, o, gate, up, down). */
const ORDER = Object.keys(LORA_TARGETS) as LoraTarget[];
function scriptFactors(l: number, target: LoraTarget): { A: Float32Array; B: Float32Array } {
  const t = ORDER.indexOf(target);
  const [out, inn] = targetShape(text, target);
  const A = new Float32Array(4 * inn);
  for (let i = 0; i < 4; i++)
    for (let j = 0; j < inn; j++) A[i * inn + j] = (((7 * i + 3 * j + 5 * l + 11 * t) % 17) - 8) / 64;
  const B = new Float32Array(out * 4);
  for (let i = 0; i < out; i++)
    for (let j = 0; j < 4; j++) B[i * 4 + j] = (((5 * i + 11 * j + 3 * l + 7 * t) % 13) - 6) / 128;
  return { A, B };
}

const before = [151644, 8948, 198, 2610, 525, 264];
const after = [13, 151645, 198];
const targets = [151644, 77091, 198, 40];

describe(`PEFT adapters on tiny-a (${ctx.actDtype})`, () => {
  let model: TinyLlavaVideo;
  let policy: Policy;
  let x0: Tensor;
  const first = before.length + after.length - 1;
  const logprobs = (lora: LoraAdapter | null) => policy.logprobs(x0, first, targets, lora);
  beforeAll(async () => {
    const ckpt = await openFixture('tiny-a');
    model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt), 2);
    policy = new Policy(ctx, model);
    x0 = ctx.keep(policy.embed([...before, ...after, ...targets.slice(0, -1)]));
  });
  afterAll(() => {
    policy?.destroy();
    model?.destroy();
  });

  it('round-trips our files: the same tensors and config, the same log-probs', async () => {
    const lora = new LoraAdapter(ctx, text, {
      r: 4,
      alpha: 16,
      dropout: 0.1,
      rslora: false,
      targets: ['v', 'q', 'down'],
      seed: 3,
    });
    ctx.flush();
    for (const { pair } of lora.pairs()) {
      const b = new Float32Array(pair.B.size).map((_, i) => 0.04 * Math.sin(i * 0.9 + pair.B.size));
      ctx.device.queue.writeBuffer(pair.B.buffer, 0, b);
    }
    const files = await encodePeftAdapter(lora, 'fixtures/tiny-a');
    const config = JSON.parse(new TextDecoder().decode(files.get(ADAPTER_CONFIG)));
    expect(config).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: 'fixtures/tiny-a',
      r: 4,
      lora_alpha: 16,
      lora_dropout: 0.1,
      bias: 'none',
      use_rslora: false,
      target_modules: ['v_proj', 'q_proj', 'down_proj'],
      fan_in_fan_out: false,
      inference_mode: true,
      modules_to_save: null,
      layers_to_transform: null,
    });
    const { adapter, peft } = await loadPeftAdapter(ctx, text, files);
    try {
      expect(peft.baseModel).toBe('fixtures/tiny-a');
      expect(adapter.config.targets).toEqual(['q', 'v', 'down']);
      expect(adapter.config.dropout).toBe(0.1);
      expect(adapter.scale).toBe(lora.scale);
      const got = new Map((await adapter.read()).map((p) => [`${p.layer}.${p.target}`, p]));
      for (const p of await lora.read()) {
        expect(got.get(`${p.layer}.${p.target}`)?.A).toEqual(p.A);
        expect(got.get(`${p.layer}.${p.target}`)?.B).toEqual(p.B);
      }
      const want = await logprobs(lora);
      expect(await logprobs(adapter)).toEqual(want);
      expect(Math.abs(want[0] - (await logprobs(null))[0])).toBeGreaterThan(1e-4);
    } finally {
      adapter.destroy();
      lora.destroy();
    }
  });

  it('loads the numpy-written adapter (f32, bf16, f16) with the values the script documents', async () => {
    const { adapter, peft } = await loadPeftAdapter(ctx, text, referenceFiles(), REFERENCE);
    const same = new LoraAdapter(ctx, text, { ...peft.config }, scriptFactors);
    try {
      expect(peft.config).toMatchObject({ r: 4, alpha: 8, rslora: true, targets: ORDER });
      expect(peft.config.dropout).toBe(0.05);
      expect(adapter.scale).toBe(4); // alpha / √r
      for (const p of await adapter.read()) {
        const want = scriptFactors(p.layer, p.target);
        expect(p.A, `layer ${p.layer} ${p.target} A`).toEqual(want.A);
        expect(p.B, `layer ${p.layer} ${p.target} B`).toEqual(want.B);
      }
      const base = await logprobs(null);
      const adapted = await logprobs(adapter);
      expect(adapted).toEqual(await logprobs(same));
      expect(adapted.every(Number.isFinite)).toBe(true);
      expect(Math.abs(adapted[0] - base[0])).toBeGreaterThan(1e-3);
    } finally {
      adapter.destroy();
      same.destroy();
    }
  });
});

describe('PEFT adapters: bad files', () => {
  /** The reference adapter with its config and tensors edited. */
  async function edited(
    config: (c: Record<string, unknown>) => void = () => {},
    tensors: (t: TensorToWrite[]) => TensorToWrite[] = (t) => t,
  ): Promise<Map<string, Uint8Array>> {
    const files = referenceFiles();
    const c = JSON.parse(new TextDecoder().decode(files.get(ADAPTER_CONFIG)));
    config(c);
    const st = await SafetensorsCheckpoint.openFiles(new MapWeightSource(files), [ADAPTER_WEIGHTS]);
    const list: TensorToWrite[] = [];
    for await (const t of st.stream())
      list.push({ name: t.name, dtype: t.dtype, shape: t.shape, data: t.bytes });
    return new Map([
      [ADAPTER_CONFIG, new TextEncoder().encode(JSON.stringify(c))],
      [ADAPTER_WEIGHTS, encodeSafetensors(tensors(list))],
    ]);
  }
  const fails = async (files: Map<string, Uint8Array>, message: RegExp) =>
    expect(readPeftAdapter(text, files, 'the test adapter')).rejects.toThrow(message);
  const q0A = peftName(0, 'q', 'A');

  it('reads the reference as is', async () => {
    expect((await readPeftAdapter(text, await edited())).factors.size).toBe(14);
  });

  it('names the config key', async () => {
    await fails(new Map(), /no adapter_config\.json in the test adapter/);
    await fails(await edited((c) => (c.peft_type = 'IA3')), /peft_type is "IA3"; only LoRA/);
    await fails(await edited((c) => (c.r = 0)), /adapter_config\.json: r is 0/);
    await fails(await edited((c) => (c.bias = 'all')), /bias is "all"/);
    await fails(await edited((c) => (c.use_dora = true)), /use_dora is true/);
    await fails(await edited((c) => (c.layers_to_transform = [0])), /layers_to_transform is \[0\]/);
    await fails(await edited((c) => (c.target_modules = ['q_proj', 'fc1'])), /target_modules names "fc1"/);
    await fails(
      await edited(
        (c) => (c.target_modules = ['k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']),
      ),
      /holds q_proj factors, but adapter_config\.json's target_modules does not name q_proj/,
    );
    // A regex, as PEFT also accepts, matched against the module keys.
    const regex = await edited(
      (c) => (c.target_modules = '.*language_model.*\\.(q|k|v|o|gate|up|down)_proj'),
    );
    expect((await readPeftAdapter(text, regex)).config.targets).toEqual(ORDER);
    await fails(await edited((c) => (c.target_modules = '.*\\.q_proj')), /does not name k_proj/);
  });

  it('names the tensor: unknown module, missing layers, wrong rank, shape or dtype', async () => {
    const rename = (from: string, to: string) => (ts: TensorToWrite[]) =>
      ts.map((t) => (t.name === from ? { ...t, name: to } : t));
    await fails(
      await edited(undefined, rename(q0A, q0A.replace('q_proj', 'qkv_proj'))),
      /layers\.0\.self_attn\.qkv_proj\.lora_A\.weight: not a LoRA factor of the language model's projections/,
    );
    await fails(
      await edited(undefined, rename(q0A, q0A.replace('lora_A.weight', 'lora_A.default.weight'))),
      /lora_A\.default\.weight: not a LoRA factor/,
    );
    await fails(
      await edited(undefined, rename(q0A, q0A.replace('layers.0', 'layers.2'))),
      /layers\.2\.self_attn\.q_proj\.lora_A\.weight: layer 2, but the model has 2 layers/,
    );
    await fails(
      await edited(undefined, (ts) => ts.filter((t) => !t.name.includes('layers.1.mlp.up_proj'))),
      /adapts up_proj but lacks base_model\.model\.language_model\.model\.layers\.1\.mlp\.up_proj\.lora_A\.weight and 1 more/,
    );
    await fails(
      await edited(undefined, (ts) => ts.map((t) => (t.name === q0A ? { ...t, shape: [4, 64, 1] } : t))),
      /q_proj\.lora_A\.weight: shape \[4,64,1\] has rank 3/,
    );
    await fails(
      await edited(undefined, (ts) => ts.map((t) => (t.name === q0A ? { ...t, shape: [8, 32] } : t))),
      /q_proj\.lora_A\.weight: shape \[8,32\], expected \[4,64\]/,
    );
    await fails(
      await edited((c) => (c.r = 8)),
      /lora_A\.weight: shape \[4,128\], expected \[8,128\] \(r = 8/,
    );
    await fails(
      await edited(undefined, (ts) => ts.map((t) => (t.name === q0A ? { ...t, dtype: 'I32' } : t))),
      /q_proj\.lora_A\.weight: dtype I32/,
    );
  });
});
