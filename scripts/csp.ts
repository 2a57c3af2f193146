/**
 * The app's Content-Security-Policy, written into the production build's index.html as a meta tag
 * (vite.config.ts) and listed in README "Security" as headers for hosts that can send them.
 *
 * - Scripts, workers, styles, fonts and the manifest only from the app's origin: no inline script, no
 *   eval (nothing the app ships needs either; no WebAssembly runs, so no 'wasm-unsafe-eval').
 * - Models and videos from any https server (the hub, a CDN, a self-hosted copy) or http on this
 *   machine: the same rule the model field enforces (src/engine-client/model-source.ts).
 * - blob: for the <video> fallback's object URLs and decoded thumbnails; data: for inline images.
 * - No plugins, no <base> elsewhere, forms post nowhere else.
 * frame-ancestors is ignored in a meta tag: hosts send it as a header (README).
 */
const LOCAL = 'http://localhost:* http://127.0.0.1:* http://[::1]:*';

export const CSP_DIRECTIVES: Record<string, string> = {
  'default-src': "'self'",
  'script-src': "'self'",
  'worker-src': "'self'",
  'style-src': "'self'",
  'img-src': "'self' data: blob:",
  'media-src': `'self' blob: https: ${LOCAL}`,
  'connect-src': `'self' blob: https: ${LOCAL}`,
  'font-src': "'self'",
  'manifest-src': "'self'",
  'object-src': "'none'",
  'base-uri': "'self'",
  'form-action': "'self'",
};

export const CSP = Object.entries(CSP_DIRECTIVES)
  .map(([k, v]) => `${k} ${v}`)
  .join('; ');
