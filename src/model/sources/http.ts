import { expectLength, type WeightSource, WeightSourceError } from '../weight-source';

export interface RetryOptions {
  /** Failed attempts in a row before a read gives up (an attempt that received bytes resets the count). */
  attempts: number;
  /** Delay before the first retry; doubles per failure in a row, up to maxDelayMs (plus ≤ 25 % jitter). */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 8, baseDelayMs: 500, maxDelayMs: 30_000 };

/** One retried request: which file, the how-many-th failure in a row, why, and where it resumes. */
export interface RetryInfo {
  path: string;
  attempt: number;
  delayMs: number;
  reason: string;
  /** The byte the retry asks for (a read resumes where the broken one stopped). */
  resumeAt: number;
}

export interface HttpSourceOptions {
  /** Injected in tests; defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Extra request headers (e.g. an Authorization header for a gated repo). */
  headers?: Record<string, string>;
  /**
   * A server that ignores Range is read as one streamed whole-file response per file (skipping to each
   * offset); files above this size are refused instead (default: no limit).
   */
  maxWholeFileBytes?: number;
  retry?: Partial<RetryOptions>;
  /** A response that delivers no byte for this long is dropped and retried (default 30 s). */
  stallMs?: number;
  /** Cancels every request and backoff wait; reads then reject with the signal's reason. */
  signal?: AbortSignal;
  /** Bytes delivered to reads, as they arrive (progress). */
  onBytes?: (path: string, bytes: number) => void;
  onRetry?: (info: RetryInfo) => void;
}

/** A response being read: `pos` is the file offset of its next byte. */
interface Cursor {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  ctrl: AbortController;
  unlink: () => void;
  pos: number;
  /** Exclusive end of what this response carries (Infinity: unknown length). */
  end: number;
  /** Received bytes at `pos` not yet handed out. */
  pending: Uint8Array | null;
  stalled: boolean;
}

/** A failure worth another attempt: network error, 5xx, dropped or stalled body. */
class Retryable extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * Files under a base URL: the hub (`https://huggingface.co/<repo>/resolve/<rev>/`, LFS files answered
 * with a redirect to its CDN, which fetch follows), a self-hosted copy, or the app's own /models/<name>/.
 *
 * Reads are HTTP Range requests written straight into the result, so no more than the asked range is
 * ever held. A read that breaks (network error, 5xx, a body that ends early or stalls) is retried
 * with exponential backoff and resumed from the byte where it stopped; the original URL is asked
 * again each time, so an expired CDN redirect is renewed. A server that ignores Range answers with
 * the whole file: that response is streamed, skipped to the offset, and kept open for the next read
 * of the same file when it lies further on (the loader reads in file order), so a shard crosses the
 * network about once. Sizes come from HEAD (Content-Length is CORS-safelisted) or a 1-byte range
 * probe, and every later response must agree with them. A directory cannot be listed over HTTP, so
 * `list()` is undefined and callers probe known names.
 */
export class HttpWeightSource implements WeightSource {
  readonly label: string;
  private base: string;
  private readonly pinFrom: string | undefined;
  private readonly fetchFn: typeof fetch;
  private readonly headers: Record<string, string>;
  private readonly maxWhole: number;
  private readonly retry: RetryOptions;
  private readonly stallMs: number;
  private readonly signal: AbortSignal | undefined;
  private readonly onBytes: ((path: string, bytes: number) => void) | undefined;
  private readonly onRetry: ((info: RetryInfo) => void) | undefined;
  private readonly sizes = new Map<string, number>();
  /** Whole-file responses (no Range support) kept open for the next read of the file. */
  private readonly cursors = new Map<string, Cursor>();
  /** Retries so far, all files. */
  retries = 0;
  /**
   * The commit the hub named (X-Repo-Commit). Under a hub-style base URL (`…/resolve/<revision>/`)
   * every later request is pinned to `…/resolve/<commit>/`, so a branch that moves during a long
   * download cannot mix two versions' files (huggingface_hub resolves the commit first, too).
   */
  commit: string | undefined;

