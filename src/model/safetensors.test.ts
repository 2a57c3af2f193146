import { describe, expect, it } from 'vitest';
import { f32ToF16Bits } from '../gpu/f16';
import { INDEX_FILE, SafetensorsCheckpoint, SafetensorsError } from './safetensors';
import { encodeHeader, encodeIndex, encodeSafetensors, type TensorToWrite } from './safetensors-writer';
import { pickedFiles } from './sources/files';
import { HttpWeightSource } from './sources/http';
import { MapWeightSource } from './sources/map';
import { toFloat16Bits, toFloat32 } from './weight-convert';
import { WeightSourceError } from './weight-source';

const bf16 = (xs: number[]) =>
  new Uint16Array(xs.map((x) => new Uint32Array(new Float32Array([x]).buffer)[0] >>> 16));

const TENSORS: TensorToWrite[] = [
  { name: 'a.bf16', dtype: 'BF16', shape: [2, 3], data: bf16([1, -2, 0.5, 3, 1024, -0.25]) },
  { name: 'b.f16', dtype: 'F16', shape: [3], data: new Uint16Array([1.5, -4, 0.125].map(f32ToF16Bits)) },
  { name: 'c.f32', dtype: 'F32', shape: [2, 2], data: new Float32Array([0.1, 0.2, -0.3, 7]) },
  { name: 'd.scalar', dtype: 'F32', shape: [], data: new Float32Array([42]) },
  { name: 'e.i64', dtype: 'I64', shape: [1, 2], data: new BigInt64Array([0n, 5n]) },
];

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('safetensors', () => {
  it('round-trips BF16, F16, F32 (and reads other dtypes headers) from one file', async () => {
    const file = encodeSafetensors(TENSORS, { format: 'pt' });
    // Header padded to 8 bytes as the reference writer does.
    expect(Number(new DataView(file.buffer).getBigUint64(0, true)) % 8).toBe(0);
    const ck = await SafetensorsCheckpoint.open(new MapWeightSource({ 'model.safetensors': file }));
    expect(ck.shards[0].metadata).toEqual({ format: 'pt' });
    expect([...ck.tensors.keys()]).toEqual(TENSORS.map((t) => t.name));
    expect(Array.from(toFloat32(await ck.load('a.bf16')))).toEqual([1, -2, 0.5, 3, 1024, -0.25]);
    expect(Array.from(toFloat32(await ck.load('b.f16')))).toEqual([1.5, -4, 0.125]);
    expect(Array.from(toFloat32(await ck.load('c.f32')))).toEqual(
      Array.from(new Float32Array([0.1, 0.2, -0.3, 7])),
    );
    const scalar = await ck.load('d.scalar');
    expect(scalar.shape).toEqual([]);
    expect(toFloat32(scalar)[0]).toBe(42);
    const i64 = await ck.load('e.i64');
    expect(Array.from(new BigInt64Array(i64.bytes.buffer))).toEqual([0n, 5n]);
    expect(() => toFloat32(i64)).toThrow(/I64/);
    expect(Array.from(toFloat16Bits(await ck.load('a.bf16')))).toEqual(
      [1, -2, 0.5, 3, 1024, -0.25].map(f32ToF16Bits),
    );
  });

  it('loads row ranges and streams in file order', async () => {
    const rows = new Float32Array(5 * 4).map((_, i) => i);
    const file = encodeSafetensors([
      { name: 'z', dtype: 'F32', shape: [1], data: new Float32Array([9]) },
      { name: 'm', dtype: 'F32', shape: [5, 4], data: rows },
    ]);
    const ck = await SafetensorsCheckpoint.open(new MapWeightSource({ 'model.safetensors': file }));
    const r = await ck.loadRows('m', 1, 3);
    expect(r.shape).toEqual([2, 4]);
    expect(Array.from(toFloat32(r))).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
    expect((await ck.loadRows('m', 5, 5)).bytes.byteLength).toBe(0);
    await expect(ck.loadRows('m', 2, 6)).rejects.toThrow(RangeError);
    const names: string[] = [];
    for await (const t of ck.stream(['m', 'z'])) names.push(t.name);
    expect(names).toEqual(['z', 'm']);
    await expect(ck.load('nope')).rejects.toThrow(/no tensor nope/);
  });

  it('opens a sharded checkpoint through model.safetensors.index.json', async () => {
    const s1 = encodeSafetensors([TENSORS[0], TENSORS[1]]);
    const s2 = encodeSafetensors([TENSORS[2]]);
    const index = encodeIndex(
      { 'a.bf16': 'm-1.safetensors', 'b.f16': 'm-1.safetensors', 'c.f32': 'm-2.safetensors' },
      0,
    );
    const files = {
      [INDEX_FILE]: new TextEncoder().encode(index),
      'm-1.safetensors': s1,
      'm-2.safetensors': s2,
    };
    const ck = await SafetensorsCheckpoint.open(new MapWeightSource(files));
    expect(ck.entry('c.f32').file).toBe('m-2.safetensors');
    expect(ck.shards.map((s) => s.file)).toEqual(['m-1.safetensors', 'm-2.safetensors']);
    expect(Array.from(toFloat32(await ck.load('c.f32')))[3]).toBe(7);

    // Index and headers must agree.
    const lying = encodeIndex(
      { 'a.bf16': 'm-2.safetensors', 'b.f16': 'm-1.safetensors', 'c.f32': 'm-2.safetensors' },
      0,
    );
    const e1 = await rejection(
      SafetensorsCheckpoint.open(
        new MapWeightSource({ ...files, [INDEX_FILE]: new TextEncoder().encode(lying) }),
      ),
    );
    expect((e1 as SafetensorsError).code).toBe('bad-index');
    expect(e1.message).toMatch(/a\.bf16/);
    const partial = encodeIndex({ 'a.bf16': 'm-1.safetensors', 'c.f32': 'm-2.safetensors' }, 0);
    const e2 = await rejection(
      SafetensorsCheckpoint.open(
        new MapWeightSource({ ...files, [INDEX_FILE]: new TextEncoder().encode(partial) }),
      ),
    );
    expect(e2.message).toMatch(/b\.f16.*does not list/);
    const { 'm-2.safetensors': _, ...noShard } = files;
    const e3 = await rejection(SafetensorsCheckpoint.open(new MapWeightSource(noShard)));
    expect(e3.message).toMatch(/m-2\.safetensors.*missing/);
  });

  it('names the shard and tensor of a truncated download', async () => {
    const s1 = encodeSafetensors([TENSORS[0]]);
    const s2 = encodeSafetensors([TENSORS[2], TENSORS[3]]);
    const index = encodeIndex(
      { 'a.bf16': 'm-1.safetensors', 'c.f32': 'm-2.safetensors', 'd.scalar': 'm-2.safetensors' },
      0,
    );
    const files = {
      [INDEX_FILE]: new TextEncoder().encode(index),
      'm-1.safetensors': s1,
      'm-2.safetensors': s2.slice(0, s2.byteLength - 2),
    };
    const e = (await rejection(SafetensorsCheckpoint.open(new MapWeightSource(files)))) as SafetensorsError;
    expect(e).toBeInstanceOf(SafetensorsError);
    expect(e.code).toBe('truncated');
    expect([e.file, e.tensor]).toEqual(['m-2.safetensors', 'd.scalar']);
    expect(e.message).toMatch(/m-2\.safetensors is truncated.*d\.scalar/);
    // Cut inside the header, and shorter than the length prefix.
    const inHeader = (await rejection(
      SafetensorsCheckpoint.open(new MapWeightSource({ 'model.safetensors': s2.slice(0, 20) })),
    )) as SafetensorsError;
    expect(inHeader.code).toBe('truncated');
    const tiny = (await rejection(
      SafetensorsCheckpoint.open(new MapWeightSource({ 'model.safetensors': s2.slice(0, 5) })),
    )) as SafetensorsError;
    expect(tiny.code).toBe('truncated');
  });

  it('rejects malformed headers with the tensor named', async () => {
    const withHeader = (h: Record<string, unknown>) => {
      const head = encodeHeader(h);
      const out = new Uint8Array(head.byteLength + 64);
      out.set(head);
      return new MapWeightSource({ 'model.safetensors': out });
    };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ w: { dtype: 'Q4', shape: [2], data_offsets: [0, 2] } }, /w: unknown dtype "Q4"/],
      [{ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, /w: data_offsets span 8 bytes.*needs 12/],
      [{ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, /w: bad shape/],
      [
        {
          a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
        },
        /overlap/,
      ],
      // Found by the fuzz: __metadata__ must be a string map (the type the header promises).
      [{ __metadata__: { shape: [] } }, /__metadata__ must map strings to strings/],
    ];
    for (const [h, re] of cases) {
      const e = (await rejection(SafetensorsCheckpoint.open(withHeader(h)))) as SafetensorsError;
      expect(e.code).toBe('bad-header');
      expect(e.message).toMatch(re);
    }
    const notJson = new Uint8Array(16);
    new DataView(notJson.buffer).setBigUint64(0, 4n, true);
    notJson.set([123, 123, 123, 123], 8);
    await expect(
      SafetensorsCheckpoint.open(new MapWeightSource({ 'model.safetensors': notJson })),
    ).rejects.toThrow(/not valid JSON/);
    await expect(SafetensorsCheckpoint.open(new MapWeightSource({}))).rejects.toThrow(/no weights/);
  });

  it('reads picked files (a folder: the top folder is stripped) by Blob slices', async () => {
    const data = encodeSafetensors([TENSORS[2]]);
    const files = [
      new File([data], 'model.safetensors'),
      new File(['{"model_type":"tinyllava"}'], 'config.json'),
    ].map((f, i) =>
      Object.assign(f, { webkitRelativePath: `My-Model/${i === 0 ? 'model.safetensors' : 'config.json'}` }),
    );
    const src = pickedFiles(files);
    expect((await src.list()).sort()).toEqual(['config.json', 'model.safetensors']);
    const ck = await SafetensorsCheckpoint.open(src);
    expect(Array.from(toFloat32(await ck.load('c.f32')))[3]).toBe(7);
    // Loose files without a folder; listing finds oddly named shards.
    const loose = pickedFiles([new File([data], 'weights-part1.safetensors')]);
    expect((await SafetensorsCheckpoint.open(loose)).has('c.f32')).toBe(true);
    await expect(loose.read('weights-part1.safetensors', data.byteLength - 2, 4)).rejects.toThrow(
      WeightSourceError,
    );
  });
});

