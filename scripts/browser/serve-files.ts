/**
 * Local files for the CLIs' pages, served by the harness's Vite server like a static server would:
 * HEAD, GET, single byte ranges (the app reads models and videos with Range requests), 404s.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Plugin } from 'vite';

export function serveFile(req: IncomingMessage, res: ServerResponse, path: string): void {
  if (!existsSync(path) || !statSync(path).isFile()) {
    res.statusCode = 404;
    res.end('not found');
    return;
  }
  const size = statSync(path).size;
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Content-Type', 'application/octet-stream');
  res.setHeader('Cache-Control', 'no-store');
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  let start = 0;
  let end = size - 1;
  if (m) {
    start = Number(m[1]);
    end = Math.min(m[2] ? Number(m[2]) : size - 1, size - 1);
    if (start >= size) {
      res.statusCode = 416;
      res.setHeader('Content-Range', `bytes */${size}`);
      res.end();
      return;
    }
    res.statusCode = 206;
    res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
  }
  res.setHeader('Content-Length', String(end - start + 1));
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  createReadStream(path, { start, end }).pipe(res);
}

/**
 * A Vite plugin serving `routes`: each maps a URL path prefix to a file (exact path) or a folder
 * (prefix ending in '/', the rest of the URL a path inside it; `..` refused).
 */
export function serveFilesPlugin(name: string, routes: Record<string, string | undefined>): Plugin {
  return {
    name,
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
        for (const [prefix, target] of Object.entries(routes)) {
          if (!target) continue;
          if (!prefix.endsWith('/')) {
            if (p === prefix) return serveFile(req, res, target);
            continue;
          }
          if (!p.startsWith(prefix)) continue;
          const rel = p.slice(prefix.length);
          if (rel.split('/').includes('..')) {
            res.statusCode = 403;
            res.end();
            return;
          }
          return serveFile(req, res, `${target.replace(/\/$/, '')}/${rel}`);
        }
        next();
      });
    },
  };
}
