/**
 * src/video in real Chromium (WebCodecs + mediabunny), checked against ffmpeg: frame counts, sampled
 * indices and timestamps against ffprobe, and every sampled frame against ffmpeg's decode of the same
 * frame index, both scaled to 384×384 (PSNR ≥ 30 dB).
 */
import { copyFileSync, existsSync, rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { expect, type Page, test } from '@playwright/test';
import { everySecondsIndices, linspaceIndices } from '../src/video/sampling';
import {
  clipPath,
  ensureClips,
  ffmpegFrames,
  ffprobeCount,
  ffprobeTimestamps,
  fromBase64,
  GEN_DIR,
  manifest,
  openLibPage,
  PROBE,
  type Probe,
  psnr,
  REAL_DIR,
  ROOT,
} from './video.support';

const SIZE = 384;
let page: Page;

test.beforeAll(async ({ browser }) => {
  ensureClips('small');
  page = await browser.newPage();
  page.on('console', (m) => m.type() === 'error' && console.log('[page]', m.text()));
  await openLibPage(page);
});

test.afterAll(async () => {
  await page?.close();
});

type Options = Parameters<Probe['probeUrl']>[1];

function probe(url: string, options: Options, size = SIZE) {
  return page.evaluate(
    async ({ PROBE, url, options, size }) => {
      const m: Probe = await import(PROBE);
      return m.probeUrl(url, options, size);
    },
    { PROBE, url, options, size },
  );
}

function probeError(url: string, options: Options = {}, abortAtFraction?: number) {
  return page.evaluate(
    async ({ PROBE, url, options, abortAtFraction }) => {
      const m: Probe = await import(PROBE);
      return m.probeError(await m.fetchBlob(url), options, abortAtFraction);
    },
    { PROBE, url, options, abortAtFraction },
  );
}

/**
 * Samples `file` and checks it against ffmpeg. `expectIndices` defaults to linspace over ffprobe's count;
 * timestamps are compared relative to the first frame (ffmpeg ignores the start offset of some
 * fragmented MP4s: rotate-buck-bunny starts at 83 ms in ffmpeg, 0 in mediabunny and Chromium).
 */
async function checkAgainstFfmpeg(
  dir: string,
  file: string,
  options: Options,
  expected: {
    path?: 'webcodecs' | 'element';
    size?: [number, number];
    indices?: (ffTs: number[]) => number[];
  } = {},
) {
  const path = clipPath(dir, file);
  const ffTs = ffprobeTimestamps(path);
  expect(ffTs.length, 'ffprobe frame list vs -count_frames').toBe(ffprobeCount(path));
  const r = await probe(`/${dir}/${file}`, options);
  expect(r.plan.path).toBe(expected.path ?? 'webcodecs');
  expect(r.plan.facts.frameCount).toBe(ffTs.length);
  const n = options.method?.kind === 'uniform' ? options.method.n : 16;
  const want = expected.indices ? expected.indices(ffTs) : linspaceIndices(ffTs.length, n);
  expect(r.plan.indices).toEqual(want);
  const t0 = r.plan.facts.startUs;
  want.forEach((idx, k) => {
    expect(
      Math.abs(r.plan.timestampsUs[k] - t0 - (ffTs[idx] - ffTs[0])),
      `slot ${k} timestamp`,
    ).toBeLessThanOrEqual(1000);
  });
  if (expected.size) for (const s of r.sizes) expect(s).toEqual(expected.size);
  const ref = ffmpegFrames(path, want, SIZE);
  const scores = want.map((idx, k) => psnr(fromBase64(r.rgb[k]), ref.get(idx)!));
  const min = Math.min(...scores);
  console.log(
    `${file} [${r.plan.path}] frames ${r.plan.facts.frameCount}, PSNR min ${min.toFixed(1)} dB mean ` +
      `${(scores.reduce((a, b) => a + b) / scores.length).toFixed(1)} dB, ${r.timeMs.toFixed(0)} ms` +
      (r.stats ? `, decoded ${r.stats.packetsDecoded} packets on ${r.stats.decoders} decoder(s)` : ''),
  );
  for (const [k, s] of scores.entries())
    expect(s, `slot ${k} (frame ${want[k]}) PSNR`).toBeGreaterThanOrEqual(30);
  return r;
}

const sizeOf = (file: string): [number, number] => {
  const e = manifest().find((m) => m.file === file)!;
  return [e.display_width, e.display_height];
};

test.describe('real clips (WebCodecs path)', () => {
  for (const file of [
    'androidx_bear-vp9-odd-dimensions.webm',
    'androidx_sample_av1.mp4',
    'mdn_flower.mp4',
    'mediabunny_rotate-buck-bunny.mp4',
    'mediabunny_cursed-vfr.mp4',
    'mediabunny_frag-buck-bunny.mp4',
    'libwebm_bbb_480p_vp9_opus_1second.webm',
    'mp4parse_tiny_av1.mp4',
  ]) {
    test(file, async () => {
      const entry = manifest().find((e) => e.file === file)!;
      const r = await checkAgainstFfmpeg(
        REAL_DIR,
        file,
        { method: { kind: 'uniform', n: 16 } },
        { size: sizeOf(file) },
      );
      expect(r.plan.facts.frameCount).toBe(entry.frame_count);
      expect(r.plan.facts.rotation).toBe(entry.rotation);
    });
  }

  test('8 and 32 frames', async () => {
    for (const n of [8, 32]) {
      await checkAgainstFfmpeg(REAL_DIR, 'mdn_flower.mp4', { method: { kind: 'uniform', n } });
    }
  });

  test('one frame every second on a variable-frame-rate clip', async () => {
    const method = { kind: 'every-seconds', seconds: 1, maxFrames: 64 } as const;
    await checkAgainstFfmpeg(
      REAL_DIR,
      'mediabunny_cursed-vfr.mp4',
      { method },
      {
        indices: (ffTs) => everySecondsIndices(ffTs, 1, 64),
      },
    );
  });
});

test.describe('ffmpeg-made clips', () => {
  // ffmpeg 5.1 writes rotate tags 90/180/270 as display matrices that ffprobe reports as 90/-180/-90
  // (counter-clockwise): clockwise 270/180/90. ffmpeg's autorotated decode is the reference.
  for (const [file, size] of [
    ['rot-tag90.mp4', [240, 320]],
    ['rot-tag180.mp4', [320, 240]],
    ['rot-tag270.mp4', [240, 320]],
  ] as const) {
    test(`rotation: ${file}`, async () => {
      const r = await checkAgainstFfmpeg(GEN_DIR, file, {}, { size: [...size] });
      expect(r.plan.facts.rotation).not.toBe(0);
    });
  }

  test('odd sizes: VP9 171×97 and AV1 99×67', async () => {
    await checkAgainstFfmpeg(GEN_DIR, 'odd-171x97-vp9.webm', {}, { size: [171, 97] });
    await checkAgainstFfmpeg(GEN_DIR, 'odd-99x67-av1.mp4', {}, { size: [99, 67] });
  });

  test('variable frame rate', async () => {
    const r = await checkAgainstFfmpeg(GEN_DIR, 'vfr.mp4', {});
    const ts = r.plan.timestampsUs;
    expect(ts[15] - ts[14]).toBeGreaterThan(5 * (ts[1] - ts[0])); // intervals grow
  });

  test('one-frame clip: every slot is frame 0', async () => {
    const r = await checkAgainstFfmpeg(GEN_DIR, 'one-frame.mp4', {});
    expect(r.plan.indices).toEqual(new Array(16).fill(0));
  });

  test('fewer frames than N repeats indices as linspace does', async () => {
    const r = await checkAgainstFfmpeg(GEN_DIR, 'five-frames.webm', {});
    expect(r.plan.indices).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4]);
  });

  test('Matroska and QuickTime containers', async () => {
    const mkv = await checkAgainstFfmpeg(GEN_DIR, 'h264.mkv', {});
    expect(mkv.plan.facts.container).toBe('Matroska');
    const mov = await checkAgainstFfmpeg(GEN_DIR, 'h264.mov', {});
    expect(mov.plan.facts.container).toMatch(/QuickTime/);
  });
});

