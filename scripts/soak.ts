/**
 * `npm run soak [-- --questions 200 --swaps 50 --steps 100 --model public/models/<name> --frames 16]`:
 * one engine on Dawn (lavapipe from .vendor/test-env.json unless VK_ICD_FILENAMES is set) answers many
 * questions in a row on the shipped demo model (the page's default unless --model), swaps videos, then
 * runs GRPO steps (src/worker/testing/soak.ts); prints the live GPU buffers and heap every 10
 * iterations and, per phase, the growth from the first 50 iterations to the last 50 of what the engine
 * holds (the pool's free scratch given back before each sample, and reported). Exit 1 on growth.
 * Writes artifacts/soak.json.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const root = join(import.meta.dirname, '..');
const mib = (b: number) => (b / 2 ** 20).toFixed(3);

/** The page's default model folder (src/ui/model/model-slice.ts), read as text: the UI is not loaded here. */
function shippedModel(): string {
  const src = readFileSync(join(root, 'src/ui/model/model-slice.ts'), 'utf8');
  const m = /DEFAULT_MODEL_PATH = '([^']+)'/.exec(src);
  if (!m) throw new Error('DEFAULT_MODEL_PATH not found in src/ui/model/model-slice.ts');
  return join('public', m[1]);
}

async function main(): Promise<number> {
  const { values: o } = parseArgs({
    options: {
      questions: { type: 'string', default: '200' },
      swaps: { type: 'string', default: '50' },
      steps: { type: 'string', default: '100' },
      frames: { type: 'string', default: '16' },
      tokens: { type: 'string', default: '8' },
      model: { type: 'string' },
    },
  });
  if (!process.env.VK_ICD_FILENAMES) {
    const envFile = join(root, '.vendor/test-env.json');
    if (existsSync(envFile)) {
      const icd = JSON.parse(readFileSync(envFile, 'utf8')).lavapipe as string | undefined;
      if (icd) process.env.VK_ICD_FILENAMES = icd;
    }
  }
  process.env.XDG_RUNTIME_DIR ??= join(root, '.cache', 'xdg');
  mkdirSync(process.env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });

  const dir = o.model ?? shippedModel();
  if (!existsSync(join(root, dir, 'config.json'))) {
    console.error(`No model at ${dir} (no config.json): run \`npm run fixtures\` or pass --model <folder>.`);
    return 2;
  }
  const files = readdirSync(join(root, dir))
    .filter((n) => statSync(join(root, dir, n)).isFile())
    .map((n) => new File([readFileSync(join(root, dir, n))], n));

  const { adapterName, closeNodeGpu, nodeGpuContext } = await import('../src/gpu/testing/node-gpu');
  const { runSoak, verdict } = await import('../src/worker/testing/soak');
  const ctx = await nodeGpuContext();
  const counts = { questions: Number(o.questions), swaps: Number(o.swaps), grpoSteps: Number(o.steps) };
  console.log(`Adapter: ${adapterName(ctx)} (${ctx.actDtype}); model ${dir}; ${JSON.stringify(counts)}`);
  try {
    const phases = await runSoak(ctx, {
      ...counts,
      modelFiles: files,
      frames: Number(o.frames),
      maxNewTokens: Number(o.tokens),
      log: (l) => console.log(`  ${l}`),
    });
    let ok = true;

    const report = phases.map((p) => {
      const v = verdict(p.samples);
      ok &&= v.ok;
      const first = p.samples[0];
      const last = p.samples.at(-1)!;
      console.log(
        `${p.name}: ${p.samples.length} in ${(p.ms / 1000).toFixed(0)} s; GPU ${mib(first.gpuBytes)} → ${mib(last.gpuBytes)} MiB, ${first.gpuBuffers} → ${last.gpuBuffers} buffers; ` +
          `pool's free scratch up to ${mib(Math.max(...p.samples.map((x) => x.pooledBytes)))} MiB; ` +
          `growth first ${v.window} → last ${v.window}: ${v.gpuBytesGrowth} B, ${v.gpuBuffersGrowth} buffers, heap ${mib(v.heapGrowth)} MiB (allowed ${mib(v.heapAllowance)}) → ${v.ok ? 'no growth' : 'GROWTH'}`,
      );
      return { name: p.name, ms: p.ms, verdict: v, samples: p.samples };
    });
    mkdirSync(join(root, 'artifacts'), { recursive: true });
    writeFileSync(
      join(root, 'artifacts/soak.json'),
      JSON.stringify({ adapter: adapterName(ctx), model: dir, counts, phases: report }, null, 1),
    );
    return ok ? 0 : 1;
  } finally {
    closeNodeGpu(ctx);
  }
}

process.exit(await main());