/** A fake server over a byte map: Range support switchable, SPA fallback like a dev server. */
function fakeFetch(files: Record<string, Uint8Array<ArrayBuffer>>, opts: { range: boolean }) {
  const calls: { url: string; method: string; range: string | null }[] = [];
  const fn = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const method = init?.method ?? 'GET';
    const range = new Headers(init?.headers).get('range');
    calls.push({ url, method, range });
    const path = decodeURIComponent(url.replace('https://host/repo/', ''));
    const body = files[path];
    if (!body)
      return new Response('<!doctype html>', { status: 200, headers: { 'content-type': 'text/html' } });
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(body.byteLength) };
    if (method === 'HEAD') return new Response(null, { status: 200, headers });
    const m = range ? /^bytes=(\d+)-(\d+)$/.exec(range) : null;
    if (!m || !opts.range) return new Response(body, { status: 200, headers });
    const start = Number(m[1]);
    if (start >= body.byteLength) return new Response(null, { status: 416 });
    const end = Math.min(Number(m[2]), body.byteLength - 1);
    return new Response(body.slice(start, end + 1), {
      status: 206,
      headers: {
        'content-range': `bytes ${start}-${end}/${body.byteLength}`,
        'content-length': String(end - start + 1),
      },
    });
  };
  return { fn: fn as typeof fetch, calls };
}

