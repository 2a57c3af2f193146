/**
 * HttpWeightSource against a local server that serves the tiny-a fixture exactly as the hub does
 * (`/{repo}/resolve/{rev}/…`, 302 to a CDN path for *.safetensors, the slow-tokenizer files and no
 * tokenizer.json): with and without Range support, a connection dropped mid-shard, a 503, a stalled
 * body, cancellation. Each load reads every used tensor in file order, as the GPU loader does (the
 * vocabulary table in row parts), and must give the bytes of an uninterrupted read.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildFixture } from '../../../scripts/fixtures/build';
import { fixtureByName } from '../../../scripts/fixtures/spec';
import { slowTokenizerFiles } from '../../../scripts/fixtures/tokenizer';
import { openCheckpoint } from '../checkpoint';
import { isVocabTable } from '../load';
import { fixtureFiles } from '../testing/goldens';
import { type HubServer, type HubServerOptions, startHubServer } from '../testing/hub-server';
import { qwenFiles, qwenTokenizer, tokenizerCorpus } from '../testing/qwen-tokenizer';
import { readTokenizer } from '../tokenizer';
import { readText, type WeightSource } from '../weight-source';
import { type HttpSourceOptions, HttpWeightSource, type RetryInfo } from './http';
import { MapWeightSource } from './map';
import { DownloadMeter } from './progress';
import { hubBaseUrl } from './resolve';

const REPO = 'Zhang199/TinyLLaVA-Video-R1';
const FAST: Partial<HttpSourceOptions> = { retry: { attempts: 5, baseDelayMs: 5, maxDelayMs: 20 } };

/** tiny-a in the hub repo's layout: the slow-tokenizer set instead of tokenizer.json. */
function hubFiles(): Map<string, Uint8Array> {
  let files: Map<string, Uint8Array>;
  try {
    files = fixtureFiles('tiny-a');
  } catch {
    files = buildFixture(fixtureByName('tiny-a')); // not generated yet: build it (a few seconds)
  }
  files.delete('tokenizer.json');
  const q = qwenFiles();
  for (const [f, b] of slowTokenizerFiles(q.tokenizerJson, q.tokenizerConfig)) files.set(f, b);
  return files;
}

/** Every used tensor's bytes, read in file order like loadWeights (the table in 3 row parts). */
async function readWeights(src: WeightSource): Promise<Map<string, Uint8Array>> {
  const ck = await openCheckpoint(src);
  const used = [...ck.report.used].map((t) => ck.weights.entry(t.name));
  used.sort((a, b) => (a.file === b.file ? a.start - b.start : a.file < b.file ? -1 : 1));
  const out = new Map<string, Uint8Array>();
  for (const e of used) {
    if (isVocabTable(e.name)) {
      const rows = e.shape[0];
      const cut = [0, Math.floor(rows / 3), Math.floor((2 * rows) / 3), rows];
      const parts: Uint8Array[] = [];
      for (let i = 0; i < 3; i++) parts.push((await ck.loadRows(e.name, cut[i], cut[i + 1])).bytes);
      out.set(e.name, concat(parts));
    } else out.set(e.name, (await ck.load(e.name)).bytes);
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, a) => n + a.byteLength, 0));
  let o = 0;
  for (const a of parts) {
    out.set(a, o);
    o += a.byteLength;
  }
  return out;
}

function expectSameWeights(got: Map<string, Uint8Array>, want: Map<string, Uint8Array>): void {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [name, bytes] of want) {
    const g = got.get(name)!;
    expect(g.byteLength, name).toBe(bytes.byteLength);
    expect(Buffer.compare(Buffer.from(g), Buffer.from(bytes)), name).toBe(0);
  }
}

