/**
 * Vision ahead of the question: while a video's frames are decoded (or right after a model loads on
 * an already loaded video), each frame goes into the model's VisionStream (src/model/vision-stream.ts),
 * which preprocesses it and runs the tower on each complete chunk, so `ask` only waits for what is
 * left, then runs connector + prefill. One job per (model, video); the features stay on the GPU
 * until the video is replaced or cleared, the load is cancelled, or the model is replaced. This file
 * holds the jobs' state and messaging; the steps are the model's.
 *
 * GPU safety: the worker records on one GpuContext from several async flows. Each job's frames are
 * added one at a time on its own promise chain, and a cancelled job frees its buffers only at the end
 * of that chain, so no recorded upload can land in a buffer the pool has handed elsewhere.
 */

import type { VisionProgress } from '../engine-client/protocol';
import { EngineError } from '../engine-client/protocol';
import type { GpuContext } from '../gpu/context';
import type { FrameSource } from '../gpu/frames-to-tensor';
import type { Tensor } from '../gpu/tensor';
import type { FramePreprocess } from '../model/preprocess';
import { VisionStream } from '../model/vision-stream';
import type { LoadedModel } from './model-load';

const now = () => performance.now();

/** What the job measured: the work itself, whether or not anyone waited for it. */
export interface VisionTimes {
  frames: number;
  /** Sum over frames of the preprocessing (RGBA copy + upload + resize recording), ms. */
  preprocessMs: number;
  /** GPU time of the tower passes (each pass: from its submit, or the previous pass's end, to its end), ms. */
  visionMs: number;
}

export class VisionJob {
  readonly stream: VisionStream;
  /** Resolves with the features [F, P', Cv] (owned by the job) once the GPU has finished them. */
  readonly ready: Promise<Tensor>;
  readonly times: VisionTimes;
  private chain: Promise<void> = Promise.resolve();
  /** Slots queued so far (a slot queued twice is ignored). */
  readonly added = new Set<number>();
  private cancelled = false;
  private lastGpuEnd = 0;
  private gpuPending: Promise<void>[] = [];
  private settle!: { resolve: (t: Tensor) => void; reject: (e: unknown) => void };

  constructor(
    readonly ctx: GpuContext,
    readonly modelId: number,
    model: LoadedModel['model'],
    readonly videoKey: number,
    frames: number,
    preprocess: FramePreprocess | undefined,
    private readonly report: (
      job: VisionJob,
      state: VisionProgress['state'],
      extra?: { message?: string; framesDone?: number },
    ) => void,
  ) {
    this.stream = new VisionStream(model, frames, preprocess);
    this.times = { frames, preprocessMs: 0, visionMs: 0 };
    this.ready = new Promise<Tensor>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.ready.catch(() => {}); // observed by whoever waits; a cancel nobody waits for is not an error
  }

  get isCancelled(): boolean {
    return this.cancelled;
  }

  /** Queues frame `slot` (the job takes ownership of `frame` when `owned`, else clones it now). */
  addFrame(slot: number, frame: FrameSource, owned: boolean): void {
    if (this.added.has(slot)) {
      if (owned) frame.close();
      return;
    }
    this.added.add(slot);
    // Borrowed VideoFrames are cloned (cheap: same pixels) so the video may be replaced meanwhile.
    const own = owned ? frame : 'clone' in frame ? frame.clone() : null;
    const src = own ?? frame;
    const close = () => own?.close();
    this.chain = this.chain.then(async () => {
      if (this.cancelled) return close();
      let ran: boolean;
      try {
        ran = await this.stream.addFrame(slot, src);
      } catch (e) {
        return this.fail(e);
      } finally {
        close();
      }
      this.times.preprocessMs = this.stream.preprocessMs;
      if (ran && !this.cancelled) this.chunkRecorded();
    });
    // A failed link must not stop the chain: later links close their frames and free the buffers.
    this.chain = this.chain.catch((e) => this.fail(e));
  }

  /** Stops the job: queued frames are closed unprocessed, and the buffers are freed once the chain is idle. */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.settle.reject(new EngineError('cancelled', 'The video was replaced or its vision cancelled.', ''));
    this.chain = this.chain.then(() => this.stream.dispose());
    this.report(this, 'cancelled');
  }

  /** Submits a recorded tower pass and times it on the GPU; resolves `ready` after the last one. */
  private chunkRecorded(): void {
    this.ctx.flush();
    // The last pass: free the tower's pooled scratch (as the model's own phases do), so it does not
    // sit on the GPU until the question; everything recorded was just submitted.
    if (this.stream.complete) this.ctx.pool.trim();
    const submitted = now();
    const done = this.ctx.device.queue.onSubmittedWorkDone().then(() => {
      const end = now();
      this.times.visionMs += end - Math.max(submitted, this.lastGpuEnd);
      this.lastGpuEnd = end;
    });
    this.gpuPending.push(done);
    const last = this.stream.complete;
    const framesDone = this.stream.framesDone;
    void done.then(() => {
      if (this.cancelled) return;
      this.report(this, last ? 'done' : 'running', { framesDone });
      if (last)
        void Promise.all(this.gpuPending).then(
          () => !this.cancelled && this.settle.resolve(this.stream.features()),
        );
    });
  }

  private fail(e: unknown): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.settle.reject(e);
    this.chain = this.chain.then(() => this.stream.dispose());
    this.report(this, 'error', { message: e instanceof Error ? e.message : String(e) });
  }
}

