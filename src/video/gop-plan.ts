/**
 * Decode plan: which packet ranges to feed a decoder so that every target frame comes out, decoding
 * each group of pictures (GOP) at most once, and how to split those ranges across parallel decoders.
 */
import type { FrameTable } from './frame-table';

/** Feed packets startDecode..endDecode (decode order, inclusive) from a key packet, then flush. */
export interface DecodeRun {
  startDecode: number;
  endDecode: number;
  /** Target frames (presentation indices, ascending, unique) this run outputs. */
  targets: number[];
}

export function runCost(run: DecodeRun): number {
  return run.endDecode - run.startDecode + 1;
}

/**
 * Groups targets into runs. A target needs packets startKey..decodeIndex. Targets whose ranges overlap
 * share one run (the later target's key frame lies inside packets already being fed, so going on is
 * cheaper than starting again); a target past the end of the current run starts a new one at its key.
 * Runs never go beyond the last packet a target needs.
 */
export function planRuns(table: FrameTable, targets: readonly number[]): DecodeRun[] {
  const unique = [...new Set(targets)];
  for (const p of unique) {
    if (!Number.isInteger(p) || p < 0 || p >= table.count) throw new RangeError(`frame ${p} out of range`);
  }
  const needs = unique
    .map((p) => ({ p, start: table.startKey[p], end: table.decodeIndex[p] }))
    .sort((a, b) => a.start - b.start || a.end - b.end);
  const runs: DecodeRun[] = [];
  let cur: DecodeRun | null = null;
  for (const n of needs) {
    if (cur && n.start <= cur.endDecode) {
      cur.endDecode = Math.max(cur.endDecode, n.end);
      cur.targets.push(n.p);
    } else {
      cur = { startDecode: n.start, endDecode: n.end, targets: [n.p] };
      runs.push(cur);
    }
  }
  for (const r of runs) r.targets.sort((a, b) => a - b);
  return runs;
}

/**
 * Splits runs across `lanes` decoders, balancing packets to decode (longest run first onto the least
 * loaded lane). Each lane keeps its runs in file order so its reads move forward.
 */
export function splitRuns(runs: readonly DecodeRun[], lanes: number): DecodeRun[][] {
  const n = Math.max(1, Math.min(Math.floor(lanes), runs.length || 1));
  const out: DecodeRun[][] = Array.from({ length: n }, () => []);
  const load = new Array<number>(n).fill(0);
  const bySize = [...runs].sort((a, b) => runCost(b) - runCost(a) || a.startDecode - b.startDecode);
  for (const r of bySize) {
    let best = 0;
    for (let i = 1; i < n; i++) if (load[i] < load[best]) best = i;
    out[best].push(r);
    load[best] += runCost(r);
  }
  for (const lane of out) lane.sort((a, b) => a.startDecode - b.startDecode);
  return out.filter((lane) => lane.length > 0);
}

/** Total packets a plan decodes. */
export function planCost(runs: readonly DecodeRun[]): number {
  return runs.reduce((s, r) => s + runCost(r), 0);
}
