/**
 * What the peer benchmark serves beside our sources (a plugin for the browser harness's Vite server):
 * onnxruntime-web's dist files under /ort/ untransformed (.mjs as JavaScript, .wasm as
 * application/wasm), and the cases' input arrays under /peer-data/.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import type { Plugin } from 'vite';

const MIME: Record<string, string> = {
  '.mjs': 'text/javascript',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
};

/** Case data for /peer-data/<case id>/<array name>. */
export type PeerData = (id: string, name: string) => Uint8Array | undefined;

/** The /ort/ and /peer-data/ routes; `root` is the repository (onnxruntime-web in its node_modules). */
export function peerRoutes(root: string, data: PeerData): Plugin {
  const ortDist = join(root, 'node_modules', 'onnxruntime-web', 'dist');
  if (!existsSync(join(ortDist, 'ort.webgpu.min.mjs')))
    throw new Error(`onnxruntime-web is not installed (${ortDist}): run npm install`);
  return {
    name: 'peer-bench-routes',
    configureServer(server) {
      // Registered before Vite's own middlewares, so Vite never transforms ORT's files.
      server.middlewares.use((req, res, next) => {
        const url = (req.url ?? '').split('?')[0];
        if (url.startsWith('/peer-data/')) {
          const [id, name] = url.slice('/peer-data/'.length).split('/').map(decodeURIComponent);
          const bytes = data(id, name);
          res.statusCode = bytes ? 200 : 404;
          res.setHeader('Content-Type', 'application/octet-stream');
          res.end(bytes ?? '');
          return;
        }
        if (!url.startsWith('/ort/')) return next();
        const file = normalize(join(ortDist, url.slice('/ort/'.length)));
        if (!file.startsWith(ortDist) || !existsSync(file) || !statSync(file).isFile()) {
          res.statusCode = 404;
          res.end();
          return;
        }
        res.setHeader('Content-Type', MIME[extname(file)] ?? 'application/octet-stream');
        res.setHeader('Content-Length', statSync(file).size);
        createReadStream(file).pipe(res);
      });
    },
  };
}