test.describe('<video> element fallback', () => {
  for (const file of ['mdn_flower.mp4', 'mediabunny_rotate-buck-bunny.mp4', 'mediabunny_cursed-vfr.mp4']) {
    test(`forced on ${file}: same frames as ffmpeg`, async () => {
      await checkAgainstFfmpeg(REAL_DIR, file, { path: 'element' }, { path: 'element', size: sizeOf(file) });
    });
  }

  test('HEVC: WebCodecs cannot, the element cannot either → clear error', async () => {
    for (const file of ['androidx_h265_bframes.mp4', 'androidx_dolbyVision-hdr.MOV']) {
      const r = await probe(`/${REAL_DIR}/${file}`, {}, 0).catch((e: Error) => ({ error: e.message }));
      expect('error' in r ? r.error : '').toMatch(/cannot play it either/);
      const plan = await page.evaluate(
        async ({ PROBE, url }) => {
          const m: Probe = await import(PROBE);
          const { planSample } = await import('/src/video/sample-video.ts' as string);
          const { video, plan } = await planSample(await m.fetchBlob(url));
          video.dispose();
          return plan as Awaited<ReturnType<Probe['probeUrl']>>['plan'];
        },
        { PROBE, url: `/${REAL_DIR}/${file}` },
      );
      expect(plan.path).toBe('element');
      expect(plan.reason).toMatch(/cannot decode hev1/);
      const err = await probeError(`/${REAL_DIR}/${file}`);
      expect(err.kind).toBe('unsupported-codec');
    }
  });
});

