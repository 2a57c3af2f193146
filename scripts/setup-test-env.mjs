#!/usr/bin/env node
// Finds (and on Debian as root, installs) what the test suite needs: Chromium, the system Vulkan
// drivers (for libLLVM), ffmpeg, and Mesa 25's lavapipe unpacked into .vendor/ (never installed
// system-wide). Writes .vendor/test-env.json with the paths. Elsewhere it says what to install.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const vendor = join(root, '.vendor');
const isRoot = process.getuid?.() === 0;
const isDebian = existsSync('/etc/debian_version');

const log = (m) => console.log(`[setup] ${m}`);
const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const dpkgHas = (pkg) =>
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own ${field} syntax
  spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout?.includes(
    'install ok installed',
  );

function fail(msg) {
  console.error(`\n[setup] ${msg}\n`);
  process.exit(1);
}

function aptInstall(pkgs) {
  const missing = pkgs.filter((p) => !dpkgHas(p));
  if (!missing.length) return;
  if (!(isDebian && isRoot)) {
    fail(
      `Missing packages: ${missing.join(' ')}. Install them (Debian/Ubuntu: sudo apt-get install -y ${missing.join(' ')}) and run again.`,
    );
  }
  log(`apt-get install ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], {
    stdio: 'inherit',
    env,
  });
}

export function findChrome() {
  const candidates = [
    process.env.CHROME_PATH,
    '/usr/lib/chromium/chromium',
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/usr/bin/google-chrome',
    '/usr/bin/google-chrome-stable',
    '/opt/google/chrome/chrome',
  ];
  return candidates.find((p) => p && existsSync(p)) ?? null;
}

function setupLavapipe() {
  const dir = join(vendor, 'lavapipe');
  const icd = join(dir, 'lvp_icd.json');
  const lib = join(dir, 'root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so');
  if (existsSync(icd) && existsSync(lib)) return icd;
  if (!isDebian)
    fail('Lavapipe 25 is needed for the f16 GPU tests: point LAVAPIPE_ICD at a Mesa ≥ 24 lavapipe ICD json.');
  log('downloading Mesa 25 lavapipe from bookworm-backports into .vendor/lavapipe');
  mkdirSync(join(dir, 'lists/partial'), { recursive: true });
  mkdirSync(join(dir, 'cache/archives/partial'), { recursive: true });
  // A private sources list: the system's first Debian stanza, with the backports suite.
  const sys = '/etc/apt/sources.list.d/debian.sources';
  let stanza =
    'Types: deb\nURIs: http://deb.debian.org/debian\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n';
  if (existsSync(sys)) stanza = readFileSync(sys, 'utf8').split(/\n\s*\n/)[0];
  stanza = stanza.replace(/^Suites:.*$/m, 'Suites: bookworm-backports');
  if (!/^Suites:/m.test(stanza)) stanza += '\nSuites: bookworm-backports';
  const o = [
    `-oDir::Etc::SourceList=/dev/null`,
    `-oDir::Etc::SourceParts=${dir}/parts`,
    `-oDir::State::Lists=${dir}/lists`,
    `-oDir::Cache=${dir}/cache`,
  ];
  mkdirSync(join(dir, 'parts'), { recursive: true });
  writeFileSync(join(dir, 'parts/backports.sources'), `${stanza.trim()}\n`);
  execFileSync('apt-get', [...o, 'update', '-q'], { stdio: 'inherit' });
  execFileSync('apt-get', [...o, 'download', 'mesa-vulkan-drivers/bookworm-backports'], {
    stdio: 'inherit',
    cwd: dir,
  });
  const deb = readdirSync(dir).find((f) => f.startsWith('mesa-vulkan-drivers_') && f.endsWith('.deb'));
  if (!deb) fail('apt-get download gave no mesa-vulkan-drivers package');
  execFileSync('dpkg', ['-x', join(dir, deb), join(dir, 'root')], { stdio: 'inherit' });
  writeFileSync(
    icd,
    JSON.stringify({ file_format_version: '1.0.0', ICD: { api_version: '1.4.305', library_path: lib } }),
  );
  return icd;
}

export function setup() {
  mkdirSync(vendor, { recursive: true });
  const needs = ['mesa-vulkan-drivers', 'libvulkan1'];
  if (!findChrome()) needs.push('chromium');
  if (!have('ffmpeg')) needs.push('ffmpeg');
  if (isDebian) aptInstall(needs);
  else if (!findChrome()) fail('No Chrome/Chromium found: install Chromium or set CHROME_PATH.');
  const chrome = findChrome();
  if (!chrome) fail('Chromium is still missing after install; set CHROME_PATH.');
  const swiftshader = process.env.SWIFTSHADER_ICD ?? '/usr/lib/chromium/vk_swiftshader_icd.json';
  if (!existsSync(swiftshader))
    fail(`SwiftShader's Vulkan ICD not found at ${swiftshader}; set SWIFTSHADER_ICD.`);
  const lavapipe = process.env.LAVAPIPE_ICD ?? setupLavapipe();
  const env = { chrome, swiftshader, lavapipe };
  writeFileSync(join(vendor, 'test-env.json'), JSON.stringify(env, null, 2));
  return env;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const env = setup();
  log(`chrome ${env.chrome}`);
  log(`swiftshader ICD ${env.swiftshader}`);
  log(`lavapipe ICD ${env.lavapipe}`);
}
