import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'scripts/**/*.test.ts'],
    pool: 'forks',
    setupFiles: ['src/gpu/testing/setup-globals.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
