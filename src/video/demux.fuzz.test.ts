/**
 * Fuzzing the demuxer (mediabunny under openVideo; metadata only, so Node runs it without WebCodecs)
 * on mutated real clips from test-data/videos: truncations, bit flips (anywhere, and inside the
 * sample tables), sibling boxes swapped, box sizes made too large or too small, spliced bytes. Every
 * input either opens with a consistent frame table or fails as a VideoError with a message, within
 * a time bound (a hang is a failure too).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzParams, fuzzTimeout } from '../model/testing/fuzz';
import { openVideo } from './demux';
import { VideoError } from './errors';

const DIR = new URL('../../test-data/videos/', import.meta.url);
/** Small clips of each container family (the large ones cost time without new structure). */
const CLIPS: { name: string; bytes: Uint8Array }[] = [
  'androidx_bear-vp9-odd-dimensions.webm',
  'libwebm_bbb_480p_vp9_opus_1second.webm',
  'androidx_dolbyVision-hdr.MOV',
  'androidx_h265_bframes.mp4',
  'mp4parse_tiny_av1.mp4',
  'androidx_sample_av1.mp4',
  'mediabunny_frag-buck-bunny.mp4',
].map((name) => ({ name, bytes: new Uint8Array(readFileSync(new URL(name, DIR))) }));

/** ISO-BMFF boxes whose payload is more boxes. */
const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'edts', 'dinf', 'mvex', 'moof', 'traf']);
/** Sample-table boxes: the frame table is built from these. */
const TABLES = new Set([
  'stsz',
  'stco',
  'co64',
  'stts',
  'ctts',
  'stss',
  'stsc',
  'trun',
  'tfhd',
  'mdhd',
  'tkhd',
]);

interface Box {
  type: string;
  start: number;
  size: number;
  /** Index of the parent box, -1 at the top level. */
  parent: number;
}

/** The box tree of an MP4/MOV (empty for WebM): enough structure to swap and resize boxes. */
function boxes(b: Uint8Array): Box[] {
  const out: Box[] = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const walk = (from: number, to: number, parent: number) => {
    let at = from;
    while (at + 8 <= to) {
      let size = dv.getUint32(at);
      const type = String.fromCharCode(...b.subarray(at + 4, at + 8));
      let head = 8;
      if (size === 1 && at + 16 <= to) {
        size = Number(dv.getBigUint64(at + 8));
        head = 16;
      } else if (size === 0) size = to - at;
      if (size < head || at + size > to || !/^[\x20-\x7e]{4}$/.test(type)) return;
      out.push({ type, start: at, size, parent });
      if (CONTAINERS.has(type)) walk(at + head, at + size, out.length - 1);
      at += size;
    }
  };
  walk(0, b.byteLength, -1);
  return out;
}
const BOXES = new Map(CLIPS.map((c) => [c.name, boxes(c.bytes)]));

const mutationArb = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({
    kind: fc.constant('flip-table' as const),
    box: fc.nat(),
    at: fc.nat(),
    bit: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({ kind: fc.constant('swap' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({
    kind: fc.constant('resize' as const),
    box: fc.nat(),
    size: fc.oneof(
      fc.constantFrom(0, 1, 7, 8, 0x7fffffff, 0xffffffff),
      fc.integer({ min: -64, max: 64 }).map((d) => ({ delta: d })),
    ),
  }),
  fc.record({
    kind: fc.constant('splice' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }),
  }),
  fc.record({ kind: fc.constant('zero' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 512 }) }),
);
type Mutation = typeof mutationArb extends fc.Arbitrary<infer M> ? M : never;

function mutate(src: Uint8Array, bx: Box[], m: Mutation): Uint8Array {
  const b = src.slice();
  const n = b.byteLength;
  if (n === 0) return b;
  const dv = new DataView(b.buffer);
  switch (m.kind) {
    case 'truncate':
      return b.slice(0, m.at % n);
    case 'flip':
      b[m.at % n] ^= 1 << m.bit;
      return b;
    case 'flip-table': {
      const tables = bx.filter((x) => TABLES.has(x.type) && x.start + x.size <= n);
      const t = tables.length ? tables[m.box % tables.length] : { start: 0, size: n };
      b[t.start + (m.at % t.size)] ^= 1 << m.bit;
      return b;
    }
    case 'swap': {
      const valid = bx.filter((x) => x.start + x.size <= n);
      if (valid.length < 2) return b;
      const x = valid[m.a % valid.length];
      const sibs = valid.filter((y) => y.parent === x.parent && y !== x);
      if (!sibs.length) return b;
      const y = sibs[m.b % sibs.length];
      const [p, q] = x.start < y.start ? [x, y] : [y, x];
      const out = new Uint8Array(n);
      let at = 0;
      for (const [from, to] of [
        [0, p.start],
        [q.start, q.start + q.size],
        [p.start + p.size, q.start],
        [p.start, p.start + p.size],
        [q.start + q.size, n],
      ]) {
        out.set(src.subarray(from, to), at);
        at += to - from;
      }
      return out;
    }
    case 'resize': {
      const valid = bx.filter((x) => x.start + 8 <= n);
      if (!valid.length) {
        // WebM: an EBML size byte somewhere in the first KB.
        b[m.box % Math.min(n, 1024)] = typeof m.size === 'number' ? m.size & 0xff : 0x01;
        return b;
      }
      const x = valid[m.box % valid.length];
      const size = typeof m.size === 'number' ? m.size : Math.max(0, x.size + m.size.delta);
      dv.setUint32(x.start, size >>> 0);
      return b;
    }
    case 'splice': {
      const at = m.at % (n + 1);
      const out = new Uint8Array(n + m.bytes.byteLength);
      out.set(src.subarray(0, at));
      out.set(m.bytes, at);
      out.set(src.subarray(at), at + m.bytes.byteLength);
      return out;
    }
    case 'zero': {
      const at = m.at % n;
      b.fill(0, at, Math.min(n, at + m.len));
      return b;
    }
  }
}

const KINDS = new Set(['not-video', 'no-video-track', 'no-frames', 'corrupt', 'unsupported-codec']);
/** Per input: the real clips open in under 50 ms here; a parse that loops or reads gigabytes does not. */
const OPEN_LIMIT_MS = 5_000;

async function openChecked(bytes: Uint8Array, name: string): Promise<'opened' | 'refused'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`openVideo did not settle in ${OPEN_LIMIT_MS} ms`)),
      OPEN_LIMIT_MS,
    );
  });
  // The race only wins when the event loop turns; a long synchronous stretch settles late, so the
  // elapsed time is checked too (a loop that never ends is caught by demux-resync.test.ts's worker).
  const t0 = performance.now();
  const inTime = () => expect(performance.now() - t0, 'open time (ms)').toBeLessThan(OPEN_LIMIT_MS);
  try {
    const v = await Promise.race([openVideo(new File([bytes as Uint8Array<ArrayBuffer>], name)), limit]);
    inTime();
    const f = v.facts;
    expect(f.frameCount).toBe(v.packets.length);
    expect(f.frameCount).toBeGreaterThan(0);
    expect(v.table.count).toBe(f.frameCount);
    for (const x of [f.durationS, f.fps, f.startUs]) expect(Number.isFinite(x), JSON.stringify(f)).toBe(true);
    v.dispose();
    return 'opened';
  } catch (e) {
    if (!(e instanceof VideoError)) throw e;
    inTime();
    expect(KINDS.has(e.kind), `${e.kind}: ${e.message}`).toBe(true);
    expect(e.message).toContain(name);
    return 'refused';
  } finally {
    clearTimeout(timer);
  }
}

