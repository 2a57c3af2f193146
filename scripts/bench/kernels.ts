/**
 * `npm run bench:kernels`: every kernel family on each software adapter in Node (Dawn), one child
 * process per adapter (VK_ICD_FILENAMES from .vendor/test-env.json, written by `npm run setup:test-env`).
 * Prints per adapter: kernel, variant, dtype, shape, median ms, GB/s, GFLOP/s and the fraction of the
 * copy kernel's bandwidth measured in the same run. Results also go to artifacts/bench-<adapter>.json.
 *   --adapter lavapipe|swiftshader|system   only that adapter ('system': the machine's GPU)
 *   --only <regex>                          only the kernels whose name matches
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { timeKernel, timingMethod } from '../../src/gpu/timing';
import { type BenchCase, benchCases } from './cases';
import { engineCases } from './engine-cases';

const root = resolve(import.meta.dirname, '../..');

interface Row {
  kernel: string;
  variant: string;
  dtype: string;
  shape: string;
  ms: number;
  gbps: number;
  gflops: number | null;
  copyFraction: number;
  samples: number;
}

async function child(id: string): Promise<void> {
  const { create, globals } = await import('webgpu');
  const { GpuContext } = await import('../../src/gpu/context');
  const { acquireDevice } = await import('../../src/gpu/device');
  const { adapterName } = await import('../../src/gpu/testing/node-gpu');
  Object.assign(globalThis, globals);
  // Dawn rounds timestamps to 2¹⁶ ns by default (a browser privacy measure); a benchmark wants them exact.
  let gpu: GPU | null = create(['disable-dawn-features=timestamp_quantization']) as unknown as GPU;
  const { device, summary } = await acquireDevice(gpu, {
    onError: (e) => console.error(`[gpu] ${e.kind}: ${e.message}`),
  });
  const ctx = new GpuContext(device, summary);
  const adapter = adapterName(ctx);
  const method = timingMethod(ctx);
  console.log(`\nAdapter: ${adapter}`);
  console.log(
    `Timing: ${method === 'timestamp-query' ? 'GPU timestamp queries around each compute pass' : 'wall-clock over batches of dispatches, ended by queue.onSubmittedWorkDone'}; median per call`,
  );
  console.log(`shader-f16: ${ctx.summary.f16 ? 'yes' : 'no'}, default variant: ${ctx.variant}\n`);

  const measured: { c: BenchCase; ms: number; samples: number }[] = [];
  const t0 = performance.now();
  // --only <regex>: the kernels whose name matches (the copy yardstick always runs).
  const onlyAt = process.argv.indexOf('--only');
  const only = onlyAt >= 0 ? new RegExp(process.argv[onlyAt + 1]) : null;
  const cases = [...benchCases(ctx), ...engineCases(ctx)].filter(
    (c) => !only || c.kernel === 'copy' || only.test(c.kernel),
  );
  for (const c of cases) {
    const { call, inputs } = c.prepare(ctx);
    const t = await timeKernel(ctx, call, { budgetMs: 400, minSamples: 3, maxSamples: 25 });
    ctx.release(...inputs);
    ctx.pool.trim();
    measured.push({ c, ...t });
    process.stderr.write('.');
  }
  process.stderr.write('\n');
  const copyGBps = Math.max(
    ...measured.filter((m) => m.c.kernel === 'copy').map((m) => m.c.bytes / m.ms / 1e6),
  );
  const rows: Row[] = measured.map(({ c, ms, samples }) => ({
    kernel: c.kernel,
    variant: c.variant,
    dtype: c.dtype,
    shape: c.shape,
    ms,
    gbps: c.bytes / ms / 1e6,
    gflops: c.flops === null ? null : c.flops / ms / 1e6,
    copyFraction: c.bytes / ms / 1e6 / copyGBps,
    samples,
  }));
  printTable(rows);
  console.log(
    `\nCopy bandwidth (100%): ${copyGBps.toFixed(2)} GB/s. ${rows.length} cases in ${((performance.now() - t0) / 1000).toFixed(0)} s.`,
  );
  mkdirSync(join(root, 'artifacts'), { recursive: true });
  const out = join(root, 'artifacts', `bench-${id}.json`);
  writeFileSync(
    out,
    JSON.stringify({ adapter, method, copyGBps, rows, date: new Date().toISOString() }, null, 2),
  );
  console.log(`Written: ${out}`);
  ctx.destroy();
  device.destroy();
  gpu = null;
}

function printTable(rows: Row[]): void {
  const head = ['kernel', 'variant', 'dtype', 'shape', 'ms', 'GB/s', 'GFLOP/s', '% copy BW'];
  const body = rows.map((r) => [
    r.kernel,
    r.variant,
    r.dtype,
    r.shape,
    r.ms < 10 ? r.ms.toFixed(3) : r.ms.toFixed(1),
    r.gbps.toFixed(2),
    r.gflops === null ? '—' : r.gflops.toFixed(2),
    `${(100 * r.copyFraction).toFixed(0)}%`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const right = new Set([4, 5, 6, 7]);
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  console.log(line(head));
  console.log(
    `|${widths.map((w, i) => (right.has(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`,
  );
  for (const b of body) console.log(line(b));
}

function parent(): number {
  const envFile = join(root, '.vendor', 'test-env.json');
  if (!existsSync(envFile)) {
    console.error('No .vendor/test-env.json: run `npm run setup:test-env` first (or `npm test`).');
    return 1;
  }
  const env = JSON.parse(readFileSync(envFile, 'utf8'));
  const only = process.argv.includes('--adapter')
    ? process.argv[process.argv.indexOf('--adapter') + 1]
    : null;
  // 'system': the machine's own GPU (its Vulkan driver), only when asked for.
  const adapters = [
    { id: 'lavapipe', icd: env.lavapipe as string | undefined },
    { id: 'swiftshader', icd: env.swiftshader as string | undefined },
    ...(only === 'system' ? [{ id: 'system', icd: undefined }] : []),
  ].filter((a) => !only || a.id === only);
  // The Vulkan loader complains on every device creation when XDG_RUNTIME_DIR is unset.
  const xdg = process.env.XDG_RUNTIME_DIR ?? join(root, '.cache', 'xdg-runtime');
  mkdirSync(xdg, { recursive: true, mode: 0o700 });
  let status = 0;
  for (const a of adapters) {
    console.log(`\n━━ ${a.id}${a.icd ? ` (VK_ICD_FILENAMES=${a.icd})` : ''} ━━`);
    const pass = process.argv.includes('--only')
      ? ['--only', process.argv[process.argv.indexOf('--only') + 1]]
      : [];
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', import.meta.filename, '--child', a.id, ...pass],
      {
        cwd: root,
        stdio: 'inherit',
        env: { ...process.env, ...(a.icd ? { VK_ICD_FILENAMES: a.icd } : {}), XDG_RUNTIME_DIR: xdg },
      },
    );
    if (r.status !== 0) status = 1;
  }
  return status;
}

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) await child(process.argv[childAt + 1]);
else process.exitCode = parent();
