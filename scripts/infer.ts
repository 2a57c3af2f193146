/**
 * npm run infer -- --model <repo id|dir|url> (--video <file> | --frames <f32 file> --frames-shape F,3,H,W)
 *                  --question "…" [--option "text"]… [--temperature T] [--top-k K] [--top-p P]
 *                  [--seed S] [--max-new-tokens N] [--frame-count 16] [--weights auto|q4|full]
 *                  [--warmup] [--dump out.json] [--drop-ttft sequential|streamed|both] [--repeat N]
 *
 * Runs the app's own pipeline (engine worker, WebGPU kernels, WebCodecs) in headless Chromium under
 * Vite's dev server (scripts/browser/harness.ts); a local model folder, the video and the frames are
 * served by this script over HTTP (with Range requests). Prints the token stream as it comes, then the
 * parsed think / answer and the stats (with --warmup, of a second run, so they exclude the first
 * run's shader compilation). `--dump` writes one JSON object:
 * prompt_ids (the two text parts), vision_features, connector_output (flat, row-major), logits (one
 * full-vocabulary array per position: the last prompt position, then each decode step), greedy_ids
 * (the sampled ids), shapes, and dtype (the activation dtype of the run).
 *
 * `--drop-ttft` (with --video) measures time to first token from dropping the video, the model
 * already loaded: each run loads the video afresh and asks for one token, either sequentially (vision
 * at ask time: `sequential`) or with the vision tower streamed while the frames decode (`streamed`);
 * after one unmeasured run that compiles the shaders. Prints decode and vision times per run and the
 * medians.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type {
  AskEvent,
  AskStats,
  DoneEvent,
  ModelInfo,
  ModelLoadProgress,
  WeightFormat,
} from '../src/engine-client';
import { hubBaseUrl, ModelSpecError, resolveModel } from '../src/model/sources/resolve';
import { importInPage, openHarness } from './browser/harness';
import type { DropRun, InferArgs, InferOutput } from './browser/pages/infer';
import { serveFilesPlugin } from './browser/serve-files';

const PAGE_MODULE = '/scripts/browser/pages/infer.ts';

const USAGE = `usage: npm run infer -- --model <repo id[@rev]|dir|url> (--video <file> | --frames <file> --frames-shape F,3,H,W)
                     --question "…" [--option "text"]… [--temperature 0] [--top-k 50] [--top-p 1]
                     [--seed 0] [--max-new-tokens 1024] [--frame-count 16] [--weights auto|q4|full]
                     [--warmup] [--dump out.json] [--drop-ttft sequential|streamed|both] [--repeat 3]`;

function fail(message: string): never {
  console.error(`infer: ${message}\n${USAGE}`);
  process.exit(2);
}

function parse() {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      video: { type: 'string' },
      frames: { type: 'string' },
      'frames-shape': { type: 'string' },
      'frame-count': { type: 'string', default: '16' },
      question: { type: 'string' },
      option: { type: 'string', multiple: true, default: [] },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      seed: { type: 'string' },
      'max-new-tokens': { type: 'string' },
      dump: { type: 'string' },
      weights: { type: 'string', default: 'auto' },
      warmup: { type: 'boolean', default: false },
      'drop-ttft': { type: 'string' },
      repeat: { type: 'string', default: '3' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (!values.model) fail('--model is required');
  if (!values.question) fail('--question is required');
  if (values.video && values.frames) fail('give --video or --frames, not both');
  const num = (k: keyof typeof values) => {
    const v = values[k];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) fail(`--${k} must be a number, got ${v}`);
    return n;
  };
  let shape: [number, number, number, number] | undefined;
  if (values.frames) {
    const dims = (values['frames-shape'] ?? '').split(',').map(Number);
    if (dims.length !== 4 || !dims.every((d) => Number.isInteger(d) && d > 0))
      fail('--frames needs --frames-shape F,3,H,W');
    shape = dims as [number, number, number, number];
    const bytes = statSync(values.frames).size;
    if (bytes !== shape.reduce((a, b) => a * b, 4))
      fail(
        `${values.frames} has ${bytes} bytes; shape ${shape.join('×')} of f32 needs ${shape.reduce((a, b) => a * b, 4)}`,
      );
  }
  for (const f of [values.video, values.frames]) if (f && !existsSync(f)) fail(`no such file: ${f}`);
  if (!['auto', 'q4', 'full'].includes(values.weights)) fail('--weights is auto, q4 or full');
  const drop = values['drop-ttft'];
  if (drop !== undefined && !['sequential', 'streamed', 'both'].includes(drop))
    fail('--drop-ttft is sequential, streamed or both');
  if (drop && !values.video) fail('--drop-ttft needs --video');
  const sampling = Object.fromEntries(
    Object.entries({
      temperature: num('temperature'),
      topK: num('top-k'),
      topP: num('top-p'),
      seed: num('seed'),
      maxNewTokens: num('max-new-tokens'),
    }).filter(([, v]) => v !== undefined),
  );
  return {
    ...values,
    model: values.model,
    question: values.question,
    weights: values.weights as WeightFormat,
    shape,
    sampling,
    frameCount: num('frame-count')!,
    dropRuns: drop
      ? {
          modes: drop === 'both' ? [false, true] : [drop === 'streamed'],
          repeat: Math.max(1, num('repeat')!),
        }
      : undefined,
  };
}

// ---- HTTP: the model folder and the inputs, with Range support ----------------------------------

/** A local model folder is served at MODEL_PREFIX<folder name>/, so the app names it after the folder. */
const MODEL_PREFIX = '/__infer/models/';