  constructor(baseUrl: string, opts: HttpSourceOptions = {}) {
    this.base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
    this.label = this.base;
    this.fetchFn = opts.fetch ?? ((input, init) => fetch(input, init));
    this.headers = opts.headers ?? {};
    this.maxWhole = opts.maxWholeFileBytes ?? Number.POSITIVE_INFINITY;
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.stallMs = opts.stallMs ?? 30_000;
    this.signal = opts.signal;
    this.onBytes = opts.onBytes;
    this.onRetry = opts.onRetry;
    this.pinFrom = /\/resolve\/[^/]+\/$/.exec(this.base)?.[0];
  }

  url(path: string): string {
    return this.base + path.split('/').map(encodeURIComponent).join('/');
  }

  async list(): Promise<undefined> {
    return undefined;
  }

  async has(path: string): Promise<boolean> {
    return this.retrying(path, 0, async () => {
      const res = await this.request(path, 'HEAD');
      if (res.status === 404 || res.status === 410) return false;
      if (!res.ok) throw statusError(this.url(path), path, res);
      // Dev servers answer unknown paths with the app's index.html (SPA fallback): that is "absent".
      if (isHtmlFallback(path, res)) return false;
      const n = contentLength(res);
      if (n !== undefined && !res.headers.get('content-encoding')) this.knowSize(path, n);
      return true;
    });
  }

  async size(path: string): Promise<number> {
    const known = this.sizes.get(path);
    if (known !== undefined) return known;
    if (!(await this.has(path)))
      throw new WeightSourceError('not-found', path, `${path} was not found at ${this.label}`);
    const fromHead = this.sizes.get(path);
    if (fromHead !== undefined) return fromHead;
    // No usable Content-Length: ask for one byte and read the total from Content-Range.
    return this.retrying(path, 0, async () => {
      const res = await this.request(path, 'GET', { Range: 'bytes=0-0' });
      if (res.status === 416) {
        await discard(res);
        this.knowSize(path, 0);
        return 0;
      }
      if (res.status === 206 && !encoded(res)) {
        await discard(res);
        const total = parseContentRange(res.headers.get('content-range'))?.total;
        if (total === undefined)
          throw new WeightSourceError(
            'http',
            path,
            `${this.url(path)}: range reply without a readable Content-Range`,
          );
        this.knowSize(path, total);
        return total;
      }
      if (!res.ok) throw statusError(this.url(path), path, res);
      // The whole file: count it as it streams by (nothing is kept). A compressed range counts the
      // compressed bytes: ask for the whole file instead, which the browser decodes.
      let whole = res;
      if (encoded(res)) {
        await discard(res);
        whole = await this.request(path, 'GET');
      }
      if (!whole.ok) throw statusError(this.url(path), path, whole);
      let n = 0;
      const reader = whole.body?.getReader();
      for (;;) {
        const r = reader ? await reader.read() : { done: true as const, value: undefined };
        if (r.done) break;
        n += r.value.byteLength;
      }
      this.knowSize(path, n);
      return n;
    });
  }

  async read(path: string, offset: number, length: number): Promise<Uint8Array> {
    if (length === 0) return new Uint8Array(0);
    const known = this.sizes.get(path);
    if (known !== undefined && offset + length > known) throw this.pastEnd(path, offset, length, known);
    const out = new Uint8Array(length);
    const state = { got: 0 };
    await this.retrying(
      path,
      () => offset + state.got,
      async () => {
        // A server may answer a range with less than asked: then the next request asks for the rest.
        while (state.got < length) {
          const at = offset + state.got;
          const cur = this.takeCursor(path, at) ?? (await this.open(path, at, offset + length));
          try {
            await this.fill(path, cur, out, state, offset);
          } catch (e) {
            closeCursor(cur);
            throw e;
          }
          if (cur.pending || cur.pos < cur.end) this.keepCursor(path, cur);
          else closeCursor(cur);
        }
      },
    );
    expectLength(this, path, offset, length, state.got);
    return out;
  }