test.describe('bad input', () => {
  const cases: [string, string, RegExp][] = [
    ['not-a-video.mp4', 'not-video', /not a video/],
    ['audio-only.m4a', 'no-video-track', /audio but no video/],
    ['zero-frames.mp4', 'no-frames', /no frames/],
    ['truncated.mp4', 'corrupt', /truncated|damaged|ends early/],
  ];
  for (const [file, kind, message] of cases) {
    test(`${file} → ${kind}`, async () => {
      const err = await probeError(`/${GEN_DIR}/${file}`);
      expect(err.kind).toBe(kind);
      expect(err.message).toMatch(message);
    });
  }

  test('WebMs that once hung the demuxer → opened or a typed error, in time', async () => {
    const HANG = '/src/video/testing/hang-cases.ts';
    const DEMUX = '/src/video/demux.ts';
    const outs = await page.evaluate(
      async ({ HANG, DEMUX, REAL_DIR }) => {
        const { HANG_CASES }: typeof import('../src/video/testing/hang-cases') = await import(HANG);
        const { openVideo }: typeof import('../src/video/demux') = await import(DEMUX);
        const outs = [];
        for (const c of HANG_CASES) {
          const clip = new Uint8Array(await (await fetch(`/${REAL_DIR}/${c.name}`)).arrayBuffer());
          const t0 = performance.now();
          try {
            const v = await openVideo(new File([c.damage(clip)], c.name));
            outs.push({
              name: c.name,
              kind: 'opened',
              frames: v.facts.frameCount,
              ms: performance.now() - t0,
            });
            v.dispose();
          } catch (e) {
            const { name, kind, message } = e as { name: string; kind?: string; message: string };
            outs.push({ name: c.name, kind: `${name}:${kind}`, message, ms: performance.now() - t0 });
          }
        }
        return outs;
      },
      { HANG, DEMUX, REAL_DIR },
    );
    expect(outs).toHaveLength(2);
    for (const o of outs) {
      expect(o.kind, JSON.stringify(o)).toMatch(
        /^(opened|VideoError:(corrupt|no-frames|no-video-track|not-video))$/,
      );
      if (o.kind === 'opened') expect(o.frames).toBeGreaterThan(0);
      else expect(o.message).toContain(o.name);
      expect(o.ms).toBeLessThan(5_000);
    }
  });

  test('empty file → not-video', async () => {
    const err = await page.evaluate(async (PROBE) => {
      const m: Probe = await import(PROBE);
      return m.probeError(new Blob([]), {});
    }, PROBE);
    expect(err.kind).toBe('not-video');
  });
});

