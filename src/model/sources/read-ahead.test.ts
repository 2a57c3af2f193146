/**
 * A few files at a time: the read order keeps up to 3 shards advancing together, and the read-ahead
 * source over the stand-in hub (CDN redirects, 20 ms per answer) has 2–3 shard reads open at once,
 * never two on one file, fetches each byte once, and returns the bytes and per-file progress the
 * plain source gives; without Range support each file is still streamed once.
 */
import { describe, expect, it } from 'vitest';
import { startHubServer } from '../testing/hub-server';
import { HttpWeightSource } from './http';
import { type ByteRange, ReadAhead, readOrder } from './read-ahead';

/** Four shards of pseudo-random bytes cut into ranges of 24–64 KiB. */
function shards() {
  const files = new Map<string, Uint8Array>();
  const ranges: ByteRange[] = [];
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed;
  };
  for (const [i, n] of [9, 4, 6, 3].entries()) {
    const file = `model-0000${i + 1}-of-00004.safetensors`;
    let at = 0;
    for (let k = 0; k < n; k++) {
      const len = (24 << 10) + (rnd() % (40 << 10));
      ranges.push({ file, start: at, end: at + len });
      at += len;
    }
    files.set(
      file,
      Uint8Array.from({ length: at }, () => rnd() & 255),
    );
  }
  return { files, ranges };
}

describe('read ahead', () => {
  it('orders reads a few files at a time, each front to back, the least-read file next', () => {
    const r = (file: string, start: number, end: number) => ({ file, start, end });
    const items = [r('a', 10, 20), r('a', 0, 10), r('b', 0, 5), r('c', 0, 30), r('d', 0, 1), r('b', 5, 10)];
    // a, b, c start; c's one range done, d joins; then whichever has read least.
    expect(readOrder(items, (x) => x, 3).map((x) => `${x.file}${x.start}`)).toEqual([
      'a0',
      'b0',
      'c0',
      'd0',
      'b5',
      'a10',
    ]);
    // One file at a time is plain file order.
    expect(readOrder(items, (x) => x, 1).map((x) => `${x.file}${x.start}`)).toEqual([
      'a0',
      'a10',
      'b0',
      'b5',
      'c0',
      'd0',
    ]);
  });

  for (const range of [true, false]) {
    it(`${range ? 'with' : 'without'} Range: 2–3 shards at a time, the same bytes and per-file progress`, async () => {
      const { files, ranges } = shards();
      const server = await startHubServer({ repo: 'a/b', files, range, latencyMs: 20 });
      try {
        const perFile = new Map<string, number>();
        const http = new HttpWeightSource(server.baseUrl, {
          onBytes: (path, n) => perFile.set(path, (perFile.get(path) ?? 0) + n),
        });
        const src = new ReadAhead(http, { files: 3, windowBytes: 256 << 10 });
        const order = readOrder(ranges, (x) => x);
        src.plan(order);
        for (const r of order) {
          // Read as the converter does: in row blocks.
          const mid = r.start + ((r.end - r.start) >> 1);
          for (const [a, b] of [
            [r.start, mid],
            [mid, r.end],
          ]) {
            const got = await src.read(r.file, a, b - a);
            expect(Buffer.compare(got, files.get(r.file)!.subarray(a, b)), `${r.file} ${a}`).toBe(0);
          }
        }
        http.close();
        expect(src.peakInFlight).toBeLessThanOrEqual(3);
        expect(server.shardReads.peak).toBeGreaterThanOrEqual(2);
        expect(server.shardReads.peak).toBeLessThanOrEqual(3);
        for (const [file, bytes] of files) expect(perFile.get(file), file).toBe(bytes.byteLength);
        const gets = server.requests.filter((q) => q.cdn && q.method === 'GET');
        if (range)
          expect(gets.reduce((n, q) => n + q.bytes, 0)).toBe(ranges.reduce((n, r) => n + r.end - r.start, 0));
        // Without Range every file is one streamed answer, read front to back.
        else
          for (const file of files.keys())
            expect(
              gets.filter((q) => q.file === file),
              file,
            ).toHaveLength(1);
      } finally {
        await server.close();
      }
    });
  }
});