  /** Closes the responses kept open for later reads. */
  close(): void {
    for (const cur of this.cursors.values()) closeCursor(cur);
    this.cursors.clear();
  }

  // ---- one attempt ------------------------------------------------------------------------------

  /** A response positioned at or before `at`, carrying bytes up to `end` (or the whole file). */
  private async open(path: string, at: number, end: number): Promise<Cursor> {
    const ctrl = new AbortController();
    const user = this.signal;
    const onAbort = () => ctrl.abort(user?.reason);
    user?.addEventListener('abort', onAbort, { once: true });
    const unlink = () => user?.removeEventListener('abort', onAbort);
    const url = this.url(path);
    let stalled = false;
    const timer = setTimeout(() => {
      stalled = true;
      ctrl.abort(new Retryable(`no answer for ${this.stallMs} ms`));
    }, this.stallMs);
    let res: Response;
    try {
      res = await this.request(path, 'GET', { Range: `bytes=${at}-${end - 1}` }, ctrl.signal);
      // A range of a compressed representation (some dev servers and CDNs send one) cannot be
      // placed in the file: read the whole file, which the browser decodes, as from a server
      // without Range.
      if (res.status === 206 && encoded(res)) {
        await discard(res);
        res = await this.request(path, 'GET', {}, ctrl.signal);
      }
    } catch (e) {
      unlink();
      throw stalled ? new Retryable(`${url}: no answer for ${this.stallMs} ms`) : e;
    } finally {
      clearTimeout(timer);
    }
    const fail = (e: Error): never => {
      unlink();
      void discard(res);
      throw e;
    };
    const known = this.sizes.get(path);
    if (res.status === 404 || res.status === 410)
      fail(new WeightSourceError('not-found', path, `${path} was not found at ${this.label}`));
    if (res.status === 416) fail(this.pastEnd(path, at, end - at, known));
    if (!res.ok) fail(statusError(url, path, res));
    if (!res.body) fail(new Retryable(`${url}: HTTP ${res.status} without a body`));
    const cursor = (pos: number, stop: number): Cursor => ({
      reader: res.body!.getReader(),
      ctrl,
      unlink,
      pos,
      end: stop,
      pending: null,
      stalled: false,
    });
    if (res.status === 206) {
      const cr = parseContentRange(res.headers.get('content-range'));
      if (!cr || cr.start !== at)
        fail(
          new WeightSourceError(
            'http',
            path,
            `${url}: asked for bytes from ${at}, the server sent ${res.headers.get('content-range') ?? 'no Content-Range'}`,
          ),
        );
      if (cr!.total !== undefined) {
        this.checkSize(path, cr!.total, fail);
        if (cr!.end + 1 < end && cr!.end + 1 === cr!.total) fail(this.pastEnd(path, at, end - at, cr!.total));
      }
      return cursor(at, cr!.end + 1);
    }
    // 200: the server ignored Range and sends the whole file from byte 0.
    const n = res.headers.get('content-encoding') ? undefined : contentLength(res);
    if (n !== undefined) {
      this.checkSize(path, n, fail);
      if (end > n) fail(this.pastEnd(path, at, end - at, n));
    }
    const total = n ?? known;
    if (total !== undefined && total > this.maxWhole)
      fail(
        new WeightSourceError(
          'no-range',
          path,
          `${url}: the server ignores HTTP Range requests, and the file is too big to fetch whole (${total} bytes)`,
        ),
      );
    return cursor(0, n ?? Number.POSITIVE_INFINITY);
  }

