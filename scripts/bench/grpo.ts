/**
 * `npm run bench:grpo`: GRPO steps of src/rl-lite's Trainer (LoRA) on a small model, on the adapter that
 * VK_ICD_FILENAMES names (Dawn): the step time split into rollout, reward, reference log-probs, policy
 * forward/backward and optimizer; batched rollout tokens/s (G sequences) against one sequence; peak GPU
 * memory (pooled buffer bytes). Results also go to artifacts/bench-grpo.json.
 *   --fixture tiny-a|tiny-b (default tiny-b)  --steps N (timed steps after one warm-up, default 2)
 *   --G N (default 8)  --new N (new tokens a completion, default 16)  --rank N (default 8)
 *   --project   no GPU: print the full-size projection (scripts/bench/grpo-projection.ts) instead
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { GPU_CLASSES, grpoMemory, grpoPhases, PAPER_STEP, phaseSeconds, sizes } from './grpo-projection';
import { r1Config } from './synthetic-model';

const root = resolve(import.meta.dirname, '../..');
const { values: opt } = parseArgs({
  options: {
    project: { type: 'boolean', default: false },
    fixture: { type: 'string', default: 'tiny-b' },
    steps: { type: 'string', default: '2' },
    G: { type: 'string', default: '8' },
    new: { type: 'string', default: '16' },
    rank: { type: 'string', default: '8' },
  },
});

const fmt = (s: number) =>
  s >= 100 ? `${s.toFixed(0)} s` : s >= 1 ? `${s.toFixed(1)} s` : `${(s * 1000).toFixed(0)} ms`;
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

function project(): void {
  const cfg = r1Config();
  const s = PAPER_STEP;
  const z = sizes(cfg, s);
  console.log('PROJECTION (not a measurement) of one GRPO step on the full-size TinyLLaVA-Video-R1 shapes');
  console.log(
    `  ${s.frames} frames, prompt ${z.promptTokens} tokens, G = ${s.G}, ${s.newTokens} new tokens, LoRA r = ${s.rank} on ${s.targets.join(',')}`,
  );
  console.log(
    `  decoder Linear params ${(z.llmLinear / 1e9).toFixed(3)} B (4-bit ${mib(z.llmLinearQ4)}), table ${(z.table / 1e6).toFixed(1)} M, LoRA params ${z.loraParameters}`,
  );
  console.log(
    `  assumptions: ${GPU_CLASSES.map((g) => `${g.name} ${g.bandwidth / 1e9} GB/s × ${g.bandwidthEfficiency}, ${g.flops / 1e12} TFLOPS f16 × ${g.computeEfficiency}, ${g.launch * 1e6} µs a launch`).join('; ')}`,
  );
  const phases = grpoPhases(cfg, s, 'q4');
  const w = 44;
  console.log(
    `\n  ${'phase'.padEnd(w)} ${'TFLOP'.padStart(8)} ${'GB read'.padStart(8)} ${GPU_CLASSES.map((g) => g.name.padStart(16)).join('')}`,
  );
  const total = GPU_CLASSES.map(() => 0);
  for (const p of phases) {
    const secs = GPU_CLASSES.map((g) => phaseSeconds(p, g));
    secs.forEach((x, i) => {
      total[i] += x;
    });
    console.log(
      `  ${p.name.padEnd(w)} ${((p.flops * p.repeat) / 1e12).toFixed(2).padStart(8)} ${((p.bytes * p.repeat) / 1e9).toFixed(1).padStart(8)} ${secs.map((x) => fmt(x).padStart(16)).join('')}`,
    );
  }
  console.log(
    `  ${'one GRPO step'.padEnd(w)} ${''.padStart(17)} ${total.map((x) => fmt(x).padStart(16)).join('')}`,
  );
  const memory = grpoMemory(cfg, s);
  console.log('\n  GPU memory (projected)');
  for (const m of memory)
    console.log(`  ${m.name.padEnd(w)} ${(m.bytes / 2 ** 30).toFixed(2).padStart(8)} GiB`);
  const sum = memory.reduce((a, m) => a + m.bytes, 0);
  console.log(`  ${'in all'.padEnd(w)} ${(sum / 2 ** 30).toFixed(2).padStart(8)} GiB`);
}

async function measure(): Promise<void> {
  const { closeNodeGpu, adapterName, nodeGpuContext } = await import('../../src/gpu/testing/node-gpu');
  const { fillRandom } = await import('../../src/gpu/kernels/fill');
  const { loadWeights } = await import('../../src/model/load');
  const { openFixture } = await import('../../src/model/testing/goldens');
  const { qwenTokenizer } = await import('../../src/model/testing/qwen-tokenizer');
  const { TinyLlavaVideo } = await import('../../src/model/tinyllava');
  const { generate } = await import('../../src/model/generate');
  const { GRPO_PAPER, Trainer } = await import('../../src/rl-lite/grpo');
  const { LORA_DEFAULTS, LoraAdapter } = await import('../../src/rl-lite/lora');
  const { AdamW } = await import('../../src/rl-lite/optimizer');
  const { Policy } = await import('../../src/rl-lite/policy');
  const G = Number(opt.G);
  const maxNew = Number(opt.new);
  const steps = Number(opt.steps);
  const ctx = await nodeGpuContext();
  const adapter = adapterName(ctx);
  console.log(`Adapter: ${adapter} (shader-f16: ${ctx.summary.f16 ? 'yes' : 'no'})`);
  const ckpt = await openFixture(opt.fixture);
  const cfg = ckpt.config;
  const weights = await loadWeights(ctx, ckpt);
  const model = new TinyLlavaVideo(ctx, cfg, weights, G);
  const tok = qwenTokenizer();
  const eos = [151643];
  const t = cfg.text;
  console.log(
    `Model: fixture ${opt.fixture} — LLM ${t.layers} layers × ${t.hidden} (MLP ${t.mlp}), vocab ${t.vocab}; vision ${cfg.vision.runLayers} layers × ${cfg.vision.hidden}`,
  );

  // A prompt as the trainer sees it: text around the visual tokens of one clip (computed once, cached).
  const frames = cfg.connector.group;
  const S = cfg.vision.imageSize;
  const pixels = fillRandom(ctx, ctx.empty([frames, 3, S, S], ctx.actDtype), 3, -1, 1);
  const features = model.visionFeatures(pixels);
  const visual = ctx.keep(model.connector(features));
  ctx.release(pixels, features);
  const before = [151644, 8948, 198, 2610, 525, 264];
  const after = [13, 151645, 198, 151644, 77091, 198];
  const item = { before, after, visual, solution: '<answer>A</answer>' };

  // Rollout throughput: generate's batched decode, never stopping early, one sequence against G.
  const sampling = { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, seed: 1, maxNewTokens: maxNew };
  const rollout = async (batch: number) => {
    await generate(model, null, { before, after, visual, sampling, eosIds: [], batch }); // warm-up
    const d0 = ctx.stats.dispatches;
    const r = await generate(model, null, { before, after, visual, sampling, eosIds: [], batch });
    return { ...r.stats, dispatchesPerStep: (ctx.stats.dispatches - d0) / r.stats.steps };
  };
  const one = await rollout(1);
  const many = await rollout(G);
  const tps = (r: typeof one) => (r.newTokens * 1000) / (r.prefillMs + r.decodeMs);

  const policy = new Policy(ctx, model);
  const lora = new LoraAdapter(ctx, t, {
    ...LORA_DEFAULTS,
    r: Number(opt.rank),
    alpha: 2 * Number(opt.rank),
  });
  const optimizer = new AdamW(ctx, lora, {
    lr: 1e-5,
    beta1: 0.9,
    beta2: 0.99,
    eps: 1e-8,
    weightDecay: 0,
    maxGradNorm: 1,
    schedule: 'constant',
    warmupRatio: 0,
    totalSteps: steps + 1,
  });
  const trainer = new Trainer(ctx, model, tok, eos, policy, lora, optimizer, {
    ...GRPO_PAPER,
    num_generations: G,
    max_completion_length: maxNew,
  });
  // Memory from the warm-up step (it allocates what every step does; later steps reuse the pool):
  // free pooled buffers dropped first, so the rise is the step's own working set.
  await ctx.sync();
  ctx.pool.trim();
  const baseBytes = ctx.pool.allocatedBytes;
  ctx.pool.peakBytes = baseBytes;
  await trainer.grpoStep([item]); // also compiles the pipelines
  await ctx.sync();
  const peak = ctx.pool.peakBytes;
  const runs: Record<
    'wall' | 'rollout' | 'reward' | 'reference' | 'backward' | 'optimizer' | 'completionLength',
    number
  >[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    const m = await trainer.grpoStep([item]);
    await ctx.sync();
    runs.push({ wall: performance.now() - t0, ...m.ms, completionLength: m.completionLength });
  }
  const mean = (k: keyof (typeof runs)[number]) => runs.reduce((s, r) => s + r[k], 0) / runs.length;
  const rows: [string, string][] = [
    [`GRPO step (G = ${G}, ≤ ${maxNew} new), mean of ${steps}`, `${mean('wall').toFixed(0)} ms`],
    ...(['rollout', 'reward', 'reference', 'backward', 'optimizer'] as const).map(
      (k) =>
        [
          `  ${k === 'backward' ? 'policy forward + backward' : k === 'reference' ? 'reference log-probs' : k}`,
          `${mean(k).toFixed(1)} ms`,
        ] as [string, string],
    ),
    ['  completion length (mean)', mean('completionLength').toFixed(1)],
    [
      `rollout, 1 sequence × ${maxNew}`,
      `${tps(one).toFixed(1)} tokens/s (decode ${one.tokensPerSecond.toFixed(1)})`,
    ],
    [
      `rollout, ${G} sequences × ${maxNew}`,
      `${tps(many).toFixed(1)} tokens/s (decode ${many.tokensPerSecond.toFixed(1)})`,
    ],
    ['  batched / single', `${(tps(many) / tps(one)).toFixed(2)}×`],
    [
      'dispatches a decode step (B = 1)',
      `${one.dispatchesPerStep.toFixed(0)} (${(one.dispatchesPerStep / t.layers).toFixed(1)} a layer)`,
    ],
    ['GPU memory held before a step', mib(baseBytes)],
    ['peak GPU memory during a step', `${mib(peak)} (+${mib(peak - baseBytes)})`],
    [
      'adapter parameters',
      String(
        lora.layers.reduce(
          (s, l) => s + Object.values(l).reduce((a, p) => a + (p ? p.A.size + p.B.size : 0), 0),
          0,
        ),
      ),
    ],
  ];
  for (const [k, v] of rows) console.log(`  ${k.padEnd(44)} ${v}`);
  mkdirSync(join(root, 'artifacts'), { recursive: true });
  writeFileSync(
    join(root, 'artifacts', 'bench-grpo.json'),
    `${JSON.stringify({ adapter, fixture: opt.fixture, G, maxNew, date: new Date().toISOString(), runs, one, many, baseBytes, peak, rows }, null, 2)}\n`,
  );
  trainer.optimizer.destroy();
  lora.destroy();
  policy.destroy();
  ctx.release(visual);
  model.destroy();
  closeNodeGpu(ctx);
}

if (opt.project) project();
else await measure();
