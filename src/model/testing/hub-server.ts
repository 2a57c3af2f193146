/**
 * Node-only test helper: a local HTTP server that serves a checkpoint the way the Hugging Face hub
 * does. Files live under `/{repo}/resolve/{revision}/{file}`; LFS files (*.safetensors) answer with a
 * 302 to `/cdn/{repo}/{revision}/{file}` (the hub's redirect to its CDN), small files directly.
 * CORS as the hub sends it (any origin; Content-Range, ETag … exposed), so a page on another origin
 * can load from it. Range support can be switched off, and faults injected per request: a 5xx, a
 * connection dropped after N body bytes, a body that stalls.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { status: number; retryAfterS?: number }
  | { dropAfterBytes: number }
  | { stallAfterBytes: number; stallMs: number };

export interface HubRequest {
  method: string;
  /** The file's path in the repo. */
  file: string;
  /** Whether this was the CDN leg of a redirect. */
  cdn: boolean;
  /** The request's path as sent. */
  url: string;
  range: string | null;
  status: number;
  /** Body bytes written (before any drop). */
  bytes: number;
  /** 1 for the first request of this file, leg and method, 2 for the next, … */
  nth: number;
}

export interface HubServerOptions {
  repo: string;
  revision?: string;
  /** The commit the revision points at: sent as X-Repo-Commit, and `/resolve/<commit>/` serves too. */
  commit?: string;
  files: ReadonlyMap<string, Uint8Array>;
  /** Honour Range requests (default true). Off: every GET gets the whole file with 200. */
  range?: boolean;
  /** Port to listen on, 127.0.0.1 (default 0: any free port). */
  port?: number;
  /** Answer each shard read on the CDN this much later (so overlapping downloads overlap here). */
  latencyMs?: number;
  /** Decides a fault for a request (called for every request that would otherwise succeed). */
  fault?: (req: Omit<HubRequest, 'status' | 'bytes' | 'url'>) => Fault | undefined;
}

export interface HubServer {
  /** What HF_ENDPOINT would be set to: `http://127.0.0.1:<port>`. */
  endpoint: string;
  /** `{endpoint}/{repo}/resolve/{revision}/`. */
  baseUrl: string;
  requests: HubRequest[];
  /** Shard reads on the CDN open now, and the most open at once (parallel downloads). */
  shardReads: { open: number; peak: number };
  close(): Promise<void>;
}

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers':
    'Content-Range, Content-Length, Accept-Ranges, ETag, X-Repo-Commit, X-Linked-Size, X-Linked-Etag',
};

export async function startHubServer(opts: HubServerOptions): Promise<HubServer> {
  const revision = opts.revision ?? 'main';
  const commit = opts.commit ?? 'c0ffee'.padEnd(40, '0');
  const rangeOk = opts.range ?? true;
  const requests: HubRequest[] = [];
  const shardReads = { open: 0, peak: 0 };
  const counts = new Map<string, number>();
  const resolvePrefix = `/${opts.repo}/resolve/${encodeURIComponent(revision)}/`;
  const commitPrefix = `/${opts.repo}/resolve/${commit}/`;
  const cdnPrefix = `/cdn/${opts.repo}/${encodeURIComponent(revision)}/`;

  const server = createServer((req, res) => {
    for (const [k, v] of Object.entries(CORS)) res.setHeader(k, v);
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
        'Access-Control-Allow-Headers': 'Range, Authorization, Content-Type',
      });
      res.end();
      return;
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const cdn = path.startsWith(cdnPrefix);
    const prefix = cdn ? cdnPrefix : [resolvePrefix, commitPrefix].find((p) => path.startsWith(p));
    const file = prefix ? decodeURIComponent(path.slice(prefix.length)) : null;
    // The hub names the commit on every answer from resolve/ (not on the CDN's).
    if (prefix && !cdn) res.setHeader('X-Repo-Commit', commit);
    const body = file === null ? undefined : opts.files.get(file);
    const key = `${cdn ? 'cdn' : 'hub'}:${req.method}:${file}`;
    const nth = (counts.get(key) ?? 0) + 1;
    counts.set(key, nth);
    const log: HubRequest = {
      method: req.method ?? 'GET',
      file: file ?? path,
      cdn,
      url: path,
      range: req.headers.range ?? null,
      status: 0,
      bytes: 0,
      nth,
    };
    requests.push(log);
    if (!body || file === null) {
      log.status = 404;
      res.writeHead(404, { 'Content-Type': 'application/json', 'X-Error-Code': 'EntryNotFound' });
      res.end('{"error":"Entry not found"}');
      return;
    }
    if (!cdn && file.endsWith('.safetensors')) {
      // The hub's LFS answer: a redirect to the CDN, with the size in X-Linked-Size.
      log.status = 302;
      res.writeHead(302, {
        Location: `${cdnPrefix}${file.split('/').map(encodeURIComponent).join('/')}`,
        'X-Linked-Size': String(body.byteLength),
      });
      res.end();
      return;
    }
    const fault = opts.fault?.({ method: log.method, file, cdn, range: log.range, nth });
    if (fault && 'status' in fault) {
      log.status = fault.status;
      res.writeHead(fault.status, fault.retryAfterS ? { 'Retry-After': String(fault.retryAfterS) } : {});
      res.end('injected failure');
      return;
    }
    if (cdn && req.method === 'GET') {
      shardReads.open++;
      shardReads.peak = Math.max(shardReads.peak, shardReads.open);
      res.on('close', () => shardReads.open--);
    }
    if (opts.latencyMs) setTimeout(() => serveBytes(req, res, body, rangeOk, fault, log), opts.latencyMs);
    else serveBytes(req, res, body, rangeOk, fault, log);
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    baseUrl: `${endpoint}${resolvePrefix}`,
    requests,
    shardReads,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function serveBytes(
  req: IncomingMessage,
  res: ServerResponse,
  body: Uint8Array,
  rangeOk: boolean,
  fault: Fault | undefined,
  log: HubRequest,
): void {
  const size = body.byteLength;
  let start = 0;
  let end = size - 1;
  const headers: Record<string, string> = {
    // Every read reaches the server, as on a first visit (no browser cache between runs).
    'Cache-Control': 'no-store',
    'Content-Type': 'application/octet-stream',
    ETag: `"${size}"`,
  };
  const m = rangeOk ? /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '') : null;
  if (rangeOk) headers['Accept-Ranges'] = 'bytes';
  if (m) {
    start = Number(m[1]);
    end = Math.min(m[2] ? Number(m[2]) : size - 1, size - 1);
    if (start >= size) {
      log.status = 416;
      res.writeHead(416, { 'Content-Range': `bytes */${size}` });
      res.end();
      return;
    }
    headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  }
  log.status = m ? 206 : 200;
  headers['Content-Length'] = String(end - start + 1);
  res.writeHead(log.status, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const data = body.subarray(start, end + 1);
  if (fault && 'dropAfterBytes' in fault) {
    const n = Math.min(fault.dropAfterBytes, data.byteLength - 1);
    log.bytes = n;
    // Flush what the client may see, then cut the connection without finishing the body.
    res.write(data.subarray(0, n), () => res.socket?.destroy());
    return;
  }
  if (fault && 'stallAfterBytes' in fault) {
    const n = Math.min(fault.stallAfterBytes, data.byteLength - 1);
    res.write(data.subarray(0, n));
    log.bytes = n;
    const t = setTimeout(() => {
      if (!res.destroyed) res.end(data.subarray(n));
    }, fault.stallMs);
    res.on('close', () => clearTimeout(t));
    return;
  }
  log.bytes = data.byteLength;
  res.end(data);
}