// ---- printing ------------------------------------------------------------------------------------

const ms = (v: number | null | undefined) =>
  v === null || v === undefined
    ? '—'
    : v < 10
      ? `${v.toFixed(1)} ms`
      : v < 10_000
        ? `${Math.round(v)} ms`
        : `${(v / 1000).toFixed(1)} s`;
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

function statsLine(s: AskStats): string {
  const st = s.stages;
  return [
    `TTFT ${ms(s.timeToFirstTokenMs)}`,
    `${s.tokensPerSecond.toFixed(1)} tok/s`,
    `${s.newTokens} new tokens (${s.promptTokens} prompt, ${s.visualTokens} visual${s.visualCached ? ', reused' : ''})`,
    `video decode ${ms(st.videoDecodeMs)}`,
    `preprocess ${ms(st.preprocessMs)}`,
    `vision ${ms(st.visionMs)}`,
    `connector ${ms(st.connectorMs)}`,
    `prefill ${ms(st.prefillMs)}`,
    `decode ${ms(st.decodeMs)}`,
    `total ${ms(s.totalMs)}`,
    `stopped by ${s.stoppedBy}`,
  ].join(' · ');
}

const dropResults: DropRun[] = [];

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function dropSummary(): void {
  for (const ahead of [false, true]) {
    const runs = dropResults.filter((d) => d.visionAhead === ahead);
    if (!runs.length) continue;
    const vision = runs.map((d) =>
      d.stats.stages.visionAhead
        ? d.stats.stages.visionAhead.preprocessMs + d.stats.stages.visionAhead.visionMs
        : d.stats.stages.preprocessMs + d.stats.stages.visionMs,
    );
    process.stdout.write(
      `median   ${ahead ? 'streamed  ' : 'sequential'} (${runs.length} runs) · TTFT from drop ${ms(median(runs.map((d) => d.ttftFromDropMs)))} · ` +
        `decode ${ms(median(runs.map((d) => d.decodeMs)))} · preprocess + vision ${ms(median(vision))}\n`,
    );
  }
}

/** Retries already printed (each load event carries the running count). */
let retriesShown = 0;

/** The adapter's activation dtype (reported in the dump: tolerances depend on it). */
let activationDtype = 'f32';

