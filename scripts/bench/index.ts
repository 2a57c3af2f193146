/**
 * `npm run bench`: the three engine benchmarks in turn — kernels (bench:kernels), onnxruntime-web side
 * by side (bench:peer) and the full-size-shaped model (bench:model) — each printing its own details,
 * then one table of what they measured, every row naming its adapter. Arguments go to every part
 * (e.g. `-- --adapter lavapipe`); `--skip kernels,peer,model` leaves parts out, `--summary` only reprints
 * the table from the last results in artifacts/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const skip = new Set((opt('skip') ?? '').split(',').filter(Boolean));
const passOn = args.filter((a, i) => !['--skip', '--summary'].includes(a) && args[i - 1] !== '--skip');

const PARTS = [
  { id: 'kernels', script: 'scripts/bench/kernels.ts' },
  { id: 'peer', script: 'scripts/bench/peer.ts' },
  { id: 'model', script: 'scripts/bench/model.ts' },
];

let failed = false;
if (!args.includes('--summary'))
  for (const p of PARTS) {
    if (skip.has(p.id)) continue;
    console.log(`\n════ ${p.id} ════`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, p.script), ...passOn], {
      stdio: 'inherit',
    });
    if (r.status !== 0) {
      console.error(`${p.id} failed (exit ${r.status})`);
      failed = true;
    }
  }

const read = (f: string) => {
  const path = join(root, 'artifacts', f);
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : null;
};
const sig = (v: number | null | undefined, d = 2) => (v === null || v === undefined ? '—' : v.toFixed(d));
const rows: string[][] = [];
const adapters: string[] = [];
/** Adapters go to a legend; rows name them by number. */
const add = (part: string, what: string, measured: string, relative: string, adapter: string) => {
  if (!adapters.includes(adapter)) adapters.push(adapter);
  rows.push([part, what, measured, relative, `[${adapters.indexOf(adapter) + 1}]`]);
};

for (const id of ['lavapipe', 'swiftshader', 'system']) {
  const k = read(`bench-${id}.json`);
  if (!k) continue;
  for (const r of k.rows)
    add(
      'a kernel',
      `${r.kernel} ${r.variant} ${r.dtype} ${r.shape}`,
      `${sig(r.ms, 3)} ms, ${sig(r.gbps)} GB/s${r.gflops ? `, ${sig(r.gflops)} GFLOP/s` : ''}`,
      `${(100 * r.copyFraction).toFixed(0)} % of copy`,
      k.adapter,
    );
}
const peer = read('bench-peer.json');
if (peer) {
  const name = `${peer.adapter.vendor} ${peer.adapter.architecture} (Chromium, ${peer.shapes})`;
  for (const r of peer.rows) {
    const ours = r.ms.ours;
    const vs = Object.keys(r.ratio)
      .map(
        (b) =>
          `÷${b.replace('ort-', 'ORT-')} ${r.ratio[b] === null ? (r.correct[b] ? '—' : 'wrong') : sig(r.ratio[b])}`,
      )
      .join(', ');
    add('b vs onnxruntime-web', `${r.op} ${r.shape} ${r.dtype}`, `ours ${sig(ours, 1)} ms`, vs, name);
  }
}
for (const id of ['lavapipe', 'swiftshader', 'system']) {
  const m = read(`bench-model-${id}.json`);
  if (!m) continue;
  const size = m.full ? 'full size' : 'cut down';
  for (const [what, value] of m.rows as [string, string][])
    add(`c model (${size})`, what, value, '', m.adapter);
}

if (rows.length) {
  const head = ['part', 'what', 'measured', 'relative', 'adapter'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`;
  console.log('\n════ summary ════');
  for (const [i, a] of adapters.entries()) console.log(`[${i + 1}] ${a}`);
  console.log(line(head));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}
if (failed) process.exitCode = 1;
