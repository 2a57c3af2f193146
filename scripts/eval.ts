/**
 * npm run eval -- --model <repo id|dir|url> --data <jsonl> [--videos <dir>] --out <results.jsonl>
 *                 [--frames 16] [--max-new-tokens 1024] [--temperature 0] [--seed 0] [--limit N]
 *                 [--weights auto|q4|full] [--adapter <dir>]
 *
 * Runs the app's own ask pipeline (headless Chromium: engine worker, WebCodecs decode, WebGPU kernels;
 * greedy unless told) on every item of a dataset in the paper's JSONL (problem, solution,
 * video_filename, problem_id; videos beside the JSONL unless --videos says where) and writes one JSON
 * line per item, in order: problem_id, completion (decoded without special tokens, stripped), think,
 * answer, option, accuracy, format, reward (the upstream rewards, src/rl-lite/rewards.ts), plus error
 * when the item could not be answered. Prints accuracy and format rate, with chance beside them.
 * --adapter: a LoRA adapter in PEFT's layout (adapter_config.json + adapter_model.safetensors, as the
 * page downloads them or rl:train writes them), checked against the model and merged for every answer.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ModelInfo, WeightFormat } from '../src/engine-client';
import { parseReasoning } from '../src/model/reasoning-parser';
import { hubBaseUrl, ModelSpecError, resolveModel } from '../src/model/sources/resolve';
import { DatasetError, type DatasetItem, parseDataset } from '../src/rl-lite/dataset';
import { pyStrip, scoreCompletion } from '../src/rl-lite/rewards';
import { importInPage, openHarness } from './browser/harness';
import type { EvalAnswer, EvalArgs } from './browser/pages/eval';
import { serveFilesPlugin } from './browser/serve-files';

const PAGE_MODULE = '/scripts/browser/pages/eval.ts';
const USAGE = `usage: npm run eval -- --model <repo id[@rev]|dir|url> --data <jsonl> [--videos <dir>] --out <results.jsonl>
                    [--frames 16] [--max-new-tokens 1024] [--temperature 0] [--seed 0] [--limit N] [--weights auto|q4|full]
                    [--adapter <dir>]`;

function fail(message: string): never {
  console.error(`eval: ${message}\n${USAGE}`);
  process.exit(2);
}

function parse() {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      data: { type: 'string' },
      videos: { type: 'string' },
      out: { type: 'string' },
      frames: { type: 'string', default: '16' },
      'max-new-tokens': { type: 'string', default: '1024' },
      temperature: { type: 'string', default: '0' },
      seed: { type: 'string', default: '0' },
      limit: { type: 'string' },
      weights: { type: 'string', default: 'auto' },
      adapter: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  for (const k of ['model', 'data', 'out'] as const) if (!values[k]) fail(`--${k} is required`);
  const num = (k: 'frames' | 'max-new-tokens' | 'temperature' | 'seed' | 'limit', int: boolean) => {
    const v = values[k];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || (int && (!Number.isInteger(n) || n < 0)))
      fail(`--${k} must be ${int ? 'a whole number' : 'a number'}, got ${v}`);
    return n;
  };
  if (!['auto', 'q4', 'full'].includes(values.weights)) fail('--weights is auto, q4 or full');
  const data = resolve(values.data!);
  if (!existsSync(data)) fail(`no such file: ${data}`);
  const videos = resolve(values.videos ?? dirname(data));
  if (!existsSync(videos) || !statSync(videos).isDirectory()) fail(`no such folder: ${videos}`);
  const adapter = values.adapter ? resolve(values.adapter) : undefined;
  for (const f of ['adapter_config.json', 'adapter_model.safetensors'])
    if (adapter && !existsSync(join(adapter, f))) fail(`--adapter ${adapter} has no ${f}`);
  return {
    adapter,
    model: values.model!,
    data,
    videos,
    out: resolve(values.out!),
    frames: num('frames', true)!,
    limit: num('limit', true),
    weights: values.weights as WeightFormat,
    sampling: {
      temperature: num('temperature', false)!,
      seed: num('seed', true)!,
      maxNewTokens: num('max-new-tokens', true)!,
    },
  };
}

/** 1 / the number of options listed in a problem ("Options:\nA. …"), or null when it lists none. */
function chanceOf(problem: string): number | null {
  const n = problem.split('\n').filter((l) => /^[A-Z]\.\s/.test(l.trim())).length;
  return n > 0 ? 1 / n : null;
}

/** The result line of one item, in the command's stable field order. */
function resultLine(item: DatasetItem, a: EvalAnswer) {
  if (a.error)
    return {
      problem_id: item.problem_id,
      completion: '',
      think: '',
      answer: '',
      option: null,
      accuracy: 0,
      format: 0,
      reward: -2,
      error: `${a.error.kind}: ${a.error.message}`,
    };
  const completion = pyStrip(a.text ?? '');
  const done = parseReasoning(completion);
  const r = scoreCompletion(completion, item.solution);
  return {
    problem_id: item.problem_id,
    completion,
    think: done.thinkText,
    answer: done.answerText,
    option: done.option,
    accuracy: r.accuracy,
    format: r.format,
    reward: r.total,
  };
}