describe('HttpWeightSource against a hub-like server', () => {
  let files: Map<string, Uint8Array>;
  let want: Map<string, Uint8Array>;
  let server: HubServer | undefined;
  const shard1 = 'model-00001-of-00002.safetensors';
  const shard2 = 'model-00002-of-00002.safetensors';

  beforeAll(async () => {
    files = hubFiles();
    want = await readWeights(new MapWeightSource(files));
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function serve(opts: Partial<HubServerOptions> = {}): Promise<HubServer> {
    server = await startHubServer({ repo: REPO, files, ...opts });
    return server;
  }

  function source(s: HubServer, extra: Partial<HttpSourceOptions> = {}) {
    const retries: RetryInfo[] = [];
    let delivered = 0;
    const src = new HttpWeightSource(hubBaseUrl({ repo: REPO, endpoint: s.endpoint }), {
      ...FAST,
      onRetry: (r) => retries.push(r),
      onBytes: (_, n) => {
        delivered += n;
      },
      ...extra,
    });
    return { src, retries, delivered: () => delivered };
  }

  it('(a) Range: follows the CDN redirect, reads every tensor with range requests, tokenizer from the slow files', async () => {
    const s = await serve();
    const { src, retries } = source(s);
    expectSameWeights(await readWeights(src), want);
    expect(retries).toEqual([]);
    // Shards through the CDN leg, with ranges; small files straight from resolve/.
    const cdnGets = s.requests.filter((r) => r.cdn && r.method === 'GET');
    expect(cdnGets.length).toBeGreaterThan(10);
    expect(cdnGets.every((r) => r.status === 206 && r.range?.startsWith('bytes='))).toBe(true);
    expect(s.requests.some((r) => !r.cdn && r.file === shard1 && r.status === 302)).toBe(true);
    expect(s.requests.some((r) => r.file === 'config.json' && !r.cdn && r.status === 200)).toBe(true);
    // The first answer names the commit; every later request is pinned to it.
    expect(src.commit).toMatch(/^[0-9a-f]{40}$/);
    // The loader first asks for engine-manifest.json (the converted format's mark; a 404 here).
    const hub = s.requests.filter((r) => !r.cdn);
    expect(hub[0].url).toBe(`/${REPO}/resolve/main/engine-manifest.json`);
    expect(hub.slice(1).every((r) => r.url.startsWith(`/${REPO}/resolve/${src.commit}/`))).toBe(true);

    expect(await src.has('tokenizer.json')).toBe(false);
    const tok = await readTokenizer(async (name) => ((await src.has(name)) ? readText(src, name) : null));
    const fast = qwenTokenizer();
    for (const t of tokenizerCorpus().texts) expect(tok.encode(t)).toEqual(fast.encode(t));
    expect(tok.size).toBe(fast.size);
  });

  it('(b) no Range support: whole-file responses streamed and skipped, each shard crossed about once', async () => {
    const s = await serve({ range: false });
    const { src, delivered } = source(s);
    const got = await readWeights(src);
    expectSameWeights(got, want);
    src.close();
    const gets = (f: string) => s.requests.filter((r) => r.cdn && r.file === f && r.method === 'GET');
    expect(gets(shard1).every((r) => r.status === 200)).toBe(true);
    // One response for the header, one pass for the tensors (file order).
    expect(gets(shard1).length).toBeLessThanOrEqual(3);
    expect(gets(shard2).length).toBeLessThanOrEqual(3);
    const tensorBytes = [...want.values()].reduce((n, b) => n + b.byteLength, 0);
    expect(delivered()).toBeGreaterThanOrEqual(tensorBytes);
  });

  it('(c) a connection dropped midway through a shard resumes from the byte where it stopped', async () => {
    const half = Math.floor(files.get(shard1)!.byteLength / 2);
    // Drop the first tensor read that spans the middle of shard 1, after 100 kB of its body.
    let dropped = false;
    const s = await serve({
      fault: (r) => {
        const start = Number(/bytes=(\d+)-(\d+)/.exec(r.range ?? '')?.[1] ?? -1);
        const end = Number(/bytes=(\d+)-(\d+)/.exec(r.range ?? '')?.[2] ?? -1);
        if (!dropped && r.cdn && r.file === shard1 && r.method === 'GET' && start < half && end > half) {
          dropped = true;
          return { dropAfterBytes: 100_000 };
        }
        return undefined;
      },
    });
    const { src, retries } = source(s);
    expectSameWeights(await readWeights(src), want);
    expect(dropped).toBe(true);
    expect(retries.length).toBe(1);
    expect(retries[0].path).toBe(shard1);
    const i = s.requests.findIndex((r) => r.cdn && r.bytes === 100_000 && r.status === 206);
    const broken = s.requests[i];
    const from = Number(/bytes=(\d+)-/.exec(broken.range!)![1]);
    expect(retries[0].resumeAt).toBe(from + 100_000);
    // The retry asks the resolve URL again (a fresh redirect), then the CDN for the rest only.
    const after = s.requests.slice(i + 1).find((r) => r.cdn && r.file === shard1)!;
    expect(after.range).toBe(`bytes=${from + 100_000}-${/-(\d+)$/.exec(broken.range!)![1]}`);
  });

  it('(c′) a dropped whole-file response (no Range) is resumed by skipping to where it stopped', async () => {
    let dropped = false;
    const s = await serve({
      range: false,
      fault: (r) => {
        if (!dropped && r.cdn && r.file === shard1 && r.method === 'GET' && r.nth === 2) {
          dropped = true;
          return { dropAfterBytes: Math.floor(files.get(shard1)!.byteLength / 2) };
        }
        return undefined;
      },
    });
    const { src, retries } = source(s);
    expectSameWeights(await readWeights(src), want);
    src.close();
    expect(dropped).toBe(true);
    expect(retries.length).toBe(1);
  });

  it('(d) a 503 then success, on a small file and on a shard', async () => {
    const s = await serve({
      fault: (r) =>
        r.nth === 1 && r.method === 'GET' && (r.file === 'config.json' || (r.cdn && r.file === shard2))
          ? { status: 503, retryAfterS: 0 }
          : undefined,
    });
    const { src, retries } = source(s);
    expectSameWeights(await readWeights(src), want);
    expect(retries.map((r) => r.path).sort()).toEqual(['config.json', shard2]);
    expect(retries.every((r) => /503/.test(r.reason))).toBe(true);
  });

  it('a stalled body is dropped after stallMs and resumed', async () => {
    const s = await serve({
      fault: (r) =>
        r.cdn && r.file === shard1 && r.method === 'GET' && r.nth === 3
          ? { stallAfterBytes: 1000, stallMs: 10_000 }
          : undefined,
    });
    const { src, retries } = source(s, { stallMs: 300 });
    expectSameWeights(await readWeights(src), want);
    expect(retries.length).toBe(1);
    expect(retries[0].reason).toMatch(/no data for 300 ms/);
  });

  it('gives up after the attempts, with a message naming the URL; 404 is not retried', async () => {
    const s = await serve({
      fault: (r) => (r.cdn && r.file === shard2 && r.method === 'GET' ? { status: 502 } : undefined),
    });
    const { src, retries } = source(s, { retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
    await expect(src.read(shard2, 0, 16)).rejects.toMatchObject({
      code: 'network',
      message: expect.stringMatching(/HTTP 502.*gave up after 3 attempts/),
    });
    expect(retries.length).toBe(2);
    await expect(src.read('nope.safetensors', 0, 4)).rejects.toMatchObject({ code: 'not-found' });
    expect(retries.length).toBe(2);
  });

  it('a 401 (the hub: no such repo, or gated) is not retried and says what to check', async () => {
    const s = await serve({ fault: (r) => (r.file === 'config.json' ? { status: 401 } : undefined) });
    const { src, retries } = source(s);
    await expect(src.has('config.json')).rejects.toMatchObject({
      code: 'http',
      message: expect.stringMatching(/HTTP 401.*repo id or revision is wrong, or the repo is gated/),
    });
    expect(retries).toEqual([]);
  });

  it('cancels a read in flight and a backoff wait with the AbortSignal', async () => {
    const s = await serve({
      fault: (r) =>
        r.cdn && r.file === shard1 && r.method === 'GET'
          ? { stallAfterBytes: 10, stallMs: 10_000 }
          : undefined,
    });
    const ac = new AbortController();
    const { src } = source(s, { signal: ac.signal, stallMs: 60_000 });
    const t0 = performance.now();
    const read = src.read(shard1, 0, 100_000);
    setTimeout(() => ac.abort(), 100);
    await expect(read).rejects.toMatchObject({ name: 'AbortError' });

    const ac2 = new AbortController();
    const down = new HttpWeightSource('http://127.0.0.1:1/', {
      signal: ac2.signal,
      retry: { attempts: 10, baseDelayMs: 60_000, maxDelayMs: 60_000 },
    });
    const waiting = down.has('config.json');
    setTimeout(() => ac2.abort(), 100);
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('refuses a file whose size changed between requests', async () => {
    const s = await serve();
    const { src } = source(s);
    expect(await src.size('config.json')).toBe(files.get('config.json')!.byteLength);
    files.set('config.json', new Uint8Array([...files.get('config.json')!, 32]));
    try {
      await expect(src.read('config.json', 0, 8)).rejects.toMatchObject({
        code: 'invalid',
        message: expect.stringMatching(/changed while loading/),
      });
    } finally {
      files.set('config.json', files.get('config.json')!.slice(0, -1));
    }
  });
});

describe('HttpWeightSource and a server that compresses ranges', () => {
  // As a dev server with on-the-fly gzip does once it has compressed a file: HEAD without a length,
  // and ranges over the gzip bytes (Content-Range counts them), whose body the browser decodes whole.
  const text = JSON.stringify({ tokens: Array.from({ length: 400 }, (_, i) => `t${i}`) });
  const bytes = new TextEncoder().encode(text);
  const gzipSize = 321; // what the server says the encoded file is
  const requests: string[] = [];
  const fetchFn = (async (_url: string | URL | Request, init?: RequestInit) => {
    const h = new Headers(init?.headers);
    const range = h.get('range');
    requests.push(`${init?.method ?? 'GET'} ${range ?? 'whole'}`);
    const headers = { 'content-encoding': 'gzip', 'content-type': 'application/json' };
    if (init?.method === 'HEAD') return new Response(null, { status: 200, headers });
    if (range) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range)!;
      const end = Math.min(Number(m[2] || gzipSize - 1), gzipSize - 1);
      return new Response(bytes, {
        status: 206,
        headers: { ...headers, 'content-range': `bytes ${m[1]}-${end}/${gzipSize}` },
      });
    }
    return new Response(bytes, { status: 200, headers });
  }) as typeof fetch;

  it('reads the whole decoded file instead of trusting the encoded range', async () => {
    const src = new HttpWeightSource('http://dev.local/m/', { ...FAST, fetch: fetchFn });
    expect(await readText(src, 'tokenizer_config.json')).toBe(text);
    expect(await src.size('tokenizer_config.json')).toBe(bytes.byteLength);
    expect(new TextDecoder().decode(await src.read('tokenizer_config.json', 10, 20))).toBe(
      text.slice(10, 30),
    );
    expect(requests).toContain('GET whole');
  });
});

describe('DownloadMeter', () => {
  it('reports bytes per file and overall, speed over the window and time left', () => {
    let t = 0;
    const seen: number[] = [];
    const m = new DownloadMeter(
      (p) => seen.push(p.loadedBytes),
      200,
      () => t,
    );
    m.plan({ a: 1000, b: 3000 });
    m.add('a', 500);
    t = 1000;
    m.add('a', 500);
    t = 2000;
    m.add('b', 1000);
    m.add('config.json', 99); // not in the plan: ignored
    const p = m.snapshot();
    expect(p).toMatchObject({
      file: 'b',
      fileLoadedBytes: 1000,
      fileTotalBytes: 3000,
      loadedBytes: 2000,
      totalBytes: 4000,
      retries: 0,
    });
    expect(p.bytesPerSecond).toBeCloseTo(750); // (2000 − 500) bytes over 2 s
    expect(p.secondsLeft).toBeCloseTo(2000 / 750);
    expect(seen).toEqual([500, 1000, 2000]);
    m.retried({ path: 'b', attempt: 1, delayMs: 500, reason: 'HTTP 503' });
    expect(m.snapshot()).toMatchObject({ retries: 1, lastRetry: { file: 'b', reason: 'HTTP 503' } });
  });
});
