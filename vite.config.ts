import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';
import { CSP } from './scripts/csp';

/** What a page on another origin may read from the app (static, public files only). */
const WIDGET_CORS = {
  origin: '*',
  exposedHeaders: ['Content-Length', 'Content-Range', 'Content-Encoding', 'Accept-Ranges', 'ETag'],
};

/**
 * The demo model the app loads by itself: precached, so the installed app answers offline. The
 * fixtures (models/tiny-a, tiny-b) are still served, not precached.
 */
const DEMO_MODEL_GLOB = 'models/tiny-r1-shapes/*';

export default defineConfig({
  plugins: [
    react(),
    // The page's Content-Security-Policy, in the build only (the dev server injects inline scripts).
    // The iframe page (embed.html) keeps its own rules.
    {
      name: 'csp-meta',
      apply: 'build',
      transformIndexHtml: {
        order: 'post',
        handler: (html, ctx) =>
          ctx.filename.endsWith('/index.html')
            ? html.replace(
                '<head>',
                `<head>\n    <meta http-equiv="Content-Security-Policy" content="${CSP}" />`,
              )
            : html,
      },
    },
    // The installable, offline app: the service worker (src/sw.ts) precaches the shell, the engine
    // worker and the demo model; everything else (videos, other models) goes to the network.
    VitePWA({
      strategies: 'injectManifest',
      srcDir: 'src',
      filename: 'sw.ts',
      // A new version waits until the user says so (src/ui/components/UpdateBanner.tsx registers it).
      registerType: 'prompt',
      injectRegister: false,
      includeAssets: ['favicon.svg', 'icon-192.png', 'icon-512.png', 'icon-maskable-512.png'],
      manifest: {
        name: 'Video Reasoner',
        short_name: 'Video Reasoner',
        description: 'Ask questions about a video; the model runs on your GPU, in the browser.',
        theme_color: '#4f46e5',
        background_color: '#ffffff',
        display: 'standalone',
        start_url: '.',
        icons: [
          { src: 'icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
          { src: 'favicon.svg', sizes: 'any', type: 'image/svg+xml' },
        ],
      },
      injectManifest: {
        // The sample clips are small (~3 KB each): offline, a sample still works.
        globPatterns: ['**/*.{js,css,html,svg,png,wasm}', DEMO_MODEL_GLOB, 'samples/*'],
        // Room for a larger demo model than today's (its model.safetensors is a few MB).
        maximumFileSizeToCacheInBytes: 64 * 2 ** 20,
      },
    }),
  ],
  worker: { format: 'es' },
  // Pre-bundle every runtime dependency at start-up: one discovered later (a test importing a module
  // the entry page does not) makes the dev server re-optimize and reload the page mid-test.
  optimizeDeps: {
    include: [
      'react',
      'react-dom',
      'react-dom/client',
      'zustand',
      'comlink',
      'mediabunny',
      '@huggingface/tokenizers',
      '@huggingface/jinja',
    ],
  },
  server: { host: '127.0.0.1' },
  // The widget on another origin fetches the app's files (widget, worker chunks, models): CORS for all,
  // with the headers the model loader reads (README "Embedding" lists them for other hosts).
  preview: { host: '127.0.0.1', cors: WIDGET_CORS },
  build: {
    target: 'es2022',
    sourcemap: true,
    // The page, and the iframe mode of the widget (/embed).
    rolldownOptions: { input: { main: 'index.html', embed: 'embed.html' } },
  },
});