test.describe('long videos', () => {
  test.beforeAll(() => ensureClips('long'));

  test('10-minute clip: cancel mid-decode', async () => {
    const err = await probeError(
      `/${GEN_DIR}/long-10min-160x90.mp4`,
      { method: { kind: 'uniform', n: 64 } },
      0.3,
    );
    expect(err.kind).toBe('cancelled');
  });

  test('10-minute clip: 16 and 64 frames with bounded memory', async () => {
    const path = clipPath(GEN_DIR, 'long-10min-160x90.mp4');
    const count = ffprobeCount(path);
    for (const n of [16, 64]) {
      const m = await page.evaluate(
        async ({ PROBE, url, n }) => {
          const p: Probe = await import(PROBE);
          return p.probeMemory(await p.fetchBlob(url), { method: { kind: 'uniform', n } });
        },
        { PROBE, url: `/${GEN_DIR}/long-10min-160x90.mp4`, n },
      );
      const s = m.result.stats!;
      console.log(
        `long clip, ${n} frames of ${count}: ${m.result.timeMs.toFixed(0)} ms, decoded ${s.packetsDecoded} packets, ` +
          `peak open frames ${s.peakOpenFrames}, JS heap ${(m.startHeapBytes / 2 ** 20).toFixed(1)} → peak ` +
          `${(m.peakHeapBytes / 2 ** 20).toFixed(1)} MiB, read ${(s.bytesRead / 2 ** 20).toFixed(1)} MiB`,
      );
      expect(m.result.plan.facts.frameCount).toBe(count);
      expect(m.result.plan.indices).toEqual(linspaceIndices(count, n));
      expect(s.peakOpenFrames).toBeLessThanOrEqual(n + 2 * s.decoders + 2);
      expect(s.packetsDecoded).toBeLessThan(count);
      expect(m.peakHeapBytes - m.startHeapBytes).toBeLessThan(64 * 2 ** 20);
    }
  });

  test('a 32 GiB file (sparse, larger than memory) streams from the File', async () => {
    const sparse = join(ROOT, GEN_DIR, 'sparse-32g.mp4');
    if (!existsSync(sparse)) {
      copyFileSync(clipPath(GEN_DIR, 'long-10min-160x90.mp4'), sparse);
      truncateSync(sparse, 32 * 2 ** 30);
    }
    try {
      await page.evaluate(() => {
        const input = document.createElement('input');
        input.type = 'file';
        input.id = 'big';
        document.body.append(input);
      });
      await page.setInputFiles('#big', sparse);
      const m = await page.evaluate(async (PROBE) => {
        const p: Probe = await import(PROBE);
        const file = (document.getElementById('big') as HTMLInputElement).files![0];
        return { size: file.size, ...(await p.probeMemory(file, {})) };
      }, PROBE);
      const s = m.result.stats!;
      console.log(
        `sparse ${(m.size / 2 ** 30).toFixed(0)} GiB file: ${m.result.timeMs.toFixed(0)} ms, read ` +
          `${(s.bytesRead / 2 ** 20).toFixed(1)} MiB, JS heap peak ${(m.peakHeapBytes / 2 ** 20).toFixed(1)} MiB`,
      );
      expect(m.size).toBe(32 * 2 ** 30);
      expect(m.result.plan.facts.frameCount).toBe(18000);
      expect(s.bytesRead).toBeLessThan(64 * 2 ** 20);
    } finally {
      rmSync(sparse, { force: true });
    }
  });
});
