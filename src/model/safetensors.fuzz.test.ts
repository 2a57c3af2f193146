/**
 * Fuzzing the safetensors reader (headers, shards, the index) with fast-check: whatever the bytes,
 * opening either gives a SafetensorsError / WeightSourceError with a message, or a checkpoint whose
 * every tensor lies inside its file, matches shape × dtype, overlaps no other and loads.
 */
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { DTYPE_BYTES, INDEX_FILE, SafetensorsCheckpoint, SafetensorsError, SINGLE_FILE } from './safetensors';
import { encodeHeader, encodeIndex, encodeSafetensors, type TensorToWrite } from './safetensors-writer';
import { MapWeightSource } from './sources/map';
import { fuzzParams, fuzzTimeout, typedOutcome } from './testing/fuzz';
import { WeightSourceError } from './weight-source';

const TYPED = [SafetensorsError, WeightSourceError] as const;

const GOOD: TensorToWrite[] = [
  { name: 'a', dtype: 'BF16', shape: [2, 3], data: new Uint16Array(6).fill(0x3f80) },
  { name: 'b', dtype: 'F32', shape: [4], data: new Float32Array([1, 2, 3, 4]) },
  { name: 'c', dtype: 'F16', shape: [], data: new Uint16Array([0x3c00]) },
];
const GOOD_FILE = encodeSafetensors(GOOD, { format: 'pt' });

/** Outcomes seen, so a test can show its inputs reach both ends (not only errors). */
const seen = { opened: 0, refused: 0 };

/** Opens `files` and, when it opens, checks every invariant a loader relies on. */
async function openAndCheck(files: Record<string, Uint8Array>): Promise<void> {
  const src = new MapWeightSource(files);
  const r = await typedOutcome(() => SafetensorsCheckpoint.open(src), TYPED);
  if (r.error) {
    seen.refused++;
    return;
  }
  seen.opened++;
  const ck = r.value;
  for (const shard of ck.shards) {
    expect(shard.fileSize).toBe(files[shard.file].byteLength);
    // __metadata__ is a string → string map (the type promises it).
    expect(shard.metadata).toBeTypeOf('object');
    expect(shard.metadata).not.toBeNull();
    for (const v of Object.values(shard.metadata)) expect(v).toBeTypeOf('string');
    const sorted = [...shard.entries].sort((x, y) => x.start - y.start);
    let prev = shard.dataStart;
    for (const e of sorted) {
      expect(e.start).toBeGreaterThanOrEqual(prev);
      expect(e.end).toBeLessThanOrEqual(shard.fileSize);
      const numel = e.shape.reduce((p, d) => p * d, 1);
      expect(e.end - e.start).toBe(numel * DTYPE_BYTES[e.dtype]);
      prev = e.end;
    }
  }
  for (const name of ck.tensors.keys()) {
    const t = await ck.load(name);
    const e = ck.entry(name);
    expect(t.bytes.byteLength).toBe(e.end - e.start);
  }
}

/** A file whose header is `header` (written as given) followed by `dataLen` bytes. */
function fileWith(header: Record<string, unknown>, dataLen: number): Uint8Array {
  const head = encodeHeader(header);
  const out = new Uint8Array(head.byteLength + dataLen);
  out.set(head);
  return out;
}

const dtypeArb = fc.oneof(
  fc.constantFrom(...(Object.keys(DTYPE_BYTES) as string[])),
  fc.constantFrom('bf16', 'F128', '', 'Q4'),
  fc.anything(),
);
const dimArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 6 }) },
  fc.constantFrom(-1, 0.5, 2 ** 31, 2 ** 53, Number.MAX_SAFE_INTEGER, 1e308, '3', null),
);
const offsetArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 300 }) },
  fc.constantFrom(-8, 1.5, 2 ** 53, 2 ** 64, '0', null),
);
const entryArb = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record(
      {
        dtype: dtypeArb,
        shape: fc.oneof({ weight: 5, arbitrary: fc.array(dimArb, { maxLength: 4 }) }, fc.anything()),
        data_offsets: fc.oneof(
          { weight: 5, arbitrary: fc.tuple(offsetArb, offsetArb) },
          fc.array(offsetArb, { maxLength: 3 }),
          fc.anything(),
        ),
      },
      { requiredKeys: [] },
    ),
  },
  fc.anything(),
);
const headerArb = fc.dictionary(
  fc.oneof(fc.constantFrom('__metadata__', '__proto__', 'a', 'b', 'constructor', ''), fc.string()),
  entryArb,
  { maxKeys: 6 },
);

