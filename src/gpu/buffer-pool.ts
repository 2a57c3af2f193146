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
  private liveBytes = 0;
  peakBytes = 0;
  /** Told of every buffer the pool destroys (the context drops cached bind groups that bind it). */
  onDestroy: ((b: GPUBuffer) => void) | null = null;

  constructor(private readonly device: GPUDevice) {}

  private get usage(): number {
    return GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  }

  /**
   * A buffer of `bytes`, the most recently released first (so a repeated sequence of acquisitions
   * gets the same buffers each time). `forWrite`: skip buffers released since the last submit, so the
   * caller may fill it with queue.writeBuffer while other commands are still only recorded.
   */
  acquire(bytes: number, label?: string, forWrite = false): GPUBuffer {
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
    return this.device.createBuffer({ size: bytes, usage: this.usage, label });
  }

  release(buffer: GPUBuffer): void {
    if (this.freeSet.has(buffer))
      throw new Error(`buffer released twice (${buffer.label || buffer.size + ' bytes'})`);
    this.freeSet.add(buffer);
    this.releasedSinceSubmit.add(buffer);
    const list = this.free.get(buffer.size) ?? [];
    list.push(buffer);
    this.free.set(buffer.size, list);
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
}
