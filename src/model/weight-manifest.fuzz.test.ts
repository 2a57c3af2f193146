/**
 * Fuzzing the weight manifest check: a complete checkpoint's tensor list with random tensors
 * dropped, reshaped, retyped or added. checkWeights never throws, reports exactly the edits that
 * matter (unused tensors may go missing), and assertWeights' message names a changed tensor.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FIXTURES, hubConfig } from '../../scripts/fixtures/spec';
import { parseModelConfig } from './config';
import { DTYPE_BYTES, type StDtype } from './safetensors';
import { fuzzParams, fuzzTimeout } from './testing/fuzz';
import {
  assertWeights,
  checkWeights,
  expectedTensors,
  type FoundTensor,
  WeightManifestError,
} from './weight-manifest';

const cfg = parseModelConfig(hubConfig(FIXTURES[0]));
const expected = expectedTensors(cfg);
const byName = new Map(expected.map((e) => [e.name, e]));
const full: FoundTensor[] = expected.map((e) => ({ name: e.name, dtype: 'BF16', shape: e.shape }));

const editArb = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('drop', 'reshape', 'retype', 'add'),
  dtype: fc.constantFrom(...(Object.keys(DTYPE_BYTES) as StDtype[])),
  shape: fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 4 }),
  name: fc.string({ minLength: 1, maxLength: 40 }),
});

describe('weight manifest fuzz', () => {
  it(
    'reports exactly the edits made to a complete checkpoint',
    () => {
      fc.assert(
        fc.property(fc.array(editArb, { maxLength: 6 }), (edits) => {
          const found = new Map(full.map((t) => [t.name, { ...t, shape: [...t.shape] }]));
          for (const e of edits) {
            const names = [...found.keys()];
            if (names.length === 0) break;
            const victim = names[e.at % names.length];
            if (e.op === 'drop') found.delete(victim);
            else if (e.op === 'reshape') found.set(victim, { ...found.get(victim)!, shape: e.shape });
            else if (e.op === 'retype') found.set(victim, { ...found.get(victim)!, dtype: e.dtype });
            else found.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape });
          }
          const r = checkWeights(cfg, found.values());
          const want = {
            missing: expected.filter((x) => x.used && !found.has(x.name)).map((x) => x.name),
            unexpected: [...found.keys()].filter((n) => !byName.has(n)),
            misshaped: [...found.values()]
              .filter((t) => byName.has(t.name))
              .filter(
                (t) =>
                  t.shape.join() !== byName.get(t.name)!.shape.join() ||
                  t.shape.length !== byName.get(t.name)!.shape.length,
              )
              .map((t) => t.name),
            wrongDtype: [...found.values()]
              .filter((t) => byName.get(t.name)?.used && !['BF16', 'F16', 'F32'].includes(t.dtype))
              .map((t) => t.name),
          };
          expect(r.missing.sort()).toEqual(want.missing.sort());
          expect(r.unexpected.sort()).toEqual(want.unexpected.sort());
          expect(r.misshaped.map((m) => m.name).sort()).toEqual(want.misshaped.sort());
          expect(r.wrongDtype.map((w) => w.name).sort()).toEqual(want.wrongDtype.sort());
          const ok = Object.values(want).every((l) => l.length === 0);
          expect(r.ok).toBe(ok);
          if (ok) return;
          let err: unknown;
          try {
            assertWeights(cfg, found.values());
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(WeightManifestError);
          const first = [...want.missing, ...want.unexpected, ...want.misshaped, ...want.wrongDtype];
          expect(first.some((n) => (err as Error).message.includes(n))).toBe(true);
        }),
        fuzzParams(300),
      );
    },
    fuzzTimeout(20_000),
  );
});