describe('HttpWeightSource', () => {
  const shard = encodeSafetensors([TENSORS[0], TENSORS[2]]);
  const files = { 'model.safetensors': shard };

  it('reads headers and tensors with Range requests, and treats an HTML fallback as absent', async () => {
    const { fn, calls } = fakeFetch(files, { range: true });
    const src = new HttpWeightSource('https://host/repo', { fetch: fn });
    expect(await src.has(INDEX_FILE)).toBe(false);
    const ck = await SafetensorsCheckpoint.open(src);
    expect(Array.from(toFloat32(await ck.load('c.f32')))[3]).toBe(7);
    const gets = calls.filter((c) => c.method === 'GET');
    expect(gets.every((c) => c.range !== null)).toBe(true);
    const e = ck.entry('c.f32');
    expect(gets.at(-1)?.range).toBe(`bytes=${e.start}-${e.end - 1}`);
    await expect(src.size('missing.json')).rejects.toMatchObject({ code: 'not-found' });
    await expect(src.read('model.safetensors', shard.byteLength + 10, 4)).rejects.toMatchObject({
      code: 'short-read',
    });
  });

  it('falls back to whole small files when the server ignores Range, refuses big ones', async () => {
    const { fn } = fakeFetch(files, { range: false });
    const ok = new HttpWeightSource('https://host/repo/', { fetch: fn });
    const ck = await SafetensorsCheckpoint.open(ok);
    expect(Array.from(toFloat32(await ck.load('a.bf16')))).toEqual([1, -2, 0.5, 3, 1024, -0.25]);
    const strict = new HttpWeightSource('https://host/repo/', { fetch: fn, maxWholeFileBytes: 16 });
    await expect(strict.read('model.safetensors', 0, 8)).rejects.toMatchObject({ code: 'no-range' });
  });

  it('reports network failures and HTTP errors as typed errors', async () => {
    const down = new HttpWeightSource('https://host/repo/', {
      fetch: (async () => {
        throw new TypeError('Failed to fetch');
      }) as typeof fetch,
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 }, // network errors are retried first
    });
    await expect(down.has('config.json')).rejects.toMatchObject({ code: 'network' });
    const gated = new HttpWeightSource('https://host/repo/', {
      fetch: (async () => new Response('no', { status: 401, statusText: 'Unauthorized' })) as typeof fetch,
    });
    await expect(gated.read('config.json', 0, 4)).rejects.toMatchObject({ code: 'http' });
    const missing = new HttpWeightSource('https://host/repo/', {
      fetch: (async () => new Response('no', { status: 404 })) as typeof fetch,
    });
    expect(await missing.has('config.json')).toBe(false);
  });
});