/** Byte edits of a good file: truncation, bit flips, a new header length, spliced garbage. */
const mutationArb = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('flip' as const),
    bits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant('length' as const), len: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 16 }) }),
);
type Mutation = typeof mutationArb extends fc.Arbitrary<infer M> ? M : never;

function mutate(file: Uint8Array, m: Mutation): Uint8Array {
  const out = file.slice();
  switch (m.kind) {
    case 'truncate':
      return out.slice(0, m.at % (file.byteLength + 1));
    case 'flip':
      if (out.byteLength === 0) return out;
      for (const [at, bit] of m.bits) out[at % out.byteLength] ^= 1 << bit;
      return out;
    case 'length':
      if (out.byteLength < 8) return out;
      new DataView(out.buffer).setBigUint64(0, m.len, true);
      return out;
    case 'splice': {
      const at = m.at % (file.byteLength + 1);
      const spliced = new Uint8Array(file.byteLength + m.bytes.byteLength);
      spliced.set(file.subarray(0, at));
      spliced.set(m.bytes, at);
      spliced.set(file.subarray(at), at + m.bytes.byteLength);
      return spliced;
    }
  }
}

describe('safetensors fuzz', () => {
  beforeEach(() => {
    seen.opened = 0;
    seen.refused = 0;
  });
  /** The generated inputs reached both outcomes (the property is not vacuous). */
  const bothOutcomes = () => {
    expect(seen.refused, 'no input was refused').toBeGreaterThan(0);
    expect(seen.opened, 'no input opened').toBeGreaterThan(0);
  };

  it(
    'arbitrary bytes: a typed error or a consistent checkpoint',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), async (bytes) => {
          await openAndCheck({ [SINGLE_FILE]: bytes });
        }),
        fuzzParams(300),
      );
    },
    fuzzTimeout(20_000),
  );

  it(
    'arbitrary headers (odd dtypes, shapes, offsets, keys): a typed error naming the file, or consistent',
    async () => {
      await fc.assert(
        fc.asyncProperty(headerArb, fc.integer({ min: 0, max: 400 }), async (header, dataLen) => {
          const src = new MapWeightSource({ [SINGLE_FILE]: fileWith(header, dataLen) });
          const r = await typedOutcome(() => SafetensorsCheckpoint.open(src), TYPED);
          if (r.error) expect(r.error.message).toContain(SINGLE_FILE);
          await openAndCheck({ [SINGLE_FILE]: fileWith(header, dataLen) });
        }),
        fuzzParams(400),
      );
      bothOutcomes();
    },
    fuzzTimeout(20_000),
  );

  it(
    'a good file truncated, bit-flipped, with a new header length or spliced bytes',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(mutationArb, { minLength: 1, maxLength: 3 }), async (ms) => {
          const file = ms.reduce(mutate, GOOD_FILE);
          await openAndCheck({ [SINGLE_FILE]: file });
        }),
        fuzzParams(400),
      );
      bothOutcomes();
    },
    fuzzTimeout(20_000),
  );

  it(
    'arbitrary index files over two good shards',
    async () => {
      const shards = {
        's1.safetensors': encodeSafetensors(GOOD.slice(0, 2)),
        's2.safetensors': encodeSafetensors(GOOD.slice(2)),
      };
      const goodMap = { a: 's1.safetensors', b: 's1.safetensors', c: 's2.safetensors' };
      const shardName = fc.oneof(
        fc.constantFrom('s1.safetensors', 's2.safetensors', 's3.safetensors', '../s1.safetensors', ''),
        fc.anything(),
      );
      const indexArb = fc.oneof(
        // A good index with a few entries rewritten or added.
        fc
          .dictionary(fc.constantFrom('a', 'b', 'c', 'd', '__proto__'), shardName, { maxKeys: 3 })
          .map((edits) => JSON.stringify({ weight_map: { ...goodMap, ...edits } })),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        fc.jsonValue().map((v) => JSON.stringify({ weight_map: v })),
        fc.string(),
        fc.constant(encodeIndex(goodMap, 40)),
      );
      await fc.assert(
        fc.asyncProperty(indexArb, async (index) => {
          await openAndCheck({ ...shards, [INDEX_FILE]: new TextEncoder().encode(index) });
        }),
        fuzzParams(300),
      );
      bothOutcomes();
    },
    fuzzTimeout(20_000),
  );
});