function onEvent(json: string): void {
  const { type, data } = JSON.parse(json) as { type: string; data: unknown };
  const out = process.stdout;
  if (type === 'adapter') {
    const a = data as {
      vendor: string;
      architecture: string;
      description: string;
      f16: boolean;
      isSoftware: boolean;
    };
    activationDtype = a.f16 ? 'f16' : 'f32';
    out.write(
      `adapter  ${[a.vendor, a.architecture, a.description].filter(Boolean).join(' ')} (${a.isSoftware ? 'software' : 'hardware'}, ${a.f16 ? 'f16' : 'f32'})\n`,
    );
  } else if (type === 'load') {
    const p = data as ModelLoadProgress;
    const d = p.download;
    if (d?.lastRetry && d.retries > retriesShown) {
      retriesShown = d.retries;
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      process.stdout.write(
        `retry    ${d.lastRetry.file} (attempt ${d.lastRetry.attempt}, in ${ms(d.lastRetry.delayMs)}): ${d.lastRetry.reason}\n`,
      );
    }
    const net = d
      ? ` · download ${mib(d.loadedBytes)} / ${mib(d.totalBytes)} at ${mib(d.bytesPerSecond)}/s` +
        (d.secondsLeft === undefined ? '' : `, ${Math.ceil(d.secondsLeft)} s left`)
      : '';
    if (process.stderr.isTTY)
      process.stderr.write(
        `\rloading  ${p.phase} ${p.totalBytes ? `${mib(p.loadedBytes)} / ${mib(p.totalBytes)}` : ''}${net}   `,
      );
  } else if (type === 'model') {
    const m = data as ModelInfo;
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    out.write(
      `model    ${m.name} (${m.source}) · ${(m.parameters / 1e6).toFixed(2)} M params · ${mib(m.bytesOnGpu)} on the GPU (${m.dtype}${m.quantized ? ', LLM 4-bit' : ''}) · loaded in ${ms(m.loadMs)}\n`,
    );
  } else if (type === 'video') {
    const v = data as {
      facts: { width?: number; height?: number; frameCount?: number };
      indices: number[];
      timeMs: number;
      path: string;
    };
    out.write(
      `video    ${v.indices.length} frames sampled (${v.path}) in ${ms(v.timeMs)}: ${v.indices.join(', ')}\n`,
    );
  } else if (type === 'ask') {
    const e = data as AskEvent;
    if (e.type === 'start') {
      const s = e.sampling;
      out.write(
        `prompt   ${e.promptTokens} positions · visual: ${e.visual}${e.frames ? ` (${e.frames} frames)` : ''}${e.truncated ? ` · ${e.truncated} cut` : ''} · ` +
          `${s.temperature <= 0 ? 'greedy' : `temperature ${s.temperature}, top-k ${s.topK}, top-p ${s.topP}, seed ${s.seed}`} · max ${s.maxNewTokens} new tokens\n`,
      );
    } else if (e.type === 'phase' && e.state === 'end' && e.phase !== 'decode') {
      out.write(`phase    ${e.phase} ${ms(e.ms)}${e.cached ? ' (cached)' : ''}\n`);
      if (e.phase === 'prefill') out.write('──── stream ────\n');
    } else if (e.type === 'token') out.write(e.text);
  } else if (type === 'drop') {
    const d = data as DropRun;
    const st = d.stats.stages;
    const ahead = st.visionAhead;
    const vision = ahead
      ? `vision ran ahead: preprocess ${ms(ahead.preprocessMs)}, tower ${ms(ahead.visionMs)} (GPU), waited ${ms(ahead.waitMs)}`
      : `vision at ask: preprocess ${ms(st.preprocessMs)}, tower ${ms(st.visionMs)}`;
    out.write(
      `drop     ${d.visionAhead ? 'streamed  ' : 'sequential'} ${d.run < 0 ? 'warmup' : `run ${d.run + 1}`} · ` +
        `TTFT from drop ${ms(d.ttftFromDropMs)} · decode ${ms(d.decodeMs)} (load ${ms(d.loadMs)}) · ${vision} · ` +
        `connector ${ms(st.connectorMs)} · prefill ${ms(st.prefillMs)} · ask TTFT ${ms(d.stats.timeToFirstTokenMs)}\n`,
    );
    if (d.run >= 0) dropResults.push(d);
  } else if (type === 'warmup') {
    out.write(`warmup   ${statsLine(data as AskStats)}\n`);
  } else if (type === 'result') {
    const r = data as { done: DoneEvent; stats: AskStats };
    out.write('\n──── end ────\n');
    out.write(`think    ${JSON.stringify(r.done.thinkText)}\n`);
    out.write(
      `answer   ${JSON.stringify(r.done.answerText || r.done.answer)} · option ${r.done.option ?? 'none'}\n`,
    );
    out.write(`stats    ${statsLine(r.stats)}\n`);
  }
}

// ---- dump ----------------------------------------------------------------------------------------