async function main(): Promise<number> {
  const a = parse();
  let items: DatasetItem[];
  try {
    items = parseDataset(readFileSync(a.data, 'utf8'), a.data);
  } catch (e) {
    if (e instanceof DatasetError) fail(e.message);
    throw e;
  }
  if (a.limit !== undefined) items = items.slice(0, a.limit);
  const missing = items.find((it) => !existsSync(join(a.videos, it.video_filename)));
  if (missing)
    fail(`item ${missing.problem_id}: no video ${join(a.videos, missing.video_filename)} (use --videos)`);

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
  if (modelDir && !existsSync(join(modelDir, 'config.json'))) fail(`${modelDir} has no config.json`);
  const modelPrefix = `/__eval/models/${basename(modelDir ?? 'remote')}/`;
  const harness = await openHarness({
    plugins: [
      serveFilesPlugin('eval-files', {
        [modelPrefix]: modelDir,
        '/__eval/videos/': a.videos,
        '/__eval/adapter/': a.adapter,
      }),
    ],
  });
  const results: ReturnType<typeof resultLine>[] = [];
  const t0 = performance.now();
  try {
    await harness.page.exposeFunction('__evalEvent', (json: string) => {
      const { type, data } = JSON.parse(json) as { type: string; data: unknown };
      if (type === 'model') {
        const m = data as ModelInfo;
        process.stdout.write(
          `model    ${m.name} · ${(m.parameters / 1e6).toFixed(2)} M params (${m.dtype}${m.quantized ? ', LLM 4-bit' : ''})\n`,
        );
      } else if (type === 'lora') {
        const l = data as { r: number; alpha: number; targets: string[] };
        process.stdout.write(
          `adapter  ${a.adapter} · r ${l.r} · alpha ${l.alpha} · ${l.targets.join(', ')}\n`,
        );
      } else if (type === 'answer') {
        const ans = data as EvalAnswer;
        const line = resultLine(items[ans.index], ans);
        results.push(line);
        writeFileSync(a.out, `${results.map((r) => JSON.stringify(r)).join('\n')}\n`);
        const mark = line.error
          ? `error (${line.error})`
          : `${line.accuracy ? 'right' : 'wrong'} · option ${line.option ?? '—'} · format ${line.format.toFixed(2)}`;
        process.stdout.write(
          `${String(results.length).padStart(4)}/${items.length} ${String(line.problem_id)}: ${mark} · ${(ans.ms / 1000).toFixed(1)} s\n`,
        );
      }
    });
    const remote = model.kind === 'hub' ? hubBaseUrl(model) : model.kind === 'url' ? model.base : undefined;
    const args: EvalArgs = {
      modelUrl: remote ?? `${harness.origin}${modelPrefix}`,
      weights: a.weights,
      adapterUrl: a.adapter ? `${harness.origin}/__eval/adapter/` : undefined,
      frames: a.frames,
      sampling: a.sampling,
      items: items.map((it, index) => ({
        index,
        problem: it.problem,
        videoUrl: `${harness.origin}/__eval/videos/${it.video_filename.split('/').map(encodeURIComponent).join('/')}`,
      })),
    };
    await importInPage(harness.page, PAGE_MODULE);
    const out = (await harness.page.evaluate(
      `import('${PAGE_MODULE}').then((m) => m.runEval(${JSON.stringify(args)}))`,
    )) as {
      error?: { kind: string; message: string; hint: string };
    };
    if (out.error) {
      console.error(
        `eval: ${out.error.kind}: ${out.error.message}${out.error.hint ? `\n      ${out.error.hint}` : ''}`,
      );
      return 1;
    }
  } finally {
    await harness.close();
  }
  const n = results.length;
  const mean = (f: (r: (typeof results)[number]) => number) =>
    n ? results.reduce((s, r) => s + f(r), 0) / n : 0;
  const chances = items.map((it) => chanceOf(it.problem)).filter((c): c is number => c !== null);
  const chance = chances.length ? chances.reduce((s, c) => s + c, 0) / chances.length : null;
  const errors = results.filter((r) => r.error).length;
  process.stdout.write(
    `\n${n} items in ${((performance.now() - t0) / 1000).toFixed(0)} s: accuracy ${mean((r) => r.accuracy).toFixed(3)}` +
      `${chance !== null ? ` (chance ${chance.toFixed(3)})` : ''} · format rate ${mean((r) => (r.format > 0 ? 1 : 0)).toFixed(3)}` +
      ` · mean reward ${mean((r) => r.reward).toFixed(3)}${errors ? ` · ${errors} not answered` : ''}\nresults  ${a.out}\n`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e?.stack ?? e);
    process.exit(1);
  },
);
