/**
 * `npm run bench:peer`: our WebGPU kernels side by side with onnxruntime-web's WebGPU execution
 * provider, on the same adapter and the same shapes, in headless Chromium (the browser harness's
 * system Chromium and flags). Both ORT WebGPU backends are measured: the native C++ EP
 * (ort.webgpu.min.mjs) and the JS EP (ort.min.mjs, the package's default import).
 *   - 4-bit MatMulNBits (block 32, zero point 8) against our matmulQ4 on the same codes and scales;
 *   - com.microsoft GroupQueryAttention (static KV cache) against our kvWrite + attentionDecode.
 * Every backend's output is checked against a CPU reference before it is timed. I/O stays on the GPU
 * for ORT (GPU-buffer inputs and pre-allocated GPU-buffer outputs), so the times are kernels plus each
 * engine's per-call dispatch overhead, not transfers. Prints a table (ours ÷ theirs: < 1 means we are
 * faster) and writes artifacts/bench-peer.json.
 *   --full                  the model's shapes even on a software adapter
 *   --backends a,b          a subset of ours,ort-native,ort-jsep
 *   --only <substring>      only cases whose id contains it
 *   --budget <ms>           sampling budget per case and backend (software default 800: calls slower than the
 *                           budget are timed once; e.g. --full --budget 10000 takes medians of ≥ 3 at seconds per call)
 *   --hw                    drop the SwiftShader flags from the Chromium arguments, so Chromium picks a real
 *                           GPU (CHROME_PATH chooses the browser)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page } from '@playwright/test';
import { CHROMIUM_ARGS, HARDWARE_GPU_ARGS, openHarness } from '../browser/harness';
import type { AdapterReport, Backend, CaseResult, PeerCase, TimingOptions } from '../browser/pages/peer';
import { caseLabel, ourBytes, peerCases, peerTiming } from './peer/cases';
import { type CaseArrays, caseArrays } from './peer/data';
import { peerRoutes } from './peer/server';

const root = resolve(import.meta.dirname, '../..');
const PAGE_MODULE = '/scripts/browser/pages/peer.ts';
const BACKENDS: Backend[] = ['ours', 'ort-native', 'ort-jsep'];

function arg(name: string): string | null {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? null) : null;
}

type PageModule = typeof import('../browser/pages/peer');

async function runBackend(
  page: Page,
  backend: Backend,
  cases: PeerCase[],
  timing: TimingOptions,
): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const c of cases) {
    const t0 = performance.now();
    const r = await page.evaluate(
      async ({ mod, backend, c, timing }) => {
        const m = (await import(/* @vite-ignore */ mod)) as PageModule;
        return m.runCase(backend, c, timing);
      },
      { mod: PAGE_MODULE, backend, c, timing },
    );
    results.push(r);
    const verdict = r.error
      ? `FAILED: ${r.error}`
      : `${r.ms?.toFixed(3)} ms (${r.samples} samples), max err ${r.maxErr.toExponential(1)} ≤ ${r.tol.toExponential(1)}${r.maxErr <= r.tol ? '' : ' WRONG'}`;
    console.log(
      `  ${backend.padEnd(10)} ${c.id.padEnd(26)} ${verdict}  [${((performance.now() - t0) / 1000).toFixed(1)} s]`,
    );
  }
  return results;
}

interface Row {
  id: string;
  op: string;
  shape: string;
  dtype: string;
  /** Median ms of the backends whose output matched the reference. */
  ms: Partial<Record<Backend, number | null>>;
  /** Median ms of backends that ran but computed a wrong result (shown, never compared). */
  wrongMs: Partial<Record<Backend, number>>;
  /** ours ÷ theirs per ORT backend (< 1: ours is faster). */
  ratio: Partial<Record<Backend, number | null>>;
  oursGBps: number | null;
  /** matmul only: 2·M·N·K over our time. */
  oursGflops: number | null;
  /** Per backend: the output matched the CPU reference. */
  correct: Partial<Record<Backend, boolean>>;
  errors: Partial<Record<Backend, string>>;
}

function fmtMs(v: number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  return v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(0);
}

