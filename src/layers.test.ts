/**
 * The layer rule (README "Architecture"), read from the imports themselves so it survives the next
 * hundred commits: every import of production code under src/ must follow an allowed edge, and no
 * production code imports a `testing/` folder. Tests and `testing/` folders are exempt.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname);

/** Layer → the layers its code may import at run time (its own always allowed). */
const VALUE_EDGES: Record<string, string[]> = {
  ui: ['engine-client'],
  widget: ['ui', 'engine-client'],
  // The client runs on the page: the <video>-element fallback (src/video) runs there, not in the
  // worker, and so does naming a model (the one resolver, a pure function).
  // The worker's entry file only as a URL to start it (`?worker&url`, engine-client/cross-origin.ts).
  'engine-client': ['engine-client/protocol', 'video', 'model/sources/resolve', 'worker/engine.worker'],
  // The contract maps the layers' typed errors to EngineError where they cross the boundary.
  'engine-client/protocol': ['gpu/errors', 'video/errors'],
  worker: ['engine-client/protocol', 'rl-lite', 'model', 'video', 'gpu'],
  'rl-lite': ['model', 'gpu'],
  model: ['gpu'],
  video: [],
  gpu: [],
};

/** Type-only imports may also name the plain-data types the contract re-exports. */
const TYPE_EDGES: Record<string, string[]> = {
  'engine-client/protocol': ['gpu', 'model', 'video'],
};

const LAYERS = Object.keys(VALUE_EDGES).sort((a, b) => b.length - a.length); // longest prefix first

/** The layer of a path under src/ ('engine-client/protocol' before 'engine-client'). */
function layerOf(rel: string): string | null {
  return LAYERS.find((l) => rel === l || rel.startsWith(`${l}/`)) ?? null;
}

/** Whether `target` (a path under src/, no extension) is inside `edge` (a layer or a file prefix). */
const within = (target: string, edge: string) => target === edge || target.startsWith(`${edge}/`);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'testing' ? [] : sourceFiles(p);
    return /\.(ts|tsx)$/.test(name) && !/\.test\.tsx?$/.test(name) ? [p] : [];
  });
}

interface Import {
  spec: string;
  typeOnly: boolean;
}

/** Static imports and re-exports (`import type` / `export type` are type-only) and dynamic imports. */
function importsOf(code: string): Import[] {
  const out: Import[] = [];
  const stmt = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/g;
  for (const m of code.matchAll(stmt)) out.push({ spec: m[3], typeOnly: Boolean(m[2]) });
  for (const m of code.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g))
    out.push({ spec: m[1], typeOnly: false });
  return out;
}

function violations(): string[] {
  const bad: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const rel = relative(SRC, file).replace(/\\/g, '/');
    const from = layerOf(rel);
    if (!from) continue; // src/ itself (this test), unknown folders are reported below
    for (const { spec, typeOnly } of importsOf(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue; // packages
      // A bundler query (`?worker&url`, `?inline`) names the same file.
      const target = relative(SRC, resolve(dirname(file), spec.replace(/\?.*$/, '')))
        .replace(/\\/g, '/')
        .replace(/\.(ts|tsx)$/, '');
      if (target.split('/').includes('testing')) {
        bad.push(`${rel} → ${target} (production code imports a testing/ folder)`);
        continue;
      }
      const to = layerOf(target);
      if (to === from || (to && within(to, from))) continue;
      const edges = [...VALUE_EDGES[from], ...(typeOnly ? (TYPE_EDGES[from] ?? []) : [])];
      if (!edges.some((e) => within(target, e))) bad.push(`${rel} → ${target}${typeOnly ? ' (type)' : ''}`);
    }
  }
  return bad;
}

describe('layer rule', () => {
  it('every production import follows an allowed edge', () => {
    expect(violations()).toEqual([]);
  });

  it('every folder under src/ is a known layer', () => {
    const folders = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory());
    expect(folders.filter((f) => !layerOf(f))).toEqual([]);
  });

  it('reads the import forms in use', () => {
    const code = [
      "import { a } from '../model/x';",
      "import type { B } from '../gpu/y';",
      'import {\n  c,\n  d,\n} from "../video/z";',
      "export type * from './protocol/model';",
      "export { e } from '../ui/w';",
      "import './side-effect';",
      "const m = await import('../../src/model/load');",
    ].join('\n');
    expect(importsOf(code)).toEqual([
      { spec: '../model/x', typeOnly: false },
      { spec: '../gpu/y', typeOnly: true },
      { spec: '../video/z', typeOnly: false },
      { spec: './protocol/model', typeOnly: true },
      { spec: '../ui/w', typeOnly: false },
      { spec: './side-effect', typeOnly: false },
      { spec: '../../src/model/load', typeOnly: false },
    ]);
  });

  it('catches an edge against the rule', () => {
    // gpu → model is not allowed; model → gpu is.
    const rel = 'gpu/kernels/x.ts';
    const target = 'model/config';
    const from = layerOf(rel)!;
    expect(VALUE_EDGES[from].some((e) => within(target, e))).toBe(false);
    expect(VALUE_EDGES.model.some((e) => within('gpu/context', e))).toBe(true);
    expect(layerOf('engine-client/protocol/model.ts')).toBe('engine-client/protocol');
  });
});
