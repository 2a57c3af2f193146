/** Types of setup-test-env.mjs, for the TypeScript scripts that import it. */
export interface TestEnv {
  chrome: string;
  swiftshader: string;
  lavapipe: string;
}
/** The first existing Chrome/Chromium: $CHROME_PATH, then the usual install paths; null if none. */
export function findChrome(): string | null;
/** Finds (and on Debian as root, installs) the test environment; writes .vendor/test-env.json. */
export function setup(): TestEnv;