  /**
   * Copies the bytes at `offset + state.got …` from the response into `out` until it is full or the
   * response has sent all it announced, counting them in `state.got` as they arrive (a failure then
   * resumes after the last byte received). Bytes before the wanted position (a whole-file response)
   * are skipped, bytes after it stay in the cursor for the next read.
   */
  private async fill(
    path: string,
    cur: Cursor,
    out: Uint8Array,
    state: { got: number },
    offset: number,
  ): Promise<void> {
    while (state.got < out.byteLength) {
      if (!cur.pending && cur.pos >= cur.end) return;
      const chunk = cur.pending ?? (await this.next(path, cur));
      cur.pending = null;
      if (!chunk) {
        if (Number.isFinite(cur.end))
          throw new Retryable(`${this.url(path)}: the connection closed at byte ${cur.pos} of ${cur.end}`);
        throw this.pastEnd(path, offset, out.byteLength, cur.pos);
      }
      const at = offset + state.got;
      const skip = Math.max(0, at - cur.pos);
      if (skip >= chunk.byteLength) {
        cur.pos += chunk.byteLength;
        continue;
      }
      const take = Math.min(chunk.byteLength - skip, out.byteLength - state.got);
      out.set(chunk.subarray(skip, skip + take), state.got);
      state.got += take;
      this.onBytes?.(path, take);
      const used = skip + take;
      cur.pos += used;
      if (used < chunk.byteLength) cur.pending = chunk.subarray(used);
    }
  }