/** Three significant digits (software adapters reach a few MB/s, real GPUs hundreds of GB/s). */
function sig(v: number | null): string {
  if (v === null) return '—';
  return v >= 100 ? v.toFixed(0) : v.toPrecision(3);
}

function printTable(rows: Row[], backends: Backend[]): void {
  const ort = backends.filter((b) => b !== 'ours');
  const head = [
    'op',
    'shape',
    'dtype',
    ...backends.map((b) => `${b} ms`),
    ...ort.map((b) => `ours÷${b.replace('ort-', '')}`),
    'ours GB/s',
    'ours GFLOP/s',
    'check',
  ];
  const body = rows.map((r) => [
    r.op,
    r.shape,
    r.dtype,
    ...backends.map((b) => (r.wrongMs[b] !== undefined ? `${fmtMs(r.wrongMs[b])} ✗` : fmtMs(r.ms[b]))),
    ...ort.map((b) => {
      const v = r.ratio[b];
      return v === null || v === undefined ? '—' : v.toFixed(2);
    }),
    sig(r.oursGBps),
    sig(r.oursGflops),
    backends.every((b) => r.correct[b]) ? 'ok' : `✗ ${backends.filter((b) => !r.correct[b]).join(', ')}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const right = (i: number) => i >= 3 && i < head.length - 1;
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (right(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  console.log(line(head));
  console.log(
    `|${widths.map((w, i) => (right(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`,
  );
  for (const b of body) console.log(line(b));
}

async function main(): Promise<number> {
  const ortVersion = JSON.parse(
    readFileSync(join(root, 'node_modules', 'onnxruntime-web', 'package.json'), 'utf8'),
  ).version as string;
  const backends = (arg('--backends')?.split(',') as Backend[] | undefined) ?? BACKENDS;
  for (const b of backends) if (!BACKENDS.includes(b)) throw new Error(`unknown backend ${b}`);
  const only = arg('--only');
  const t0 = performance.now();
  const arrays = new Map<string, CaseArrays>();
  const routes = peerRoutes(root, (id, name) => {
    const a = arrays.get(id)?.[name];
    return a && new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  });
  const harness = await openHarness({
    plugins: [routes],
    args: process.argv.includes('--hw') ? HARDWARE_GPU_ARGS : CHROMIUM_ARGS,
  });
  try {
    const probe = harness.page;
    const adapter = await probe.evaluate(async (mod) => {
      const m = (await import(/* @vite-ignore */ mod)) as PageModule;
      return m.adapterReport();
    }, PAGE_MODULE);
    await probe.close();
    const software =
      adapter.isFallback || /swiftshader|llvmpipe|lavapipe|software/i.test(JSON.stringify(adapter));
    const full = process.argv.includes('--full') || !software;
    const cases = peerCases(!full, adapter.f16).filter((c) => !only || c.id.includes(only));
    const budget = arg('--budget');
    const timing = { ...peerTiming(software), ...(budget ? { budgetMs: Number(budget) } : {}) };
    if (!(timing.budgetMs >= 0)) throw new Error(`bad --budget ${budget}`);
    const tData = performance.now();
    for (const c of cases) arrays.set(c.id, caseArrays(c));
    const dataS = ((performance.now() - tData) / 1000).toFixed(1);
    const adapterName = describeAdapter(adapter);
    console.log(`Adapter: ${adapterName}`);
    console.log(
      `onnxruntime-web ${ortVersion}: ort-native = ort.webgpu.min.mjs (C++ WebGPU EP), ort-jsep = ort.min.mjs (JSEP)`,
    );
    console.log(
      `Shapes: ${full ? "the model's" : 'scaled down for a software adapter (--full for the model shapes)'}; ` +
        `${adapter.f16 ? 'f32 and f16' : 'f32'} activations; ` +
        `timing: wall-clock over batches of calls ended by queue.onSubmittedWorkDone, median of up to ${timing.maxSamples} batches, warm-up excluded; ` +
        'ORT inputs and outputs are GPU buffers (no transfers timed).',
    );
    console.log(
      `Inputs, quantization and f64 CPU references made once in Node (${dataS} s); every backend is checked against them before timing.\n`,
    );

    const results = new Map<string, CaseResult>();
    for (const b of backends) {
      const page = await harness.newPage();
      try {
        for (const r of await runBackend(page, b, cases, timing)) results.set(`${b}:${r.id}`, r);
      } finally {
        await page.close();
      }
    }

    const rows: Row[] = cases.map((c) => {
      const get = (b: Backend) => results.get(`${b}:${c.id}`);
      const ok = (b: Backend) => {
        const r = get(b);
        return Boolean(r && !r.error && r.ms !== null && r.maxErr <= r.tol);
      };
      const ms = Object.fromEntries(backends.map((b) => [b, ok(b) ? (get(b)?.ms ?? null) : null]));
      const ours = ms.ours ?? null;
      return {
        id: c.id,
        ...caseLabel(c),
        dtype: c.dtype,
        ms,
        wrongMs: Object.fromEntries(
          backends.flatMap((b) => {
            const r = get(b);
            return r && !r.error && r.ms !== null && !(r.maxErr <= r.tol) ? [[b, r.ms]] : [];
          }),
        ),
        ratio: Object.fromEntries(
          backends.filter((b) => b !== 'ours').map((b) => [b, ours !== null && ms[b] ? ours / ms[b] : null]),
        ),
        oursGBps: ours === null ? null : ourBytes(c) / ours / 1e6,
        oursGflops: ours === null || c.kind !== 'matmul' ? null : (2 * c.M * c.N * c.K) / ours / 1e6,
        correct: Object.fromEntries(backends.map((b) => [b, ok(b)])),
        errors: Object.fromEntries(
          backends.flatMap((b) => {
            const r = get(b);
            if (!r) return [[b, 'not run']];
            if (r.error) return [[b, r.error]];
            if (!(r.maxErr <= r.tol)) return [[b, `max err ${r.maxErr} > ${r.tol}`]];
            return [];
          }),
        ),
      };
    });
    console.log(`\nAdapter: ${adapterName}\n`);
    printTable(rows, backends);
    const failed = rows.filter((r) => Object.keys(r.errors).length);
    for (const r of failed)
      for (const [b, e] of Object.entries(r.errors)) console.log(`  ${r.id} ${b}: ${e}`);
    const notes = new Set<string>();
    for (const r of results.values()) {
      if (r.note) notes.add(`${r.backend}: ${r.note}`);
      if (r.adapter && r.adapter !== adapterId(adapter))
        notes.add(`${r.backend}: ORT's device is on adapter ${r.adapter}`);
    }
    for (const n of notes) console.log(`  note: ${n}`);
    console.log(
      `\nours÷X < 1: ours is faster. GB/s: the bytes our kernels must move (4-bit weights + f16 scales, activations; ` +
        `for attention the KV rows read and written) over our time. ${((performance.now() - t0) / 1000).toFixed(0)} s in all.`,
    );
    mkdirSync(join(root, 'artifacts'), { recursive: true });
    const out = join(root, 'artifacts', 'bench-peer.json');
    writeFileSync(
      out,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          adapter,
          onnxruntimeWeb: ortVersion,
          bundles: { 'ort-native': 'ort.webgpu.min.mjs', 'ort-jsep': 'ort.min.mjs' },
          shapes: full ? 'model' : 'software-scaled',
          timing: { method: 'wall-clock batches ended by queue.onSubmittedWorkDone; median', ...timing },
          cases,
          rows,
          raw: [...results.values()],
        },
        null,
        2,
      ),
    );
    console.log(`Written: ${out}`);
    // Exit 1 only when our kernels fail or disagree with the reference; a peer's failure is a finding.
    return rows.some((r) => !r.correct.ours && backends.includes('ours')) ? 1 : 0;
  } finally {
    await harness.close();
  }
}

/** vendor / architecture / device / description, as the page reports ORT's adapter too. */
function adapterId(a: AdapterReport): string {
  return [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ');
}

function describeAdapter(a: AdapterReport): string {
  const feats = [a.f16 ? 'shader-f16' : 'no shader-f16', a.subgroups ? 'subgroups' : 'no subgroups'];
  return `${adapterId(a) || 'unknown'}${a.isFallback ? ' (fallback adapter)' : ''}; ${feats.join(', ')}`;
}

process.exitCode = await main();