function f32(b64: string): Float32Array {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

const list = (a: ArrayLike<number>) => `[${Array.prototype.join.call(a, ',')}]`;

function writeDump(path: string, out: InferOutput, dtype: string): void {
  const d = out.dump!;
  const vision = d.visionFeatures ? list(f32(d.visionFeatures)) : 'null';
  const connector = d.connectorOutput ? list(f32(d.connectorOutput)) : 'null';
  const shapes = {
    prompt_ids: [d.promptIds[0].length, d.promptIds[1].length],
    vision_features: d.shapes.visionFeatures,
    connector_output: d.shapes.connectorOutput,
    logits: d.shapes.logits,
    greedy_ids: [out.ids!.length],
  };
  // Written by hand: the logits are ~1M numbers per 8 rows, too many for one JSON.stringify string.
  const parts = [
    `{"prompt_ids":${JSON.stringify(d.promptIds)}`,
    `,"vision_features":${vision}`,
    `,"connector_output":${connector}`,
    `,"logits":[${d.logits.map((r) => list(f32(r))).join(',')}]`,
    `,"greedy_ids":${JSON.stringify(out.ids)}`,
    `,"shapes":${JSON.stringify(shapes)}`,
    `,"dtype":${JSON.stringify(dtype)}}\n`,
  ];
  writeFileSync(path, parts.join(''));
}

// ---- main ----------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const a = parse();
  // A path that exists is a folder, an http(s):// string a base URL, anything else a hub repo id.
  let model: ReturnType<typeof resolveModel>;
  try {
    model = resolveModel(a.model, {
      endpoint: process.env.HF_ENDPOINT,
      isFolder: (p) => existsSync(p) && statSync(p).isDirectory(),
    });
  } catch (e) {
    if (e instanceof ModelSpecError) fail(e.message);
    throw e;
  }
  const modelDir = model.kind === 'folder' ? resolve(model.path) : undefined;
  if (modelDir && !existsSync(modelDir)) fail(`no such folder: ${modelDir} (nor a hub repo id ns/name)`);
  if (modelDir && !existsSync(join(modelDir, 'config.json'))) fail(`${modelDir} has no config.json`);
  const remoteUrl = model.kind === 'hub' ? hubBaseUrl(model) : model.kind === 'url' ? model.base : undefined;
  if (model.kind === 'hub')
    process.stdout.write(`source   hub ${model.repo}@${model.revision} (${remoteUrl})\n`);
  const harness = await openHarness({
    plugins: [
      serveFilesPlugin('infer-files', {
        [`${MODEL_PREFIX}${basename(modelDir ?? '')}/`]: modelDir,
        '/__infer/video': a.video && resolve(a.video),
        '/__infer/frames': a.frames && resolve(a.frames),
      }),
    ],
  });
  const { page, origin: base } = harness;
  try {
    await page.exposeFunction('__inferEvent', onEvent);
    const args: InferArgs = {
      weights: a.weights,
      modelUrl: remoteUrl ?? `${base}${MODEL_PREFIX}${encodeURIComponent(basename(modelDir!))}/`,
      video: a.video ? { url: `${base}/__infer/video`, frames: a.frameCount } : undefined,
      frames: a.frames ? { url: `${base}/__infer/frames`, shape: a.shape! } : undefined,
      question: a.question,
      options: a.option,
      sampling: a.sampling,
      dump: Boolean(a.dump),
      warmup: Boolean(a.warmup),
      dropRuns: a.dropRuns,
    };
    if (a.video) process.stdout.write(`input    ${basename(a.video)}\n`);
    if (a.frames) process.stdout.write(`input    ${basename(a.frames)} [${a.shape!.join(', ')}]\n`);
    await importInPage(page, PAGE_MODULE);
    const out = (await page.evaluate(
      `import('${PAGE_MODULE}').then((m) => m.runInfer(${JSON.stringify(args)}))`,
    )) as InferOutput;
    if (out.error) {
      // The page saw the folder through this harness's server: name the folder the user gave.
      const message = modelDir
        ? out.error.message.replaceAll(args.modelUrl, `${modelDir}/`)
        : out.error.message;
      console.error(
        `\ninfer: ${out.error.kind}: ${message}${out.error.hint ? `\n       ${out.error.hint}` : ''}`,
      );
      return 1;
    }
    if (a.dropRuns) {
      dropSummary();
      return 0;
    }
    if (a.dump) {
      writeDump(a.dump, out, activationDtype);
      process.stdout.write(`dump     ${a.dump}\n`);
    }
    return 0;
  } finally {
    await harness.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e?.stack ?? e);
    process.exit(1);
  },
);