  /** The next chunk of the body, or null at its end; a body silent for stallMs is dropped. */
  private async next(path: string, cur: Cursor): Promise<Uint8Array | null> {
    const timer = setTimeout(() => {
      cur.stalled = true;
      cur.ctrl.abort(new Retryable('stalled'));
    }, this.stallMs);
    try {
      const r = await cur.reader.read();
      return r.done ? null : r.value;
    } catch (e) {
      if (this.signal?.aborted) throw this.signal.reason;
      throw new Retryable(
        cur.stalled
          ? `${this.url(path)}: no data for ${this.stallMs} ms at byte ${cur.pos}`
          : `${this.url(path)}: the connection broke at byte ${cur.pos} (${(e as Error)?.message ?? e})`,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  private takeCursor(path: string, at: number): Cursor | undefined {
    const cur = this.cursors.get(path);
    if (!cur) return undefined;
    this.cursors.delete(path);
    if (cur.pos <= at) return cur;
    closeCursor(cur); // behind us: start again
    return undefined;
  }

  private keepCursor(path: string, cur: Cursor): void {
    const old = this.cursors.get(path);
    if (old) closeCursor(old);
    this.cursors.set(path, cur);
  }

  // ---- retries ----------------------------------------------------------------------------------

  /**
   * Runs `attempt` until it succeeds; retryable failures wait with exponential backoff. `position`
   * tells where a read stands: progress since the last failure resets the count of failures in a row.
   */
  private async retrying<T>(
    path: string,
    position: number | (() => number),
    attempt: () => Promise<T>,
  ): Promise<T> {
    const where = typeof position === 'number' ? () => position : position;
    let failures = 0;
    let mark = where();
    for (;;) {
      this.signal?.throwIfAborted();
      try {
        return await attempt();
      } catch (e) {
        if (this.signal?.aborted) throw this.signal.reason;
        const retryable = e instanceof Retryable || e instanceof TypeError;
        if (!retryable) throw e;
        if (where() > mark) failures = 0;
        mark = where();
        failures++;
        const reason = e instanceof Retryable ? e.message : `could not reach ${this.url(path)}: ${e.message}`;
        if (failures >= this.retry.attempts)
          throw new WeightSourceError(
            'network',
            path,
            `${reason} (gave up after ${failures} attempts in a row)`,
          );
        const backoff = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (failures - 1));
        const after = e instanceof Retryable ? (e.retryAfterMs ?? 0) : 0;
        const delayMs = Math.round(
          Math.min(this.retry.maxDelayMs, Math.max(after, backoff * (1 + 0.25 * Math.random()))),
        );
        this.retries++;
        this.onRetry?.({ path, attempt: failures, delayMs, reason, resumeAt: mark });
        await sleep(delayMs, this.signal);
      }
    }
  }

  // ---- helpers ----------------------------------------------------------------------------------

  private async request(
    path: string,
    method: 'GET' | 'HEAD',
    extra: Record<string, string> = {},
    signal: AbortSignal | undefined = this.signal,
  ): Promise<Response> {
    const res = await this.fetchFn(this.url(path), {
      method,
      headers: { ...this.headers, ...extra },
      signal,
    });
    this.noteCommit(res);
    return res;
  }

  /** Reads X-Repo-Commit (the hub exposes it; a CDN answer has none) and pins the revision to it. */
  private noteCommit(res: Response): void {
    if (this.commit !== undefined) return;
    const c = res.headers.get('x-repo-commit');
    if (!c || !/^[0-9a-f]{40}$/.test(c)) return;
    this.commit = c;
    if (this.pinFrom) this.base = this.base.slice(0, -this.pinFrom.length) + `/resolve/${c}/`;
  }

  private knowSize(path: string, n: number): void {
    this.checkSize(path, n, (e) => {
      throw e;
    });
  }

  /** A file's size must not change while it is read (a new revision pushed under `main`, a bad mirror). */
  private checkSize(path: string, n: number, fail: (e: Error) => never): void {
    const known = this.sizes.get(path);
    if (known === undefined) this.sizes.set(path, n);
    else if (known !== n)
      fail(
        new WeightSourceError(
          'invalid',
          path,
          `${this.url(path)} changed while loading: it had ${known} bytes, now ${n}. Load it again.`,
        ),
      );
  }

  private pastEnd(path: string, offset: number, length: number, size: number | undefined): WeightSourceError {
    return new WeightSourceError(
      'short-read',
      path,
      `${path} at ${this.label}: bytes ${offset}..${offset + length} are past the end of the file` +
        `${size === undefined ? '' : ` (${size} bytes)`} (truncated?)`,
    );
  }
}

function statusError(url: string, path: string, res: Response): Error {
  void discard(res);
  const what = `${res.url || url}: HTTP ${res.status} ${res.statusText}`.trim();
  if (res.status >= 500 || res.status === 429 || res.status === 408) {
    const ra = Number(res.headers.get('retry-after'));
    return new Retryable(what, Number.isFinite(ra) && ra > 0 ? ra * 1000 : undefined);
  }
  // The hub says why in X-Error-Code / X-Error-Message (RepoNotFound, GatedRepo, …).
  const code = res.headers.get('x-error-code');
  const msg = res.headers.get('x-error-message');
  const why = [code, msg].filter(Boolean).join(': ');
  const hint =
    res.status === 401 || res.status === 403
      ? ' (on the hub: the repo id or revision is wrong, or the repo is gated or private and needs a token)'
      : '';
  return new WeightSourceError('http', path, `${what}${why ? ` (${why})` : ''}${hint}`);
}

function closeCursor(cur: Cursor): void {
  cur.unlink();
  cur.pending = null;
  cur.reader.cancel().catch(() => {});
  cur.ctrl.abort();
}

function contentLength(res: Response): number | undefined {
  const v = res.headers.get('content-length');
  if (v === null) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** "bytes 5-9/12345" → {start 5, end 9, total 12345} ("*" total → undefined total). */
export function parseContentRange(
  v: string | null,
): { start: number; end: number; total: number | undefined } | undefined {
  const m = v ? /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(v) : null;
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
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

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The response carries a Content-Encoding: its lengths and ranges count encoded bytes. */
function encoded(res: Response): boolean {
  const e = res.headers.get('content-encoding');
  return e !== null && e !== '' && e !== 'identity';
}