describe('demuxer fuzz (mutated real clips)', () => {
  it('opens every clip unmutated', async () => {
    for (const c of CLIPS) expect(await openChecked(c.bytes, c.name)).toBe('opened');
  });

  it('refuses a sample table claiming billions of samples before mediabunny loops over them', async () => {
    // Found by the fuzz: 11 bytes spliced into ctts made its counts sum to 5 billion, and opening
    // the 20 KB file ran for minutes. Here the first ctts entry's count is set to 4 billion.
    const c = CLIPS.find((x) => x.name === 'androidx_h265_bframes.mp4')!;
    const bytes = c.bytes.slice();
    const ctts = BOXES.get(c.name)!.find((x) => x.type === 'ctts')!;
    new DataView(bytes.buffer).setUint32(ctts.start + 16, 4_000_000_000);
    const t0 = performance.now();
    const err = await openVideo(new File([bytes as Uint8Array<ArrayBuffer>], c.name)).catch((e) => e);
    expect(err).toBeInstanceOf(VideoError);
    expect(err.kind).toBe('corrupt');
    expect(err.message).toMatch(/ctts covers \d+ samples, the track has 30/);
    expect(performance.now() - t0).toBeLessThan(OPEN_LIMIT_MS);
  });

  it('refuses a chunk claiming a billion samples before mediabunny walks it for every sample', async () => {
    // Found by the long fuzz (seed 3): one bit flipped in stsc gave a chunk 2^30 + 1 samples, and
    // listing the 30 frames of an 80 KB file took minutes. Here the second entry's count is set so.
    const c = CLIPS.find((x) => x.name === 'androidx_sample_av1.mp4')!;
    const bytes = c.bytes.slice();
    const stsc = BOXES.get(c.name)!.find((x) => x.type === 'stsc')!;
    const dv = new DataView(bytes.buffer);
    expect(dv.getUint32(stsc.start + 12)).toBe(2); // two entries: first_chunk, per_chunk, description
    dv.setUint32(stsc.start + 16 + 12 + 4, 2 ** 30 + 1);
    const t0 = performance.now();
    const err = await openVideo(new File([bytes as Uint8Array<ArrayBuffer>], c.name)).catch((e) => e);
    expect(err).toBeInstanceOf(VideoError);
    expect(err.kind).toBe('corrupt');
    expect(err.message).toMatch(/stsc puts 1073741825 samples in a chunk, the track has 30/);
    expect(performance.now() - t0).toBeLessThan(OPEN_LIMIT_MS);
  });

  it(
    'a mutated clip opens consistently or fails as a VideoError naming the file',
    async () => {
      const seen = { opened: 0, refused: 0 };
      await fc.assert(
        fc.asyncProperty(
          fc.nat({ max: CLIPS.length - 1 }),
          fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
          async (ci, ms) => {
            const c = CLIPS[ci];
            const bytes = ms.reduce<Uint8Array>(
              (b, m) => mutate(b, boxes(b).length ? boxes(b) : BOXES.get(c.name)!, m),
              c.bytes,
            );
            seen[await openChecked(bytes, c.name)]++;
          },
        ),
        fuzzParams(150),
      );
      expect(seen.opened).toBeGreaterThan(0);
      expect(seen.refused).toBeGreaterThan(0);
    },
    fuzzTimeout(30_000, 20),
  );
});
