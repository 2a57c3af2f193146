/** Reuses storage buffers by exact byte size, so a decode loop allocates nothing after the first step. */
export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private liveBytes = 0;
  peakBytes = 0;

  constructor(private readonly device: GPUDevice) {}

  private get usage(): number {
    return GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  }

  acquire(bytes: number, label?: string): GPUBuffer {
    const list = this.free.get(bytes);
    const reused = list?.pop();
    if (reused) return reused;
    this.liveBytes += bytes;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    return this.device.createBuffer({ size: bytes, usage: this.usage, label });
  }

  release(buffer: GPUBuffer): void {
    const list = this.free.get(buffer.size) ?? [];
    list.push(buffer);
    this.free.set(buffer.size, list);
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
  }

  get allocatedBytes(): number {
    return this.liveBytes;
  }
}
