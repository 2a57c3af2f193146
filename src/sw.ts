/**
 * The service worker of the installable app (built by vite-plugin-pwa's injectManifest): precaches
 * the shell, the engine worker and the demo model, so a visited app opens and answers offline.
 *
 * The model loader reads files with HEAD and HTTP Range requests (never a whole shard at once), which
 * a plain precache does not answer: for precached files this worker answers HEAD with the length and
 * ranges with 206 slices of the cached file. Under /models/, a file that is neither cached nor
 * reachable is a 404, so optional files a loader probes for read as absent offline.
 */
import {
  cleanupOutdatedCaches,
  createHandlerBoundToURL,
  matchPrecache,
  precacheAndRoute,
} from 'workbox-precaching';
import { createPartialResponse } from 'workbox-range-requests';
import { NavigationRoute, registerRoute } from 'workbox-routing';

/** What this file uses of ServiceWorkerGlobalScope (the project's types are the DOM's). */
interface FetchEventLike extends Event {
  readonly request: Request;
  respondWith(r: Promise<Response>): void;
}
declare const self: {
  __WB_MANIFEST: (string | { url: string; revision: string | null })[];
  location: Location;
  skipWaiting(): Promise<void>;
  addEventListener(type: 'fetch', listener: (e: FetchEventLike) => void): void;
  addEventListener(type: 'message', listener: (e: MessageEvent) => void): void;
};

const MODELS = '/models/';

/** Registered before the precache's own handler, so it sees HEAD and Range requests first. */
self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  const ranged = req.headers.has('range');
  const underModels = url.pathname.startsWith(MODELS);
  if (req.method !== 'HEAD' && !ranged && !underModels) return;
  event.respondWith(answer(req, url, underModels));
});

async function answer(req: Request, url: URL, underModels: boolean): Promise<Response> {
  const cached = await matchPrecache(url.pathname);
  if (cached) {
    if (req.method === 'HEAD') {
      const headers = new Headers(cached.headers);
      headers.set('content-length', String((await cached.blob()).size));
      headers.set('accept-ranges', 'bytes');
      return new Response(null, { status: 200, headers });
    }
    if (req.headers.has('range')) return createPartialResponse(req, cached);
    return cached;
  }
  try {
    return await fetch(req);
  } catch (e) {
    if (underModels) return new Response('not available offline', { status: 404 });
    throw e;
  }
}

// A new version takes over when the page asks (the user chose Reload in the update banner).
self.addEventListener('message', (e) => {
  if ((e.data as { type?: unknown } | null)?.type === 'SKIP_WAITING') void self.skipWaiting();
});
cleanupOutdatedCaches();
// Precached files without a hash in their name carry a revision parameter: match them without it.
precacheAndRoute(self.__WB_MANIFEST, { ignoreURLParametersMatching: [/.*/] });
// The widget's iframe mode is its own page; every other navigation is the app.
const EMBED = /\/embed(\.html)?(\?|$)/;
registerRoute(new NavigationRoute(createHandlerBoundToURL('embed.html'), { allowlist: [EMBED] }));
registerRoute(
  new NavigationRoute(createHandlerBoundToURL('index.html'), { denylist: [/^\/models\//, EMBED] }),
);
