/**
 * Vite's dev server for the peer benchmark: our source modules as Vite serves them, onnxruntime-web's
 * dist files under /ort/ untransformed (.mjs as JavaScript, .wasm as application/wasm), and a blank
 * page at /peer.html so the app itself never starts in the benchmark tab, and the cases' input arrays.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { createServer, type Plugin, type ViteDevServer } from 'vite';

const MIME: Record<string, string> = {
  '.mjs': 'text/javascript',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
};

/** Case data for /peer-data/<case id>/<array name>. */
export type PeerData = (id: string, name: string) => Uint8Array | undefined;

function peerRoutes(ortDist: string, data: PeerData): Plugin {
  return {
    name: 'peer-bench-routes',
    configureServer(server) {
      // Registered before Vite's own middlewares, so Vite never transforms ORT's files.
      server.middlewares.use((req, res, next) => {
        const url = (req.url ?? '').split('?')[0];
        if (url === '/peer.html') {
          res.setHeader('Content-Type', 'text/html');
          res.end('<!doctype html><meta charset="utf-8"><title>peer bench</title>');
          return;
        }
        if (url === '/favicon.ico') {
          res.statusCode = 204;
          res.end();
          return;
        }
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

export async function startPeerServer(
  root: string,
  port: number,
  data: PeerData,
): Promise<{ url: string; server: ViteDevServer }> {
  const ortDist = join(root, 'node_modules', 'onnxruntime-web', 'dist');
  if (!existsSync(join(ortDist, 'ort.webgpu.min.mjs')))
    throw new Error(`onnxruntime-web is not installed (${ortDist}): run npm install`);
  const server = await createServer({
    root,
    configFile: join(root, 'vite.config.ts'),
    logLevel: 'warn',
    plugins: [peerRoutes(ortDist, data)],
    // Our modules import nothing from node_modules; skip the dependency scan of the app.
    optimizeDeps: { noDiscovery: true, include: [] },
    server: { host: '127.0.0.1', port, strictPort: false, hmr: false },
  });
  await server.listen();
  const url = server.resolvedUrls?.local[0] ?? `http://127.0.0.1:${port}/`;
  return { url: url.replace(/\/$/, ''), server };
}