/** The loaded video as the vision hub sees it (for runs after a model load). */
export interface VisionVideo {
  key: number;
  frames: readonly FrameSource[];
}

/**
 * Vision jobs of the engine: the model service tells it which model is loaded; the video service
 * starts and cancels jobs for videos; `ask` looks jobs up. Listeners get each job's progress.
 */
export class VisionHub {
  private model: LoadedModel | null = null;
  private readonly jobs = new Map<string, VisionJob>();
  private readonly listeners = new Set<(p: VisionProgress) => void>();
  /** The video service's current video, to run vision on when a model arrives after it. */
  currentVideo: () => VisionVideo | null = () => null;

  constructor(
    private readonly gpu: () => GpuContext,
    /** Replaces the model's frame preprocessing (Node tests, which have no VideoFrame). */
    private readonly preprocess?: FramePreprocess,
  ) {}

  watch(listener: (p: VisionProgress) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A new model is loaded: later jobs use it, and the current video's vision runs now. */
  setModel(model: LoadedModel | null): void {
    this.model = model;
    const v = this.currentVideo();
    if (model && v) this.runAll(v.key, v.frames);
  }

  /** Cancels the jobs of a model about to be destroyed. */
  dropModel(modelId: number): void {
    for (const job of [...this.jobs.values()]) if (job.modelId === modelId) this.remove(job);
  }

  /** Starts a job fed frame by frame (by the decoder); null when no model is loaded. */
  begin(videoKey: number, frames: number): VisionJob | null {
    const model = this.model;
    if (!model) return null;
    const old = this.jobs.get(jobKey(model.id, videoKey));
    if (old) this.remove(old);
    const job = new VisionJob(
      this.gpu(),
      model.id,
      model.model,
      videoKey,
      frames,
      this.preprocess,
      (j, state, extra) => this.emit(j, state, extra),
    );
    this.jobs.set(jobKey(model.id, videoKey), job);
    this.emit(job, 'running');
    return job;
  }

  /** Runs the loaded model's vision on frames already decoded, unless a live job has them. */
  runAll(videoKey: number, frames: readonly FrameSource[]): VisionJob | null {
    const live = this.model && this.job(this.model.id, videoKey);
    if (live) {
      // Whatever the decoder did not hand over (it should have: a safety net, so no ask waits forever).
      for (const [slot, f] of frames.entries()) if (!live.added.has(slot)) live.addFrame(slot, f, false);
      return live;
    }
    const job = this.begin(videoKey, frames.length);
    if (job) for (const [slot, f] of frames.entries()) job.addFrame(slot, f, false);
    return job;
  }

  /** The live (not cancelled) job of this model on this video. */
  job(modelId: number, videoKey: number | string): VisionJob | undefined {
    const job = this.jobs.get(jobKey(modelId, videoKey));
    return job && !job.isCancelled ? job : undefined;
  }

  /** Drops every job on this video (replaced, cleared or its load cancelled). */
  cancelVideo(videoKey: number): void {
    for (const job of [...this.jobs.values()]) if (job.videoKey === videoKey) this.remove(job);
  }

  private remove(job: VisionJob): void {
    this.jobs.delete(jobKey(job.modelId, job.videoKey));
    job.cancel();
  }

  private emit(
    job: VisionJob,
    state: VisionProgress['state'],
    { message, framesDone }: { message?: string; framesDone?: number } = {},
  ): void {
    const p: VisionProgress = {
      videoKey: job.videoKey,
      framesDone: framesDone ?? job.stream.framesDone,
      frames: job.stream.frames,
      state,
      preprocessMs: job.times.preprocessMs,
      visionMs: job.times.visionMs,
      ...(message ? { message } : {}),
    };
    for (const l of this.listeners) {
      // A listener on a closed page (a comlink proxy that rejects) must not stop the others.
      void Promise.resolve()
        .then(() => l(p))
        .catch(() => {});
    }
  }
}

const jobKey = (modelId: number, videoKey: number | string) => `${modelId}:${videoKey}`;
