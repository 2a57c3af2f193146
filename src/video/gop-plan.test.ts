import { describe, expect, it } from 'vitest';
import { buildFrameTable, type PacketMeta } from './frame-table';
import { planCost, planRuns, splitRuns } from './gop-plan';
import { linspaceIndices } from './sampling';

const US = 40_000; // 25 fps

/** A stream with a key frame every `gop` frames and no reordering. */
function ipppStream(frames: number, gop: number): PacketMeta[] {
  return Array.from({ length: frames }, (_, i) => ({
    timestampUs: i * US,
    durationUs: US,
    isKey: i % gop === 0,
  }));
}

/** Closed-GOP IBBP in decode order: I0 P3 B1 B2 P6 B4 B5 ... (gopLen = 1 + 3m frames per GOP). */
function ibbpStream(gops: number, gopLen: number): PacketMeta[] {
  if ((gopLen - 1) % 3 !== 0) throw new Error('gopLen must be 1 + 3m');
  const out: PacketMeta[] = [];
  const frame = (f: number, key = false) => out.push({ timestampUs: f * US, durationUs: US, isKey: key });
  for (let g = 0; g < gops; g++) {
    const base = g * gopLen;
    frame(base, true);
    for (let f = 3; f < gopLen; f += 3) {
      frame(base + f);
      frame(base + f - 2);
      frame(base + f - 1);
    }
  }
  return out;
}

/** Decode order I0 P3 B1 B2 P6 B4 B5 | I9 B7 B8 P12 B10 B11: B7 and B8 lead GOP 2 (open GOP). */
function openGopStream(): PacketMeta[] {
  const keys = new Set([0, 9]);
  return [0, 3, 1, 2, 6, 4, 5, 9, 7, 8, 12, 10, 11].map((f) => ({
    timestampUs: f * US,
    durationUs: US,
    isKey: keys.has(f),
  }));
}

describe('buildFrameTable', () => {
  it('orders by presentation and maps both ways', () => {
    const t = buildFrameTable(ibbpStream(1, 7));
    // decode order timestamps (frames): 0 3 1 2 6 4 5
    expect(Array.from(t.timestampsUs).map((x) => x / US)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(Array.from(t.decodeIndex)).toEqual([0, 2, 3, 1, 5, 6, 4]);
    for (let p = 0; p < t.count; p++) expect(t.presentationIndex[t.decodeIndex[p]]).toBe(p);
    expect(t.keyCount).toBe(1);
    expect(Array.from(t.startKey)).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });

  it('sends open-GOP leading pictures to the previous key frame', () => {
    const t = buildFrameTable(openGopStream());
    const key1 = 7; // decode index of I9
    expect(t.isKey[key1]).toBe(1);
    expect(t.startKey[7]).toBe(0);
    expect(t.startKey[8]).toBe(0);
    expect(t.startKey[9]).toBe(key1);
    expect(t.startKey[12]).toBe(key1);
  });

  it('starts at the first key when the stream does not begin with one', () => {
    const packets = ipppStream(10, 5);
    packets[0].isKey = false;
    const t = buildFrameTable(packets);
    expect(t.startKey[0]).toBe(5);
    expect(t.startKey[7]).toBe(5);
  });
});

describe('planRuns', () => {
  it('decodes each GOP once, up to its last target only', () => {
    const t = buildFrameTable(ipppStream(1500, 250)); // 60 s, x264-like long GOP
    const targets = linspaceIndices(1500, 16);
    const runs = planRuns(t, targets);
    expect(runs).toHaveLength(6);
    for (const r of runs) {
      expect(t.isKey[r.startDecode]).toBe(1);
      expect(r.endDecode).toBe(Math.max(...r.targets.map((p) => t.decodeIndex[p])));
    }
    expect(runs.flatMap((r) => r.targets)).toEqual(targets);
    // Each run stops at its last target: fewer packets than the whole clip.
    expect(planCost(runs)).toBeLessThan(1500);
    expect(planCost(runs)).toBe(runs.reduce((s, r) => s + (r.endDecode - r.startDecode + 1), 0));
  });

  it('one run per target when GOPs are short', () => {
    const t = buildFrameTable(ipppStream(1500, 25));
    const runs = planRuns(t, linspaceIndices(1500, 16));
    expect(runs).toHaveLength(16);
    expect(planCost(runs)).toBeLessThanOrEqual(16 * 25);
  });

  it('merges repeated targets and keeps B-frame order', () => {
    const t = buildFrameTable(ibbpStream(3, 10));
    const runs = planRuns(t, [0, 0, 1, 1, 13, 26]);
    expect(runs.map((r) => r.targets)).toEqual([[0, 1], [13], [26]]);
    // Frame 1 is a B frame decoded after P3: the run must include P3.
    expect(runs[0].endDecode).toBe(t.decodeIndex[1]);
    expect(runs[0].endDecode).toBeGreaterThan(t.decodeIndex[3] - 1);
  });

  it('merges a leading picture with the GOP it borrows from', () => {
    const t = buildFrameTable(openGopStream());
    const runs = planRuns(t, [2, 8, 12]);
    // 8 needs GOP 1's references (start 0) and lies past GOP 2's key in decode order: 8 and 12 go in one run.
    expect(runs).toHaveLength(1);
    expect(runs[0].startDecode).toBe(0);
    expect(runs[0].targets).toEqual([2, 8, 12]);
    expect(runs[0].endDecode).toBe(10); // P12
  });

  it('rejects targets out of range', () => {
    const t = buildFrameTable(ipppStream(10, 5));
    expect(() => planRuns(t, [10])).toThrow(RangeError);
  });
});

describe('splitRuns', () => {
  it('balances packets over lanes and keeps each lane in file order', () => {
    const t = buildFrameTable(ipppStream(1500, 250));
    const runs = planRuns(t, linspaceIndices(1500, 64));
    const lanes = splitRuns(runs, 2);
    expect(lanes).toHaveLength(2);
    const loads = lanes.map((l) => planCost(l));
    expect(Math.abs(loads[0] - loads[1])).toBeLessThanOrEqual(250);
    for (const lane of lanes) {
      for (let i = 1; i < lane.length; i++)
        expect(lane[i].startDecode).toBeGreaterThan(lane[i - 1].startDecode);
    }
    expect(lanes.flat().length).toBe(runs.length);
  });

  it('never makes more lanes than runs', () => {
    const t = buildFrameTable(ipppStream(10, 100));
    expect(splitRuns(planRuns(t, [0, 9]), 4)).toHaveLength(1);
    expect(splitRuns([], 2)).toEqual([]);
  });
});
