/**
 * Fuzzing the config reader: arbitrary text, arbitrary JSON, and a real config with keys deleted or
 * set to random values. Each gives a ConfigError (naming its key, except for text that is not a JSON
 * object) or a ModelConfig the model code can build: positive integer sizes that divide as the
 * layers need them to.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FIXTURES, hubConfig } from '../../scripts/fixtures/spec';
import { ConfigError, type ModelConfig, parseGenerationConfig, parseModelConfig } from './config';
import { fuzzParams, fuzzTimeout } from './testing/fuzz';

type Json = Record<string, unknown>;

/** Parses; on a ConfigError checks it names its key. Other throws fail the property. */
function parseOrError(input: string | Json): ModelConfig | ConfigError {
  try {
    return parseModelConfig(input);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    const err = e as ConfigError;
    expect(err.message.length).toBeGreaterThan(0);
    if (err.code !== 'bad-json') {
      expect(err.key, err.message).toBeTypeOf('string');
      expect(err.message, `key ${err.key}`).toContain(err.key!.split('.').pop());
    }
    return err;
  }
}

const posInt = (n: number) => Number.isSafeInteger(n) && n > 0;

/** What the kernels and the weight manifest rely on. */
function checkInvariants(c: ModelConfig): void {
  const t = c.text;
  for (const n of [
    t.hidden,
    t.layers,
    t.heads,
    t.kvHeads,
    t.headDim,
    t.mlp,
    t.vocab,
    t.maxPositionEmbeddings,
  ])
    expect(posInt(n), JSON.stringify(t)).toBe(true);
  expect(t.heads * t.headDim).toBe(t.hidden);
  expect(t.heads % t.kvHeads).toBe(0);
  expect(t.headDim % 2).toBe(0);
  expect(t.eps > 0 && Number.isFinite(t.eps)).toBe(true);
  expect(t.ropeTheta > 0 && Number.isFinite(t.ropeTheta)).toBe(true);
  const v = c.vision;
  for (const n of [
    v.imageSize,
    v.patchSize,
    v.gridSize,
    v.numPatches,
    v.channels,
    v.hidden,
    v.layers,
    v.heads,
    v.headDim,
    v.mlp,
    v.tokensPerFrame,
  ])
    expect(posInt(n), JSON.stringify(v)).toBe(true);
  expect(v.heads * v.headDim).toBe(v.hidden);
  expect(v.runLayers >= 0 && v.runLayers <= v.layers).toBe(true);
  for (const s of v.imageStd) expect(s > 0 && Number.isFinite(s)).toBe(true);
  for (const m of v.imageMean) expect(Number.isFinite(m)).toBe(true);
  const k = c.connector;
  for (const n of [k.group, k.numQueries, k.latentsPerGroup, k.layers]) expect(posInt(n)).toBe(true);
  expect(k.group * k.latentsPerGroup).toBe(k.numQueries);
  expect(k.inputDim).toBe(v.hidden);
  expect(k.dim).toBe(t.hidden);
  expect(posInt(c.maxLength)).toBe(true);
}

const BASE = hubConfig(FIXTURES[0]);

/** Dotted paths of every key in the base config (and its nested objects). */
const PATHS: string[][] = [];
for (const [k, v] of Object.entries(BASE)) {
  PATHS.push([k]);
  if (v && typeof v === 'object' && !Array.isArray(v)) for (const k2 of Object.keys(v)) PATHS.push([k, k2]);
}
PATHS.push(['text_config', 'head_dim'], ['vision_config', 'num_channels'], ['image_std'], ['image_mean']);

const valueArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -4, max: 4200 }) },
  fc.constantFrom(0, -1, -2, 1, 2, 3, 7, 8, 14, 16, 64, 1.5, 1e308, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2),
  fc.constantFrom('', 'qwen2', 'llama', 'patch', 'cls_patch', 'silu', 'gelu', 'tinyllava', 'groupresampler'),
  fc.constantFrom(null, true, false, [], {}, [0.5, 0.5, 0.5], [0, 0, 0]),
  fc.jsonValue({ maxDepth: 2 }),
);
const editArb = fc.record({
  path: fc.constantFrom(...PATHS),
  value: fc.option(valueArb, { nil: undefined, freq: 5 }), // undefined: delete the key
});

function applyEdits(edits: { path: string[]; value: unknown }[]): Json {
  const c = JSON.parse(JSON.stringify(BASE)) as Json;
  for (const { path, value } of edits) {
    let o: Json = c;
    for (const k of path.slice(0, -1)) {
      if (typeof o[k] !== 'object' || o[k] === null || Array.isArray(o[k])) o[k] = {};
      o = o[k] as Json;
    }
    const last = path[path.length - 1];
    if (value === undefined) delete o[last];
    else o[last] = value;
  }
  return c;
}

describe('config fuzz', () => {
  it(
    'arbitrary text and JSON: a ConfigError or a usable config',
    () => {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.string(),
            fc.jsonValue().map((v) => JSON.stringify(v)),
          ),
          (text) => {
            const r = parseOrError(text);
            if (!(r instanceof ConfigError)) checkInvariants(r);
            // generation_config.json: never anything but a ConfigError.
            try {
              parseGenerationConfig(text);
            } catch (e) {
              expect(e).toBeInstanceOf(ConfigError);
            }
          },
        ),
        fuzzParams(300),
      );
    },
    fuzzTimeout(20_000),
  );

  it(
    'a real config with keys deleted or changed: a ConfigError naming the key, or a usable config',
    () => {
      let parsed = 0;
      let refused = 0;
      fc.assert(
        fc.property(fc.array(editArb, { minLength: 1, maxLength: 4 }), (edits) => {
          const cfg = applyEdits(edits);
          const r = parseOrError(cfg);
          if (r instanceof ConfigError) refused++;
          else {
            parsed++;
            checkInvariants(r);
          }
          // The same config as text parses the same way.
          const again = parseOrError(JSON.stringify(cfg));
          expect(again instanceof ConfigError ? again.message : again).toEqual(
            r instanceof ConfigError ? r.message : r,
          );
        }),
        fuzzParams(500),
      );
      expect(parsed).toBeGreaterThan(0);
      expect(refused).toBeGreaterThan(0);
    },
    fuzzTimeout(20_000),
  );
});
