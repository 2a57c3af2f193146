/**
 * A few files at a time: the weights are consumed in `readOrder` (up to `files` shards advancing
 * together, each front to back), and ReadAhead fetches the next tensors of each of those shards while
 * the current one is converted or uploaded: at most one request per file in flight (a server without
 * Range streams each file once), at most `files` in all, and at most `windowBytes` held ahead. A
 * tensor larger than the window (a vocabulary table) is not fetched ahead; its row blocks are read as
 * asked. Per-file byte counts (progress) are the wrapped source's, so they stay right.
 */
import type { WeightSource } from '../weight-source';

export interface ByteRange {
  file: string;
  start: number;
  end: number;
}

export const READ_AHEAD = { files: 3, windowBytes: 128 << 20 };

/**
 * The order to consume ranges in: up to `files` files at a time, each front to back; next is always
 * the active file with the fewest bytes taken (so their downloads advance together); a finished file
 * makes room for the next one by name.
 */
export function readOrder<T>(items: readonly T[], at: (t: T) => ByteRange, files = READ_AHEAD.files): T[] {
  const byFile = new Map<string, T[]>();
  for (const t of items) {
    const f = at(t).file;
    if (!byFile.has(f)) byFile.set(f, []);
    byFile.get(f)!.push(t);
  }
  const pending = [...byFile.keys()].sort().map((f) => ({
    items: byFile.get(f)!.sort((a, b) => at(a).start - at(b).start),
    next: 0,
    taken: 0,
  }));
  const active = pending.splice(0, files);
  const out: T[] = [];
  while (active.length) {
    let k = 0;
    for (let j = 1; j < active.length; j++) if (active[j].taken < active[k].taken) k = j;
    const g = active[k];
    const t = g.items[g.next++];
    const r = at(t);
    g.taken += r.end - r.start;
    out.push(t);
    if (g.next === g.items.length) {
      active.splice(k, 1);
      const more = pending.shift();
      if (more) active.push(more);
    }
  }
  return out;
}

interface Slot {
  range: ByteRange;
  /** Plan position: the priority among files. */
  order: number;
  bytes?: Promise<Uint8Array>;
}

export class ReadAhead implements WeightSource {
  readonly label: string;
  private readonly files: number;
  private readonly windowBytes: number;
  /** Per file: its planned ranges, front to back, and the index of the first not yet passed. */
  private readonly queues = new Map<string, { slots: Slot[]; passed: number }>();
  private readonly busy = new Set<string>();
  private held = 0;
  /** Most requests this wrapper had in flight at once (tests, measurements). */
  peakInFlight = 0;
  private failure: unknown = null;

  constructor(
    private readonly src: WeightSource,
    opts: Partial<typeof READ_AHEAD> = {},
  ) {
    this.label = src.label;
    this.files = opts.files ?? READ_AHEAD.files;
    this.windowBytes = opts.windowBytes ?? READ_AHEAD.windowBytes;
  }

  list() {
    return this.src.list();
  }
  has(path: string) {
    return this.src.has(path);
  }
  size(path: string) {
    return this.src.size(path);
  }

  /** Starts nothing more (the load ended or failed); reads in flight finish or fail on their own. */
  stop(): void {
    this.queues.clear();
  }

  /** The ranges the consumer will read, in about the order it will (readOrder's). */
  plan(ranges: readonly ByteRange[]): void {
    this.queues.clear();
    for (const [order, range] of ranges.entries()) {
      if (!this.queues.has(range.file)) this.queues.set(range.file, { slots: [], passed: 0 });
      this.queues.get(range.file)!.slots.push({ range, order });
    }
    for (const q of this.queues.values()) q.slots.sort((a, b) => a.range.start - b.range.start);
    this.pump();
  }

  async read(path: string, offset: number, length: number): Promise<Uint8Array> {
    const q = this.queues.get(path);
    if (!q) return this.src.read(path, offset, length);
    // Ranges this read is past are done with: their bytes are dropped.
    while (q.passed < q.slots.length && q.slots[q.passed].range.end <= offset) this.drop(q.slots[q.passed++]);
    const slot = q.slots[q.passed];
    const inside = slot && slot.range.start <= offset && offset + length <= slot.range.end;
    if (!inside || (!slot.bytes && slot.range.end - slot.range.start > this.windowBytes)) {
      this.pump();
      return this.direct(path, offset, length);
    }
    slot.bytes ??= this.fetch(slot);
    this.pump();
    const all = await slot.bytes;
    return all.subarray(offset - slot.range.start, offset - slot.range.start + length);
  }

  private async direct(path: string, offset: number, length: number): Promise<Uint8Array> {
    this.busy.add(path);
    this.count(1);
    try {
      return await this.src.read(path, offset, length);
    } finally {
      this.busy.delete(path);
      this.count(-1);
      this.pump();
    }
  }

  private inFlight = 0;
  private count(d: number) {
    this.inFlight += d;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
  }

  private fetch(slot: Slot): Promise<Uint8Array> {
    const { file, start, end } = slot.range;
    this.held += end - start;
    this.busy.add(file);
    this.count(1);
    const p = this.src.read(file, start, end - start).finally(() => {
      this.busy.delete(file);
      this.count(-1);
      this.pump();
    });
    // A failed read ahead surfaces when the consumer reads it (it retries there, as without ahead).
    p.catch((e) => {
      this.failure = e;
      slot.bytes = undefined;
      this.held -= end - start;
    });
    return p;
  }

  private drop(slot: Slot): void {
    if (slot.bytes) this.held -= slot.range.end - slot.range.start;
    slot.bytes = undefined;
  }

  /** Starts reads ahead: idle files first by plan order, within the window and the file count. */
  private pump(): void {
    if (this.failure) return;
    while (this.inFlight < this.files) {
      let best: Slot | undefined;
      for (const [file, q] of this.queues) {
        if (this.busy.has(file)) continue;
        // A file's next range not fetched yet; one larger than the window is read when asked.
        const next = q.slots.slice(q.passed).find((s) => !s.bytes);
        const size = next ? next.range.end - next.range.start : 0;
        if (next && this.held + size <= this.windowBytes && (!best || next.order < best.order)) best = next;
      }
      if (!best) return;
      best.bytes = this.fetch(best);
    }
  }
}
