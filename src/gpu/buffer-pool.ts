/** Reuses storage buffers by exact byte size, so a decode loop allocates nothing after the first step. */
export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  /** Buffers currently in the free lists: releasing one twice would hand it to two owners. */
  private freeSet = new Set<GPUBuffer>();
  /**
   * Buffers released since the last submit: commands recorded but not yet submitted may still use
   * them, so they must not receive a queue write (which would land before those commands).
   */
  private releasedSinceSubmit = new Set<GPUBuffer>();
  /** Creation order of the pool's buffers: free lists are kept sorted by it (see `acquire`). */
  private serial = new WeakMap<GPUBuffer, number>();
  private nextSerial = 0;
  private liveBytes = 0;
  /** Buffers handed out and not released yet (leak tests compare these before and after a run). */
  private inUse = 0;
  private inUseSize = 0;
  peakBytes = 0;
  /** Told of every buffer the pool destroys (the context drops cached bind groups that bind it). */
  onDestroy: ((b: GPUBuffer) => void) | null = null;

  constructor(private readonly device: GPUDevice) {}

  private get usage(): number {
    return GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  }

  /**
   * A buffer of `bytes`: the oldest free one. Which buffer comes out depends only on which are free,
   * not on the order they were released in, so a repeated sequence of acquisitions and releases (a
   * decode step) gets the very same buffers in the same roles each time and the context's bind-group
   * cache hits. `forWrite`: skip buffers released since the last submit, so the caller may fill it
   * with queue.writeBuffer while other commands are still only recorded.
   */
  acquire(bytes: number, label?: string, forWrite = false): GPUBuffer {
    this.inUse++;
    this.inUseSize += bytes;
    const list = this.free.get(bytes);
    if (list?.length) {
      let i = list.length - 1;
      if (forWrite) while (i >= 0 && this.releasedSinceSubmit.has(list[i])) i--;
      if (i >= 0) {
        const reused = i === list.length - 1 ? list.pop()! : list.splice(i, 1)[0];
        this.freeSet.delete(reused);
        return reused;
      }
    }
    this.liveBytes += bytes;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    const b = this.device.createBuffer({ size: bytes, usage: this.usage, label });
    this.serial.set(b, this.nextSerial++);
    return b;
  }

  release(buffer: GPUBuffer): void {
    if (this.freeSet.has(buffer))
      throw new Error(`buffer released twice (${buffer.label || buffer.size + ' bytes'})`);
    this.freeSet.add(buffer);
    this.releasedSinceSubmit.add(buffer);
    this.inUse--;
    this.inUseSize -= buffer.size;
    const list = this.free.get(buffer.size) ?? [];
    // Sorted newest first, so pop() takes the oldest: binary search for the place.
    const r = this.rank(buffer);
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.rank(list[mid]) > r) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, buffer);
    this.free.set(buffer.size, list);
  }

  /** Creation order; -1 for a buffer the pool did not create (handed out first). */
  private rank(b: GPUBuffer): number {
    return this.serial.get(b) ?? -1;
  }

  /** Everything recorded so far was submitted: released buffers are safe to write from the queue again. */
  submitted(): void {
    this.releasedSinceSubmit.clear();
  }

  isFree(buffer: GPUBuffer): boolean {
    return this.freeSet.has(buffer);
  }

  /** Frees every pooled (released) buffer. Commands already recorded must have been submitted. */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.liveBytes -= b.size;
        this.onDestroy?.(b);
        b.destroy();
      }
    }
    this.free.clear();
    this.freeSet.clear();
    this.releasedSinceSubmit.clear();
  }

  get allocatedBytes(): number {
    return this.liveBytes;
  }

  /** Buffers acquired and not yet released. */
  get inUseCount(): number {
    return this.inUse;
  }

  /** Bytes of the buffers acquired and not yet released. */
  get inUseBytes(): number {
    return this.inUseSize;
  }
}
