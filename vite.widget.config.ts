import { defineConfig } from 'vite';

/**
 * The embeddable widget (README "Embedding"): one ES module, dist/widget/video-reasoner.js, built by
 * Vite's library mode after the app (`npm run build`). The engine worker it starts is emitted beside it
 * (dist/widget/assets/); the page's own build is untouched. No public/ copy: the model files are the app's.
 */
export default defineConfig({
  publicDir: false,
  // Relative URLs: the widget finds its worker beside itself, wherever the app is hosted.
  base: './',
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    outDir: 'dist/widget',
    emptyOutDir: true,
    sourcemap: true,
    lib: {
      entry: { 'video-reasoner': 'src/widget/index.ts' },
      formats: ['es'],
      fileName: (_format, name) => `${name}.js`,
    },
  },
});
