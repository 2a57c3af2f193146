/**
 * The vision tower run chunk by chunk as a video's frames arrive, instead of on the whole
 * [F, 3, S, S] tensor at ask time. Frames are preprocessed (by the caller) straight into the pixel
 * tensor of their chunk; once every frame of a chunk is in, that chunk goes through SigLIP and its
 * features are copied into the video's [F, P', Cv] output, so the connector can start as soon as the
 * last chunk is done.
 *
 * Chunks are the same as TinyLlavaVideo.visionFeatures' passes: frames [k·n, (k+1)·n) with
 * n = framesPerPass, the last one shorter, and a single pass of F frames when F ≤ n. Each pass sees
 * the same pixels and the features land at the same rows, so the output is bit-identical to
 * visionFeatures' (vision-stream.test.ts checks it), whatever order chunks complete in.
 * No DOM: the caller turns frames into pixels (src/gpu/frames-to-tensor.ts).
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { siglipForward } from './siglip';
import type { TinyLlavaVideo } from './tinyllava';
import { PREFIX } from './weight-manifest';

/** What a stream needs of the model: its public fields only. */
export type VisionModel = Pick<TinyLlavaVideo, 'ctx' | 'config' | 'weights' | 'framesPerPass'>;

/** The chunks visionFeatures uses for F frames, as [first frame, frame count] pairs. */
export function visionChunks(frames: number, framesPerPass: number): [number, number][] {
  if (!(frames > 0) || !(framesPerPass > 0))
    throw new Error(`vision chunks: ${frames} frames, pass ${framesPerPass}`);
  if (frames <= framesPerPass) return [[0, frames]];
  const out: [number, number][] = [];
  for (let f = 0; f < frames; f += framesPerPass) out.push([f, Math.min(framesPerPass, frames - f)]);
  return out;
}

export class VisionStream {
  readonly ctx: GpuContext;
  readonly chunks: readonly [number, number][];
  /** Frames whose chunk has been through the tower. */
  framesDone = 0;
  private readonly pixels: (Tensor | null)[];
  private readonly filled: Set<number>[];
  private out: Tensor | null = null;
  private disposed = false;

  constructor(
    readonly model: VisionModel,
    /** Frames of the video (F). */
    readonly frames: number,
  ) {
    this.ctx = model.ctx;
    this.chunks = visionChunks(frames, model.framesPerPass);
    this.pixels = this.chunks.map(() => null);
    this.filled = this.chunks.map(() => new Set());
  }

  get imageSize(): number {
    return this.model.config.vision.imageSize;
  }

  get complete(): boolean {
    return this.framesDone === this.frames;
  }

  /** The chunk of frame `frame` and its row within the chunk's pixels. */
  locate(frame: number): { chunk: number; row: number } {
    if (!(frame >= 0 && frame < this.frames))
      throw new Error(`vision stream: frame ${frame} of ${this.frames}`);
    const chunk = this.chunks.length === 1 ? 0 : Math.floor(frame / this.model.framesPerPass);
    return { chunk, row: frame - this.chunks[chunk][0] };
  }

  /**
   * Where frame `frame`'s preprocessed pixels go: row `row` of `pixels` [n, 3, S, S] (in the
   * context's activation dtype, as visionFeatures' input). Allocated on first use.
   */
  target(frame: number): { pixels: Tensor; row: number } {
    this.checkLive();
    const { chunk, row } = this.locate(frame);
    let p = this.pixels[chunk];
    if (!p) {
      if (this.filled[chunk].size === this.chunks[chunk][1])
        throw new Error(`vision stream: chunk ${chunk} already ran`);
      const S = this.imageSize;
      p = this.ctx.empty([this.chunks[chunk][1], 3, S, S], this.ctx.actDtype, 'vision-stream.pixels');
      this.pixels[chunk] = p;
    }
    return { pixels: p, row };
  }

  /**
   * Marks frame `frame`'s pixels as written (after the preprocessing was recorded). When that
   * completes its chunk, records the tower on the chunk, frees its pixels and returns the chunk's
   * index; otherwise null. Runs no GPU sync.
   */
  frameReady(frame: number): number | null {
    this.checkLive();
    const { chunk } = this.locate(frame);
    const pixels = this.pixels[chunk];
    if (!pixels) throw new Error(`vision stream: frame ${frame} marked ready before target()`);
    const filled = this.filled[chunk];
    filled.add(frame);
    if (filled.size < this.chunks[chunk][1]) return null;
    this.runChunk(chunk, pixels);
    return chunk;
  }

  /** Vision features [F, P', Cv] of the whole video; owned by the stream (valid until dispose). */
  features(): Tensor {
    this.checkLive();
    if (!this.complete || !this.out)
      throw new Error(`vision stream: ${this.framesDone} of ${this.frames} frames done`);
    return this.out;
  }

  /** Frees pixels and features; pending chunks are dropped. Safe to call twice. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.pixels) if (p) this.ctx.release(p);
    this.pixels.fill(null);
    if (this.out) this.ctx.release(this.out);
    this.out = null;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  private runChunk(chunk: number, pixels: Tensor): void {
    const { ctx, model } = this;
    const w = model.weights.scope(PREFIX.vision);
    const part = siglipForward(ctx, w, model.config.vision, pixels); // [n, P', C]
    ctx.release(pixels);
    this.pixels[chunk] = null;
    const [n, P, C] = part.shape;
    this.out ??= ctx.empty([this.frames, P, C], part.dtype, 'vision-stream.features');
    const frameBytes = part.byteLength / n;
    ctx.copyRegion(part, 0, this.out, this.chunks[chunk][0] * frameBytes, part.byteLength);
    ctx.release(part);
    this.framesDone += n;
  }

  private checkLive(): void {
    if (this.disposed) throw new Error('vision stream: disposed');
  }
}
