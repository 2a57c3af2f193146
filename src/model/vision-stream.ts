/**
 * The vision tower run chunk by chunk as a video's frames arrive. Each frame is preprocessed (by the
 * model's FramePreprocess, or copied from pixels already preprocessed) straight into the pixel tensor
 * of its chunk; once every frame of a chunk is in, that chunk goes through SigLIP and its features
 * are copied into the video's [F, P', Cv] output, so the connector can start as soon as the last
 * chunk is done. TinyLlavaVideo.visionFeatures is this stream fed a whole tensor at once: one
 * implementation, whatever order frames arrive in.
 *
 * Chunks are frames [k·n, (k+1)·n) with n = framesPerPass, the last one shorter, and a single pass of
 * F frames when F ≤ n (bounded activation memory: the tower's attention is per frame).
 */
import type { GpuContext } from '../gpu/context';
import type { FrameSource } from '../gpu/frames-to-tensor';
import type { Tensor } from '../gpu/tensor';
import type { FramePreprocess } from './preprocess';
import { siglipForward } from './siglip';
import type { TinyLlavaVideo } from './tinyllava';
import { PREFIX } from './weight-manifest';

/** What a stream needs of the model: its public fields only. */
export type VisionModel = Pick<TinyLlavaVideo, 'ctx' | 'config' | 'weights' | 'framesPerPass' | 'preprocess'>;

/** The chunks of F frames, as [first frame, frame count] pairs. */
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
  /** Time spent preprocessing frames (RGBA copy, upload, resize recording), ms. */
  preprocessMs = 0;
  private readonly pixels: (Tensor | null)[];
  private readonly filled: Set<number>[];
  private out: Tensor | null = null;
  private disposed = false;

  constructor(
    readonly model: VisionModel,
    /** Frames of the video (F). */
    readonly frames: number,
    /** How a frame becomes pixels: the model's own unless a test injects another. */
    private readonly preprocess: FramePreprocess = model.preprocess,
  ) {
    this.ctx = model.ctx;
    this.chunks = visionChunks(frames, model.framesPerPass);
    this.pixels = this.chunks.map(() => null);
    this.filled = this.chunks.map(() => new Set());
  }

  get complete(): boolean {
    return this.framesDone === this.frames;
  }

  /** The chunk of frame `frame` and its row within the chunk's pixels. */
  locate(frame: number): { chunk: number; row: number } {
    if (!(frame >= 0 && frame < this.frames && Number.isInteger(frame)))
      throw new Error(`vision stream: frame ${frame} of ${this.frames}`);
    const chunk = this.chunks.length === 1 ? 0 : Math.floor(frame / this.model.framesPerPass);
    return { chunk, row: frame - this.chunks[chunk][0] };
  }

  /**
   * Preprocesses `frame` as frame `slot` of the video; when that completes its chunk, records the
   * tower on it. Resolves to whether a chunk was recorded (nothing is submitted or synced).
   */
  async addFrame(slot: number, frame: FrameSource): Promise<boolean> {
    const { pixels, row } = this.target(slot);
    const t = performance.now();
    await this.preprocess(this.ctx, frame, pixels, row);
    this.preprocessMs += performance.now() - t;
    return this.ready(slot);
  }

  /** Frame `slot` from row `row` of pixels already preprocessed [F', 3, S, S] (a GPU copy); as addFrame. */
  addPixels(slot: number, pixels: Tensor, row: number): boolean {
    const { pixels: dst, row: at } = this.target(slot);
    if (pixels.dtype !== dst.dtype || pixels.shape.slice(1).join() !== dst.shape.slice(1).join())
      throw new Error(
        `vision stream: pixels [${pixels.shape.join(', ')}] ${pixels.dtype}, not [·, ${dst.shape.slice(1).join(', ')}] ${dst.dtype}`,
      );
    const frameBytes = dst.byteLength / dst.shape[0];
    this.ctx.copyRegion(pixels, row * frameBytes, dst, at * frameBytes, frameBytes);
    return this.ready(slot);
  }

  /** Vision features [F, P', Cv] of the whole video; owned by the stream (valid until dispose). */
  features(): Tensor {
    this.checkLive();
    if (!this.complete || !this.out)
      throw new Error(`vision stream: ${this.framesDone} of ${this.frames} frames done`);
    return this.out;
  }

  /** The features, handed over to the caller (the stream no longer frees them). */
  takeFeatures(): Tensor {
    const out = this.features();
    this.out = null;
    this.dispose();
    return out;
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

  /** Where frame `slot`'s pixels go: row `row` of its chunk's [n, 3, S, S], allocated on first use. */
  private target(slot: number): { pixels: Tensor; row: number } {
    this.checkLive();
    const { chunk, row } = this.locate(slot);
    if (this.filled[chunk].has(slot)) throw new Error(`vision stream: frame ${slot} added twice`);
    let p = this.pixels[chunk];
    if (!p) {
      const S = this.model.config.vision.imageSize;
      p = this.ctx.empty([this.chunks[chunk][1], 3, S, S], this.ctx.actDtype, 'vision-stream.pixels');
      this.pixels[chunk] = p;
    }
    return { pixels: p, row };
  }

  /** Frame `slot`'s pixels are recorded: runs the tower when that completes its chunk. */
  private ready(slot: number): boolean {
    this.checkLive(); // disposed meanwhile (a preprocess awaited): its pixels are gone
    const { chunk } = this.locate(slot);
    const filled = this.filled[chunk];
    filled.add(slot);
    if (filled.size < this.chunks[chunk][1]) return false;
    this.runChunk(chunk);
    return true;
  }

  private runChunk(chunk: number): void {
    const { ctx, model } = this;
    const pixels = this.pixels[chunk]!;
    this.pixels[chunk] = null;
    const w = model.weights.scope(PREFIX.vision);
    const part = siglipForward(ctx, w, model.config.vision, pixels); // [n, P', C]
    ctx.release(pixels);
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
