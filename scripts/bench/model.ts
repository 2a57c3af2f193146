/**
 * `npm run bench:model`: a full TinyLLaVA-Video-R1-shaped engine (SigLIP-so400m tower, group resampler,
 * Qwen2.5-3B decoder with 4-bit weights) with random weights made on the GPU, timed stage by stage:
 * vision for F frames, connector, prefill tokens/s, decode tokens/s (B = 1 and B = 8), peak GPU memory,
 * and decode against the bandwidth ceiling (copy bandwidth ÷ weight bytes read per token). Results also
 * go to artifacts/bench-model-<adapter>.json.
 *   --adapter lavapipe|swiftshader|system   (default: both software adapters; 'system' = the machine's GPU)
 *   --full        real sizes: 27/36 layers, 151936 vocab, 16 frames, 600-token prompt (default on 'system')
 *   --frames N    frames through the tower (0: text-only prompt); --prompt N text tokens; --decode N steps
 *   --memory-only  record every phase as usual but run no dispatch: the buffers are allocated exactly
 *                  as in a real run (no allocation depends on GPU results), so the peaks are exact while
 *                  the full-size 16-frame pipeline takes seconds instead of hours on a CPU; no timings
 * On software adapters the default is a cut-down model (1 vision layer run, 2 LLM layers, 32k vocab,
 * 1 frame, 128-token prompt) with the real widths: per-layer figures are what to read there.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Tensor } from '../../src/gpu/tensor';

const root = resolve(import.meta.dirname, '../..');
const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};

async function child(full: boolean): Promise<void> {
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const { GpuContext } = await import('../../src/gpu/context');
  const { acquireDevice } = await import('../../src/gpu/device');
  const { adapterName } = await import('../../src/gpu/testing/node-gpu');
  const { copy } = await import('../../src/gpu/kernels/copy');
  const { generate } = await import('../../src/model/generate');
  const { GREEDY } = await import('../../src/model/sampling');
  const { TinyLlavaVideo } = await import('../../src/model/tinyllava');
  const { isVocabTable } = await import('../../src/model/load');
  const { r1Config, randomWeights } = await import('./synthetic-model');
  const { fillRandom } = await import('../../src/gpu/kernels/fill');
  const gpu = create([]) as unknown as GPU;
  const { device, summary } = await acquireDevice(gpu, {
    onError: (e) => console.error(`[gpu] ${e.kind}: ${e.message}`),
  });
  const ctx = new GpuContext(device, summary);
  const memoryOnly = args.includes('--memory-only');
  if (memoryOnly) ctx.dispatch = () => {};
  // Peak pooled bytes since the last call (every buffer counted until destroyed, free or not).
  let overallPeak = 0;
  const phasePeak = () => {
    const peak = ctx.pool.peakBytes;
    overallPeak = Math.max(overallPeak, peak);
    ctx.pool.peakBytes = ctx.pool.allocatedBytes;
    return peak;
  };
  const cfg = full ? r1Config() : r1Config({ visionLayers: 2, textLayers: 2, vocab: 32768 });
  const num = (name: string, dflt: number) => Number(arg(name) ?? dflt);
  // --frames 0: no vision, a text-only prompt (full-size decode on a software adapter in minutes).
  const frames = num('frames', full ? 16 : 1);
  const textTokens = num('prompt', full ? 88 : 64); // + the connector's tokens when there are frames
  const decodeTokens = num('decode', full ? 64 : 4);
  const now = () => performance.now();
  console.log(
    `\nAdapter: ${adapterName(ctx)} (shader-f16: ${summary.f16 ? 'yes' : 'no'}, variant ${ctx.variant})`,
  );
  console.log(
    `Model: ${full ? 'full size' : 'cut down'} — vision ${cfg.vision.runLayers} layers run × ${cfg.vision.hidden}, LLM ${cfg.text.layers} layers × ${cfg.text.hidden}, vocab ${cfg.text.vocab}; ${frames} frame(s)`,
  );

  // Copy bandwidth: the yardstick, the best of 5 batches (one batch swung 2× with other load here).
  const big = fillRandom(ctx, ctx.empty([16 * 2 ** 20], 'u32'), 1);
  const dst = ctx.empty(big.shape, 'u32');
  copy(ctx, big, dst);
  await ctx.sync();
  let copyGBps = 0;
  for (let batch = 0; batch < 5; batch++) {
    const t0 = now();
    for (let i = 0; i < 5; i++) copy(ctx, big, dst);
    await ctx.sync();
    copyGBps = Math.max(copyGBps, (5 * 2 * big.byteLength) / ((now() - t0) / 1000) / 1e9);
  }
  let t: number;
  ctx.release(big, dst);
  ctx.pool.trim();

  const weights = randomWeights(ctx, cfg);
  await ctx.sync();
  const model = new TinyLlavaVideo(ctx, cfg, weights, 4);
  const S = cfg.vision.imageSize;
  let visionMs = Number.NaN;
  let connectorMs = Number.NaN;
  let visual: Tensor | null = null;
  let visionPeak = 0;
  let connectorPeak = 0;
  if (frames > 0) {
    const pixels = fillRandom(ctx, ctx.empty([frames, 3, S, S], ctx.actDtype), 7);
    await ctx.sync();
    phasePeak();
    t = now();
    const features = model.visionFeatures(pixels);
    await ctx.sync();
    visionMs = now() - t;
    visionPeak = phasePeak();
    t = now();
    visual = model.connector(features);
    await ctx.sync();
    connectorMs = now() - t;
    connectorPeak = phasePeak();
    ctx.release(pixels, features);
  }

  const ids = Array.from({ length: textTokens }, (_, i) => (i * 7919) % cfg.text.vocab);
  const split = Math.min(31, textTokens);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  /**
   * generate's own loop, greedy, B sequences, never stopping early: prefill (+ fork), one warm-up step
   * (the first step after prefill allocates its buffers and bind groups), then `decodeTokens` timed
   * steps, each recorded (CPU time of recording: what bounds decode on a GPU faster than the JS that
   * feeds it) and sampled (its readback waits for the GPU).
   */
  async function decodeRun(B: number) {
    const record: number[] = [];
    let prefillPeak = 0;
    let steps = 0;
    let start = 0;
    let before = { ...ctx.stats };
    phasePeak();
    const r = await generate(
      model,
      null,
      {
        before: ids.slice(0, split),
        after: ids.slice(split),
        visual,
        sampling: { ...GREEDY, maxNewTokens: decodeTokens + 2 },
        eosIds: [],
        batch: B,
      },
      {
        onPrefilled: () => {
          prefillPeak = phasePeak();
        },
        recordStep: (step) => {
          if (steps++ === 1) {
            before = { ...ctx.stats };
            start = now();
          }
          const r0 = now();
          const logits = step();
          if (steps > 1) record.push(now() - r0);
          return logits;
        },
      },
    );
    const ms = (now() - start) / decodeTokens;
    const perStep = (k: keyof typeof before) => ((ctx.stats[k] - before[k]) / decodeTokens).toFixed(1);
    const counts = `${perStep('dispatches')} dispatches, ${perStep('bindGroupsCreated')} new bind groups, ${perStep('uniformBuffersCreated')} new uniform buffers, ${perStep('submits')} submits`;
    return { ms, counts, record, prefillMs: r.stats.prefillMs, prefillPeak, promptLen: r.stats.promptTokens };
  }
  const one = await decodeRun(1);
  const { prefillMs, prefillPeak, promptLen } = one;
  const decodeMs = one.ms;
  const stepCounts = one.counts;
  const record1 = one.record;
  // The single-sequence engine's peak, before the batch's larger cache exists.
  const peakBytes = Math.max(overallPeak, ctx.pool.peakBytes);
  const kvBytes = model.llm.cacheBytes;

  // B = 8 sequences in lockstep (GRPO rollouts of one prompt): the prompt prefilled once, forked 8 ways.
  const B = 8;
  const eight = await decodeRun(B);
  if (visual) ctx.release(visual);
  const decode8Ms = eight.ms;
  const step8Counts = eight.counts;
  const record8 = eight.record;
  const peak8Bytes = Math.max(peakBytes, ctx.pool.peakBytes);
  // Bytes a decode step must read: the LLM's layer Linear weights and the lm_head (tied to the
  // embedding), all 4-bit. Norms and biases are left out (under 0.1 %).
  const bytesPerToken = weights.bytesWhere(
    (n) =>
      n.startsWith('language_model.') &&
      (n.includes('.layers.') ? n.endsWith('proj.weight') : isVocabTable(n)),
  );
  // copyGBps already counts read + write traffic; a decode step is (almost) all reads of weights.
  const ceiling = copyGBps / (bytesPerToken / 1e9);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const timings: [string, string][] = [
    ['copy bandwidth (read+write)', `${copyGBps.toFixed(2)} GB/s`],
    [
      `vision, ${frames} frame(s)`,
      frames ? `${visionMs.toFixed(0)} ms (${(visionMs / frames).toFixed(0)} ms/frame)` : 'not run',
    ],
    ['connector', frames ? `${connectorMs.toFixed(0)} ms` : 'not run'],
    [
      `prefill, ${promptLen} tokens`,
      `${prefillMs.toFixed(0)} ms (${((promptLen * 1000) / prefillMs).toFixed(1)} tokens/s)`,
    ],
    ['decode, B = 1', `${decodeMs.toFixed(1)} ms/token (${(1000 / decodeMs).toFixed(2)} tokens/s)`],
    ['decode step, B = 1', stepCounts],
    ['recording a step (CPU), B = 1', `${median(record1).toFixed(1)} ms (median)`],
    [
      `decode, B = ${B}`,
      `${decode8Ms.toFixed(1)} ms/step (${((B * 1000) / decode8Ms).toFixed(2)} tokens/s in all)`,
    ],
    [`decode step, B = ${B}`, step8Counts],
    [`recording a step (CPU), B = ${B}`, `${median(record8).toFixed(1)} ms (median)`],
    ['weights read per token', `${(bytesPerToken / 2 ** 20).toFixed(1)} MiB`],
    [
      'decode vs bandwidth ceiling',
      `${((100 * (1000 / decodeMs)) / ceiling).toFixed(0)} % of ${ceiling.toFixed(1)} tokens/s`,
    ],
  ];
  const memory: [string, string][] = [
    ['weights on GPU', mib(weights.totalBytes)],
    [`KV cache (${cfg.maxLength} positions, B = 1)`, `${(kvBytes / 2 ** 20).toFixed(0)} MiB`],
    [
      'peak GPU memory, B = 1',
      `${(peakBytes / 2 ** 20).toFixed(0)} MiB (${((peakBytes - weights.totalBytes - kvBytes) / 2 ** 20).toFixed(0)} MiB beyond weights and cache)`,
    ],
    [`peak GPU memory, B = ${B}`, mib(peak8Bytes)],
    ...(frames > 0
      ? ([
          [`peak during vision (${frames} frames)`, mib(visionPeak)],
          ['peak during the connector', mib(connectorPeak)],
        ] as [string, string][])
      : []),
    [`peak during prefill (${promptLen} tokens)`, mib(prefillPeak)],
  ];
  if (memoryOnly) console.log('  memory only: every buffer allocated as in a real run, no dispatch run');
  const rows = memoryOnly ? memory : [...timings, ...memory];
  for (const [k, v] of rows) console.log(`  ${k.padEnd(34)} ${v}`);
  const out = join(root, 'artifacts', `bench-model-${process.env.BENCH_MODEL_ID}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        adapter: adapterName(ctx),
        full,
        date: new Date().toISOString(),
        frames,
        promptTokens: promptLen,
        copyGBps,
        visionMs,
        connectorMs,
        prefillMs,
        decodeMs,
        decode8Ms,
        bytesPerToken,
        ceilingTokensPerS: ceiling,
        weightBytes: weights.totalBytes,
        kvBytes,
        peakBytes,
        peak8Bytes,
        visionPeak,
        connectorPeak,
        prefillPeak,
        memoryOnly,
        rows,
      },
      null,
      2,
    )}\n`,
  );
  model.destroy();
  ctx.destroy();
  device.destroy();
}

if (process.env.BENCH_MODEL_CHILD) {
  await child(process.env.BENCH_MODEL_FULL === '1');
} else {
  const only = arg('adapter');
  const envFile = join(root, '.vendor/test-env.json');
  const icds = existsSync(envFile) ? JSON.parse(readFileSync(envFile, 'utf8')) : {};
  const targets = only ? [only] : ['lavapipe', 'swiftshader'];
  for (const id of targets) {
    const icd = id === 'system' ? undefined : icds[id];
    if (id !== 'system' && !icd) throw new Error(`no ICD for ${id}: run \`npm run setup:test-env\``);
    const full = args.includes('--full') || id === 'system';
    const r = spawnSync(process.execPath, ['--import', 'tsx', import.meta.filename, ...args], {
      stdio: 'inherit',
      env: {
        ...process.env,
        BENCH_MODEL_CHILD: '1',
        BENCH_MODEL_FULL: full ? '1' : '0',
        BENCH_MODEL_ID: id,
        ...(icd ? { VK_ICD_FILENAMES: icd } : {}),
      },
    });
    if (r.status !== 0) process.exitCode = 1;
  }
}
