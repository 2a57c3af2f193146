import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
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
  preview: { host: '127.0.0.1' },
  build: { target: 'es2022', sourcemap: true },
});
