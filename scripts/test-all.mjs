#!/usr/bin/env node
// `npm test`: everything the project checks, in order, on a fresh Debian machine or a dev box.
// Stages: set-up (installs what is missing), biome, tsc, vitest on lavapipe (all tests, f16 path),
// vitest on SwiftShader (the GPU test files, f32 path), Playwright (all projects). Every stage runs
// even after a failure, so one run shows everything; the exit code is non-zero if anything failed.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { setup } from './setup-test-env.mjs';

const root = resolve(import.meta.dirname, '..');
const artifacts = join(root, 'artifacts');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const rel = (p) => relative(root, p);

/** Test files that drive a GPU: everything under src/gpu, plus any test using the GPU test harness. */
function gpuTestFiles() {
  const files = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.test.ts')) files.push(p);
    }
  };
  walk(join(root, 'src'));
  const usesHarness = (p) =>
    /gpu\/testing\/(kernel-suite|node-gpu)|\.\.\/testing\/(kernel-suite|node-gpu)/.test(
      readFileSync(p, 'utf8'),
    );
  return files
    .filter((p) => rel(p).startsWith('src/gpu/') || usesHarness(p))
    .map(rel)
    .sort();
}

function run(cmd, args, env = {}) {
  return new Promise((done) => {
    const child = spawn(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
    child.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
    child.on('error', (e) => {
      console.error(e.message);
      done(1);
    });
  });
}

const results = [];
async function stage(name, fn) {
  const n = results.length + 1;
  console.log(`\n\x1b[1m━━ [${n}] ${name} ━━\x1b[0m`);
  const t0 = performance.now();
  let ok;
  try {
    ok = await fn();
  } catch (e) {
    console.error(e?.stack ?? e);
    ok = false;
  }
  const s = (performance.now() - t0) / 1000;
  results.push({ name, ok, s });
  console.log(`\x1b[1m── ${name}: ${ok ? 'ok' : 'FAILED'} (${s.toFixed(1)} s)\x1b[0m`);
  return ok;
}

/**
 * passed/total over the test files under src/gpu in a vitest JSON report; a file that failed to load
 * counts as one failure. Tests skipped on purpose (e.g. tiled attention at D ≥ 64 on SwiftShader,
 * whose compiler takes seconds per shader) are counted apart, not as passes.
 */
function gpuCounts(reportPath) {
  if (!existsSync(reportPath)) return null;
  const report = JSON.parse(readFileSync(reportPath, 'utf8'));
  let passed = 0;
  let total = 0;
  let skipped = 0;
  for (const file of report.testResults ?? []) {
    if (!rel(file.name).startsWith('src/gpu/')) continue;
    const tests = file.assertionResults ?? [];
    if (tests.length === 0 && file.status === 'failed') total++;
    for (const t of tests) {
      if (['skipped', 'pending', 'todo', 'disabled'].includes(t.status)) {
        skipped++;
        continue;
      }
      total++;
      if (t.status === 'passed') passed++;
    }
  }
  return { passed, total, skipped };
}

function readJson(p) {
  try {
    return JSON.parse(readFileSync(p, 'utf8'));
  } catch {
    return null;
  }
}

// ---- stages -------------------------------------------------------------------------------------

mkdirSync(artifacts, { recursive: true });
// The Vulkan loader complains on every device creation when XDG_RUNTIME_DIR is unset (CI, root shells).
if (!process.env.XDG_RUNTIME_DIR) {
  process.env.XDG_RUNTIME_DIR = join(root, '.cache', 'xdg-runtime');
  mkdirSync(process.env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
}
let env;
const setupOk = await stage('set-up (Chromium, Vulkan drivers, lavapipe 25)', async () => {
  env = setup();
  console.log(`chrome ${env.chrome}\nswiftshader ICD ${env.swiftshader}\nlavapipe ICD ${env.lavapipe}`);
  return true;
});
if (!setupOk) process.exit(1);

await stage('biome check', async () => (await run(bin('biome'), ['check', '.'])) === 0);
await stage('tsc --noEmit', async () => (await run(bin('tsc'), ['-p', 'tsconfig.json', '--noEmit'])) === 0);

const adapters = [
  { id: 'lavapipe', icd: env.lavapipe, f16: '1', files: [], what: 'all tests, f16 path' },
  { id: 'swiftshader', icd: env.swiftshader, f16: '0', files: gpuTestFiles(), what: 'GPU tests, f32 path' },
];
for (const a of adapters) {
  a.report = join(artifacts, `vitest-${a.id}.json`);
  a.adapterFile = join(artifacts, `gpu-adapter-${a.id}.json`);
  rmSync(a.report, { force: true });
  rmSync(a.adapterFile, { force: true });
  a.ok = await stage(`vitest on ${a.id} (${a.what})`, async () => {
    if (a.files.length) console.log(`files: ${a.files.join(' ')}`);
    const code = await run(
      bin('vitest'),
      ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${a.report}`, ...a.files],
      { VK_ICD_FILENAMES: a.icd, GPU_EXPECT_F16: a.f16, GPU_ADAPTER_REPORT: a.adapterFile },
    );
    return code === 0;
  });
}

const e2eFile = join(artifacts, 'e2e-selftest.json');
rmSync(e2eFile, { force: true });
await stage(
  'playwright test (all projects)',
  async () => (await run(bin('playwright'), ['test'], { CHROME_PATH: env.chrome })) === 0,
);

// ---- summary ------------------------------------------------------------------------------------

console.log('\n\x1b[1m━━ summary ━━\x1b[0m');
for (const r of results) console.log(`${r.ok ? 'ok    ' : 'FAILED'} ${r.name} (${r.s.toFixed(1)} s)`);
let ok = results.every((r) => r.ok);
console.log('');
for (const a of adapters) {
  const c = gpuCounts(a.report);
  const name = readJson(a.adapterFile)?.adapter ?? `${a.id} (adapter name not reported)`;
  if (!c || c.total === 0 || c.passed !== c.total) ok = false;
  const skipped = c?.skipped ? ` (${c.skipped} skipped)` : '';
  console.log(`GPU kernel tests: ${name} ${c ? `${c.passed}/${c.total}${skipped}` : 'no report'}`);
}
const e2e = readJson(e2eFile);
if (!e2e || e2e.total === 0 || e2e.passed !== e2e.total) ok = false;
console.log(
  `GPU kernel self-test (Chromium): ${e2e ? `${e2e.adapter} ${e2e.passed}/${e2e.total}` : 'no report'}`,
);
console.log(ok ? '\nAll checks passed.' : '\nSome checks FAILED (see above).');
process.exit(ok ? 0 : 1);
