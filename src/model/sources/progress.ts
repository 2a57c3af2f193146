/**
 * Download progress over a load: bytes per file and overall, speed over the last few seconds, and
 * the time left at that speed. Fed by a source's byte callback (HttpWeightSource's onBytes) once the
 * files and their sizes are known; plain data out, so it crosses the worker boundary as it is.
 */

export interface DownloadProgress {
  /** The file bytes last arrived for. */
  file: string;
  fileLoadedBytes: number;
  fileTotalBytes: number;
  /** All files of the plan. */
  loadedBytes: number;
  totalBytes: number;
  /** Over the last few seconds; 0 until there are two samples. */
  bytesPerSecond: number;
  /** At that speed; undefined while the speed is unknown. */
  secondsLeft: number | undefined;
  /** Requests retried so far (dropped connections, 5xx, stalls). */
  retries: number;
  /** The latest retry, for a line such as "connection lost, resuming in 2 s". */
  lastRetry?: { file: string; attempt: number; delayMs: number; reason: string };
}

/** Speed is measured over this window. */
const WINDOW_MS = 5000;

export class DownloadMeter {
  private readonly totals = new Map<string, number>();
  private readonly loaded = new Map<string, number>();
  private total = 0;
  private done = 0;
  private file = '';
  private retries = 0;
  private lastRetry: DownloadProgress['lastRetry'];
  private readonly samples: { t: number; bytes: number }[] = [];
  private lastEmit = Number.NEGATIVE_INFINITY;

  /**
   * `onUpdate` is called at most every `intervalMs` as bytes arrive (and at every retry); `now` is
   * injectable for tests.
   */
  constructor(
    private readonly onUpdate?: (p: DownloadProgress) => void,
    private readonly intervalMs = 200,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The bytes each file will deliver (what the load reads of it). Bytes of other files are ignored. */
  plan(files: ReadonlyMap<string, number> | Record<string, number>): void {
    const entries = files instanceof Map ? [...files] : Object.entries(files);
    for (const [f, n] of entries) this.totals.set(f, n);
    this.total = [...this.totals.values()].reduce((a, b) => a + b, 0);
  }

  get planned(): boolean {
    return this.totals.size > 0;
  }

  add(file: string, bytes: number): void {
    if (!this.totals.has(file)) return;
    this.loaded.set(file, (this.loaded.get(file) ?? 0) + bytes);
    this.done += bytes;
    this.file = file;
    const t = this.now();
    this.samples.push({ t, bytes: this.done });
    while (this.samples.length > 2 && this.samples[1].t < t - WINDOW_MS) this.samples.shift();
    if (t - this.lastEmit >= this.intervalMs || this.done === this.total) {
      this.lastEmit = t;
      this.onUpdate?.(this.snapshot());
    }
  }

  retried(info: { path: string; attempt: number; delayMs: number; reason: string }): void {
    this.retries++;
    this.lastRetry = { file: info.path, attempt: info.attempt, delayMs: info.delayMs, reason: info.reason };
    this.onUpdate?.(this.snapshot());
  }

  snapshot(): DownloadProgress {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    const dt = first && last ? (last.t - first.t) / 1000 : 0;
    const bytesPerSecond = dt > 0 ? (last.bytes - first.bytes) / dt : 0;
    const left = Math.max(0, this.total - this.done);
    return {
      file: this.file,
      fileLoadedBytes: this.loaded.get(this.file) ?? 0,
      fileTotalBytes: this.totals.get(this.file) ?? 0,
      loadedBytes: this.done,
      totalBytes: this.total,
      bytesPerSecond,
      secondsLeft: left === 0 ? 0 : bytesPerSecond > 0 ? left / bytesPerSecond : undefined,
      retries: this.retries,
      ...(this.lastRetry ? { lastRetry: this.lastRetry } : {}),
    };
  }
}
