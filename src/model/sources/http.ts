import { expectLength, type WeightSource, WeightSourceError } from '../weight-source';

export interface HttpSourceOptions {
  /** Injected in tests; defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Extra request headers (e.g. an Authorization header for a gated repo). */
  headers?: Record<string, string>;
  /** A server that ignores Range may still serve a whole file up to this size (configs, small shards). */
  maxWholeFileBytes?: number;
}

/**
 * Files under a base URL, read with HTTP Range requests: the hub
 * (`https://huggingface.co/<repo>/resolve/<rev>/`), a self-hosted copy, or the app's own
 * /models/<name>/. Sizes come from HEAD (Content-Length is CORS-safelisted) or a 1-byte range probe.
 * A directory cannot be listed over HTTP, so `list()` is undefined and callers probe known names.
 */
export class HttpWeightSource implements WeightSource {
  readonly label: string;
  private readonly base: string;
  private readonly fetchFn: typeof fetch;
  private readonly headers: Record<string, string>;
  private readonly maxWhole: number;
  private readonly sizes = new Map<string, number>();

  constructor(baseUrl: string, opts: HttpSourceOptions = {}) {
    this.base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
    this.label = this.base;
    this.fetchFn = opts.fetch ?? ((input, init) => fetch(input, init));
    this.headers = opts.headers ?? {};
    this.maxWhole = opts.maxWholeFileBytes ?? 64 * 1024 * 1024;
  }

  url(path: string): string {
    return this.base + path.split('/').map(encodeURIComponent).join('/');
  }

  async list(): Promise<undefined> {
    return undefined;
  }

  async has(path: string): Promise<boolean> {
    const res = await this.request(path, 'HEAD');
    if (res.status === 404 || res.status === 410) return false;
    if (!res.ok) throw httpError(path, res);
    // Dev servers answer unknown paths with the app's index.html (SPA fallback): that is "absent".
    if (isHtmlFallback(path, res)) return false;
    const n = contentLength(res);
    if (n !== undefined && !res.headers.get('content-encoding')) this.sizes.set(path, n);
    return true;
  }

  async size(path: string): Promise<number> {
    const known = this.sizes.get(path);
    if (known !== undefined) return known;
    if (!(await this.has(path)))
      throw new WeightSourceError('not-found', path, `${path} was not found at ${this.label}`);
    const fromHead = this.sizes.get(path);
    if (fromHead !== undefined) return fromHead;
    // No usable Content-Length: ask for one byte and read the total from Content-Range.
    const res = await this.request(path, 'GET', { Range: 'bytes=0-0' });
    if (res.status === 416) {
      await discard(res);
      this.sizes.set(path, 0);
      return 0;
    }
    if (res.status === 206) {
      await discard(res);
      const total = totalFromContentRange(res.headers.get('content-range'));
      if (total === undefined)
        throw new WeightSourceError(
          'http',
          path,
          `${this.url(path)}: range reply without a readable Content-Range`,
        );
      this.sizes.set(path, total);
      return total;
    }
    if (!res.ok) throw httpError(path, res);
    const whole = await this.readWhole(path, res);
    return whole.byteLength;
  }

  async read(path: string, offset: number, length: number): Promise<Uint8Array> {
    if (length === 0) return new Uint8Array(0);
    const range = `bytes=${offset}-${offset + length - 1}`;
    const res = await this.request(path, 'GET', { Range: range });
    if (res.status === 404 || res.status === 410) {
      await discard(res);
      throw new WeightSourceError('not-found', path, `${path} was not found at ${this.label}`);
    }
    if (res.status === 416) {
      await discard(res);
      throw new WeightSourceError(
        'short-read',
        path,
        `${path} at ${this.label}: bytes ${offset}..${offset + length} are past the end of the file (truncated?)`,
      );
    }
    if (res.status === 206) {
      const total = totalFromContentRange(res.headers.get('content-range'));
      if (total !== undefined) this.sizes.set(path, total);
      const out = new Uint8Array(await res.arrayBuffer());
      expectLength(this, path, offset, length, out.byteLength);
      return out;
    }
    if (!res.ok) throw httpError(path, res);
    // 200: the server ignored Range. Fine for small files, fatal for multi-GB shards.
    const whole = await this.readWhole(path, res);
    const out = whole.slice(offset, offset + length);
    expectLength(this, path, offset, length, out.byteLength);
    return out;
  }

  private async readWhole(path: string, res: Response): Promise<Uint8Array> {
    const n = contentLength(res);
    if (n !== undefined && n > this.maxWhole) {
      await discard(res);
      throw new WeightSourceError(
        'no-range',
        path,
        `${this.url(path)}: the server ignores HTTP Range requests, and the file is too big to fetch whole (${n} bytes)`,
      );
    }
    const whole = new Uint8Array(await res.arrayBuffer());
    this.sizes.set(path, whole.byteLength);
    return whole;
  }

  private async request(
    path: string,
    method: 'GET' | 'HEAD',
    extra: Record<string, string> = {},
  ): Promise<Response> {
    try {
      return await this.fetchFn(this.url(path), { method, headers: { ...this.headers, ...extra } });
    } catch (e) {
      throw new WeightSourceError(
        'network',
        path,
        `could not reach ${this.url(path)}: ${(e as Error).message}`,
      );
    }
  }
}

function httpError(path: string, res: Response): WeightSourceError {
  void discard(res);
  return new WeightSourceError(
    'http',
    path,
    `${res.url || path}: HTTP ${res.status} ${res.statusText}`.trim(),
  );
}

function contentLength(res: Response): number | undefined {
  const v = res.headers.get('content-length');
  if (v === null) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** "bytes 0-0/12345" → 12345 ("*" or malformed → undefined). */
export function totalFromContentRange(v: string | null): number | undefined {
  const m = v ? /\/(\d+)\s*$/.exec(v) : null;
  return m ? Number(m[1]) : undefined;
}

function isHtmlFallback(path: string, res: Response): boolean {
  const type = res.headers.get('content-type') ?? '';
  return type.includes('text/html') && !/\.html?$/i.test(path);
}

async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // Already consumed or closed: nothing to free.
  }
}
