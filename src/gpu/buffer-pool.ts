/** Reuses storage buffers by exact byte size, so a decode loop allocates nothing after the first step. */
export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  /** Buffers currently in the free lists: releasing one twice would hand it to two owners. */
  private freeSet = new Set<GPUBuffer>();
  private liveBytes = 0;
  peakBytes = 0;

  constructor(private readonly device: GPUDevice) {}

  private get usage(): number {
    return GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  }

  acquire(bytes: number, label?: string): GPUBuffer {
    const list = this.free.get(bytes);
    const reused = list?.pop();
    if (reused) {
      this.freeSet.delete(reused);
      return reused;
    }
    this.liveBytes += bytes;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    return this.device.createBuffer({ size: bytes, usage: this.usage, label });
  }

  release(buffer: GPUBuffer): void {
    if (this.freeSet.has(buffer))
      throw new Error(`buffer released twice (${buffer.label || buffer.size + ' bytes'})`);
    this.freeSet.add(buffer);
    const list = this.free.get(buffer.size) ?? [];
    list.push(buffer);
    this.free.set(buffer.size, list);
  }

  isFree(buffer: GPUBuffer): boolean {
    return this.freeSet.has(buffer);
  }

  /** Frees every pooled (released) buffer. */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.liveBytes -= b.size;
        b.destroy();
      }
    }
    this.free.clear();
    this.freeSet.clear();
  }

  get allocatedBytes(): number {
    return this.liveBytes;
  }
}
