/**
 * rl:squares end to end: clips encoded by ffmpeg (decoded back by ffprobe / ffmpeg) and the two JSONL
 * files beside them. Skipped, saying so, only where ffmpeg is absent (npm run setup:test-env installs it;
 * under CI its absence fails).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDataset } from '../../src/rl-lite/dataset';
import { CLIP_FRAMES, CLIP_SIZE, COLOUR_RGB, squareAt } from '../../src/rl-lite/tasks/moving-squares';
import { haveFfmpeg } from './encode';
import { DEFAULTS, planSquaresDataset, type SquaresDataset, writeSquaresDataset } from './squares';

const ffmpeg = haveFfmpeg();
if (!ffmpeg) {
  if (process.env.CI) throw new Error('ffmpeg is missing: run npm run setup:test-env');
  console.warn('SKIPPED rl:squares clip tests: ffmpeg is not installed (npm run setup:test-env installs it)');
}

describe('rl:squares planning', () => {
  it('is deterministic for a seed, and the first items do not depend on --n', () => {
    const a = planSquaresDataset({ ...DEFAULTS, n: 30, seed: 4 });
    expect(planSquaresDataset({ ...DEFAULTS, n: 30, seed: 4 })).toEqual(a);
    const b = planSquaresDataset({ ...DEFAULTS, n: 10, seed: 4, heldOut: 0 });
    expect(b.train).toEqual(a.train.slice(0, 10));
    expect(a.train).toHaveLength(24);
    expect(a.test.map((t) => t.problem_id)).toEqual([24, 25, 26, 27, 28, 29]);
    expect(planSquaresDataset({ ...DEFAULTS, n: 30, seed: 5 }).train).not.toEqual(a.train);
  });
});

describe.skipIf(!ffmpeg)('rl:squares clips', () => {
  let dir: string;
  let ds: SquaresDataset;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'squares-'));
    ds = await writeSquaresDataset(dir, { ...DEFAULTS, n: 4, seed: 11, heldOut: 0.25 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes train.jsonl and test.jsonl with the videos beside them', () => {
    const train = parseDataset(readFileSync(join(dir, 'train.jsonl'), 'utf8'), 'train.jsonl');
    const test = parseDataset(readFileSync(join(dir, 'test.jsonl'), 'utf8'), 'test.jsonl');
    expect(train).toEqual(ds.train);
    expect(test).toEqual(ds.test);
    expect(train).toHaveLength(3);
    for (const it of [...train, ...test]) expect(existsSync(join(dir, it.video_filename))).toBe(true);
  });

  it('encodes 24 frames of 128×128 H.264 at 8 fps, the same bytes every time', async () => {
    const clip = join(dir, ds.train[0].video_filename);
    const probe = JSON.parse(
      execFileSync('ffprobe', [
        ...['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-of', 'json'],
        ...['-show_entries', 'stream=codec_name,width,height,nb_read_frames,r_frame_rate,pix_fmt', clip],
      ]).toString(),
    ).streams[0];
    expect(probe).toMatchObject({
      codec_name: 'h264',
      width: CLIP_SIZE,
      height: CLIP_SIZE,
      pix_fmt: 'yuv420p',
      r_frame_rate: '8/1',
      nb_read_frames: String(CLIP_FRAMES),
    });
    const again = mkdtempSync(join(tmpdir(), 'squares-'));
    try {
      await writeSquaresDataset(again, { ...DEFAULTS, n: 1, seed: 11, heldOut: 0 });
      expect(readFileSync(join(again, ds.train[0].video_filename))).toEqual(readFileSync(clip));
    } finally {
      rmSync(again, { recursive: true, force: true });
    }
  });

  it('shows each square in its colour where it is, in the first and the last frame', () => {
    for (const [i, clip] of ds.clips.entries()) {
      const rgb = execFileSync(
        'ffmpeg',
        [
          ...['-v', 'error', '-i', join(dir, `squares-0000${i}.mp4`)],
          ...['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
        ],
        { maxBuffer: 16 << 20 },
      );
      expect(rgb.length).toBe(CLIP_FRAMES * CLIP_SIZE * CLIP_SIZE * 3);
      for (const t of [0, CLIP_FRAMES - 1])
        for (const s of clip.squares) {
          const { x, y } = squareAt(s, t);
          const o = ((t * CLIP_SIZE + y + 8) * CLIP_SIZE + x + 8) * 3;
          const got = [...rgb.subarray(o, o + 3)];
          const want = COLOUR_RGB[s.colour];
          for (let c = 0; c < 3; c++)
            expect(Math.abs(got[c] - want[c]), `${s.colour} at ${x + 8},${y + 8}`).toBeLessThan(24);
        }
    }
  });
});
