/**
 * GPU time per labelled dispatch from timestamp queries. Only where the adapter has
 * 'timestamp-query'; callers fall back to wall-clock timing of submitted work otherwise.
 */
export class Profiler {
  private readonly capacity = 2048;
  private querySet: GPUQuerySet;
  private resolve: GPUBuffer;
  private labels: string[] = [];
  private totals = new Map<string, { ms: number; count: number }>();

  constructor(private readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: this.capacity });
    this.resolve = device.createBuffer({
      size: this.capacity * 8,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
  }

  /** Timestamp writes for the next pass, or undefined when the query set is full. */
  next(label: string): GPUComputePassTimestampWrites | undefined {
    const i = this.labels.length * 2;
    if (i + 2 > this.capacity) return undefined;
    this.labels.push(label);
    return { querySet: this.querySet, beginningOfPassWriteIndex: i, endOfPassWriteIndex: i + 1 };
  }

  /** Resolves recorded queries into totals; call after the passes were encoded. */
  async collect(encoder: GPUCommandEncoder): Promise<void> {
    const n = this.labels.length * 2;
    if (n === 0) return;
    const staging = this.device.createBuffer({
      size: n * 8,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    encoder.resolveQuerySet(this.querySet, 0, n, this.resolve, 0);
    encoder.copyBufferToBuffer(this.resolve, 0, staging, 0, n * 8);
    this.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(staging.getMappedRange().slice(0));
    staging.destroy();
    this.labels.forEach((label, k) => {
      const ms = Number(t[2 * k + 1] - t[2 * k]) / 1e6;
      const e = this.totals.get(label) ?? { ms: 0, count: 0 };
      e.ms += ms;
      e.count++;
      this.totals.set(label, e);
    });
    this.labels = [];
  }

  report(): Map<string, { ms: number; count: number }> {
    return new Map(this.totals);
  }

  reset(): void {
    this.totals.clear();
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolve.destroy();
  }
}
