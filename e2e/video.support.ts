/**
 * Node-side references for the video browser tests: ffprobe frame tables, ffmpeg's decode of chosen
 * frame indices (scaled like the page scales), PSNR, and the ffmpeg-made clips.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page } from '@playwright/test';

/** The page-side helpers module, as the dev server serves it. */
export const PROBE = '/src/video/testing/probe.ts';
export type Probe = typeof import('../src/video/testing/probe');

export const ROOT = resolve(import.meta.dirname, '..');
export const REAL_DIR = 'test-data/videos';
export const GEN_DIR = '.cache/video-clips';

export interface ManifestEntry {
  file: string;
  codec: string;
  frame_count: number;
  display_width: number;
  display_height: number;
  rotation: number;
}

export function manifest(): ManifestEntry[] {
  return JSON.parse(readFileSync(join(ROOT, REAL_DIR, 'manifest.json'), 'utf8'));
}

/** Runs scripts/make-test-clips.sh for a set (idempotent, quick when the clips exist). */
export function ensureClips(set: 'small' | 'long' | 'bench'): void {
  execFileSync('bash', [join(ROOT, 'scripts/make-test-clips.sh'), set, join(ROOT, GEN_DIR)], {
    stdio: 'inherit',
  });
}

/** Frame timestamps in presentation order (µs) as ffmpeg decodes them (edit lists applied). */
export function ffprobeTimestamps(path: string): number[] {
  const out = execFileSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'frame=best_effort_timestamp_time',
      '-of',
      'csv=p=0',
      path,
    ],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  return out
    .split('\n')
    .map((l) => l.trim().replace(/,$/, ''))
    .filter((l) => l.length > 0)
    .map((l) => Math.round(Number.parseFloat(l) * 1e6));
}

/** ffprobe -count_frames: frames ffmpeg outputs. */
export function ffprobeCount(path: string): number {
  const out = execFileSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-count_frames',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=nb_read_frames',
      '-of',
      'csv=p=0',
      path,
    ],
    { encoding: 'utf8' },
  );
  return Number.parseInt(out.trim(), 10);
}

/**
 * ffmpeg's decode of the given frame indices (presentation order, after autorotation), each scaled to
 * size×size with bicubic, as RGB. Returns a map index → bytes.
 */
export function ffmpegFrames(path: string, indices: number[], size: number): Map<number, Buffer> {
  const unique = [...new Set(indices)].sort((a, b) => a - b);
  const select = unique.map((i) => `eq(n\\,${i})`).join('+');
  const out = execFileSync(
    'ffmpeg',
    [
      '-v',
      'error',
      '-nostdin',
      '-i',
      path,
      '-vf',
      `select='${select}',scale=${size}:${size}:flags=bicubic+accurate_rnd+full_chroma_int`,
      '-fps_mode',
      'passthrough',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-',
    ],
    { maxBuffer: 256 << 20 },
  );
  const frameBytes = size * size * 3;
  if (out.length !== frameBytes * unique.length) {
    throw new Error(`ffmpeg gave ${out.length / frameBytes} frames for ${unique.length} indices of ${path}`);
  }
  return new Map(unique.map((idx, k) => [idx, out.subarray(k * frameBytes, (k + 1) * frameBytes)]));
}

export function psnr(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new Error(`size mismatch ${a.length} vs ${b.length}`);
  let se = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    se += d * d;
  }
  const mse = se / a.length;
  return mse === 0 ? 99 : 10 * Math.log10((255 * 255) / mse);
}

export const fromBase64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

/**
 * Opens the dev server page and waits until `probe` (default: src/video) imports without Vite reloading
 * the page (the first import of a dependency can make Vite optimize it and reload).
 */
export async function openLibPage(page: Page, probe = PROBE): Promise<void> {
  // A blank page: the app itself would start its engine and compete for the CPU.
  await page.goto('/src/video/testing/blank.html');
  for (let i = 0; i < 4; i++) {
    try {
      await page.evaluate((url) => import(url), probe);
      return;
    } catch (err) {
      if (!/context was destroyed|navigat|Failed to fetch dynamically/i.test(String(err))) throw err;
      await page.waitForLoadState('load');
    }
  }
}

export function clipPath(dir: string, file: string): string {
  const p = join(ROOT, dir, file);
  if (!existsSync(p)) throw new Error(`missing clip ${p}`);
  return p;
}
