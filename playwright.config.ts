import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, chromePath } from './scripts/browser/harness';

const APP_PORT = 4173;
const DEV_PORT = 5179;

export default defineConfig({
  testDir: 'e2e',
  timeout: 180_000,
  expect: { timeout: 60_000 },
  workers: 1,
  reporter: [['list'], ['json', { outputFile: 'artifacts/e2e-results.json' }]],
  outputDir: 'test-results',
  use: {
    // The system Chromium (never a Playwright download) with software WebGPU: the harness's path and flags.
    launchOptions: { executablePath: chromePath(), args: CHROMIUM_ARGS },
    screenshot: 'only-on-failure',
    // The app's service worker would answer requests page.route means to serve; the offline spec
    // allows it for itself.
    serviceWorkers: 'block',
  },
  projects: [
    // The built app, as users get it.
    { name: 'app', testMatch: /.*\.app\.spec\.ts/, use: { baseURL: `http://127.0.0.1:${APP_PORT}` } },
    // Library modules loaded straight from source by Vite's dev server (page.evaluate + import()).
    { name: 'lib', testMatch: /.*\.lib\.spec\.ts/, use: { baseURL: `http://127.0.0.1:${DEV_PORT}` } },
  ],
  webServer: [
    {
      // The app, then the widget (dist/widget/), as `npm run build` does.
      command: `npx vite build && npx vite build -c vite.widget.config.ts && npx vite preview --port ${APP_PORT} --strictPort`,
      url: `http://127.0.0.1:${APP_PORT}`,
      reuseExistingServer: !process.env.CI,
      timeout: 180_000,
    },
    {
      command: `npx vite --port ${DEV_PORT} --strictPort`,
      url: `http://127.0.0.1:${DEV_PORT}`,
      reuseExistingServer: !process.env.CI,
      timeout: 120_000,
    },
  ],
});
