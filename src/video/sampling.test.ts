import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { everySecondsIndices, linspaceIndices, selectIndices } from './sampling';

// numpy is the reference the model was trained with; use it where the machine has it.
function numpyLinspace(cases: [number, number][]): number[][] | null {
  const code =
    'import json,sys\nimport numpy as np\n' +
    'cases=json.loads(sys.stdin.read())\n' +
    'print(json.dumps([np.linspace(0,t-1,n).astype(int).tolist() for t,n in cases]))';
  try {
    const out = execFileSync('/usr/bin/python3', ['-c', code], {
      input: JSON.stringify(cases),
      encoding: 'utf8',
    });
    return JSON.parse(out);
  } catch {
    return null;
  }
}

describe('linspaceIndices', () => {
  it('matches hand-computed values', () => {
    expect(linspaceIndices(30, 16)).toEqual([0, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29]);
    expect(linspaceIndices(150, 8)).toEqual([0, 21, 42, 63, 85, 106, 127, 149]);
    expect(linspaceIndices(1, 16)).toEqual(new Array(16).fill(0));
    expect(linspaceIndices(100, 1)).toEqual([0]);
  });

  it('includes the first and last frame', () => {
    for (const total of [2, 3, 17, 1000, 18000]) {
      for (const n of [2, 8, 16, 32]) {
        const idx = linspaceIndices(total, n);
        expect(idx[0]).toBe(0);
        expect(idx[n - 1]).toBe(total - 1);
        expect(idx).toHaveLength(n);
      }
    }
  });

  it('repeats indices when there are fewer frames than samples, as linspace does', () => {
    expect(linspaceIndices(4, 8)).toEqual([0, 0, 0, 1, 1, 2, 2, 3]);
    expect(linspaceIndices(2, 16)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    const idx = linspaceIndices(5, 16);
    for (let i = 1; i < idx.length; i++) expect(idx[i]).toBeGreaterThanOrEqual(idx[i - 1]);
  });

  it('agrees with numpy.linspace(...).astype(int) on many sizes', (ctx) => {
    const cases: [number, number][] = [];
    for (let total = 1; total <= 400; total++)
      for (const n of [1, 2, 3, 8, 16, 32, 64]) cases.push([total, n]);
    for (const total of [1799, 1800, 7193, 18000, 18001, 54321, 1_000_003])
      for (const n of [8, 16, 32, 64]) cases.push([total, n]);
    const ref = numpyLinspace(cases);
    if (!ref) return ctx.skip();
    cases.forEach(([total, n], i) => {
      expect(linspaceIndices(total, n), `total ${total} n ${n}`).toEqual(ref[i]);
    });
  });

  it('rejects bad sizes', () => {
    expect(() => linspaceIndices(0, 16)).toThrow(RangeError);
    expect(() => linspaceIndices(10, 0)).toThrow(RangeError);
    expect(() => linspaceIndices(2.5, 4)).toThrow(RangeError);
  });
});

describe('everySecondsIndices', () => {
  const fps30 = (frames: number) => Array.from({ length: frames }, (_, i) => Math.round((i * 1e6) / 30));

  it('takes the frame on screen at each multiple of k', () => {
    // 10 s at 30 fps, every 2 s → t = 0, 2, 4, 6, 8 → frames 0, 60, 120, 180, 240.
    expect(everySecondsIndices(fps30(300), 2, 100)).toEqual([0, 60, 120, 180, 240]);
  });

  it('measures from the first frame when timestamps do not start at 0', () => {
    const ts = fps30(90).map((t) => t + 66_667);
    expect(everySecondsIndices(ts, 1, 100)).toEqual([0, 30, 60]);
  });

  it('handles variable frame rate (picks the last frame at or before t)', () => {
    const ts = [0, 5_000, 1_570_000, 1_600_000, 3_000_000, 4_100_000];
    expect(everySecondsIndices(ts, 1, 100)).toEqual([0, 1, 3, 4]);
  });

  it('drops duplicates when k is shorter than a frame', () => {
    expect(everySecondsIndices([0, 1_000_000, 2_000_000], 0.25, 100)).toEqual([0, 1, 2]);
  });

  it('keeps a uniform subset above maxFrames', () => {
    const idx = everySecondsIndices(fps30(30 * 600), 1, 16); // 600 candidates
    expect(idx).toHaveLength(16);
    expect(idx[0]).toBe(0);
    expect(idx[15]).toBe(599 * 30);
  });

  it('one-frame clip', () => {
    expect(everySecondsIndices([0], 1, 16)).toEqual([0]);
  });
});

describe('selectIndices', () => {
  it('dispatches on the method', () => {
    const ts = Array.from({ length: 30 }, (_, i) => i * 33_333);
    expect(selectIndices(ts, { kind: 'uniform', n: 16 })).toEqual(linspaceIndices(30, 16));
    expect(selectIndices(ts, { kind: 'every-seconds', seconds: 0.5, maxFrames: 8 })).toEqual([0, 15]);
  });
});
