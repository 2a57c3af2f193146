/**
 * Decoded frames (WebCodecs VideoFrame or ImageBitmap) → the vision tower's input tensor
 * [F, 3, S, S]: each frame's RGBA pixels reach the GPU, then kernels/resize.ts resizes them
 * PIL-bicubic and normalises them with the caller's statistics (`norm`, from the model's config). No DOM:
 * runs in a worker; the caller owns the frames (they can be closed once the returned promise settles).
 *
 * Two ways in (`upload`), chosen by adapter unless given:
 *   - 'texture' (real GPUs): copyExternalImageToTexture into an rgba8unorm texture; the browser
 *     converts YUV → RGB on the GPU. Cheap on hardware, but on SwiftShader in Chromium it costs
 *     ~1.3 s per 960×540 frame and ~5 s per 1920×1080 frame (measured).
 *   - 'copyTo' (software adapters): VideoFrame.copyTo({ format: 'RGBA' }) converts on the CPU
 *     (~40 ms at 960×540, ~100 ms at 1920×1080), then a buffer upload. Falls back to 'texture' for
 *     ImageBitmaps, frames carrying their own rotation or flip, or where RGBA copyTo is unsupported.
 * The two conversions differ by a few /255 per pixel (the GPU one by up to ~30/255 per WEBGPU.md; 9/255
 * on the test clip); the resize is bit-exact on whichever pixels it gets.
 *
 * Which pixels: a VideoFrame's visible rectangle at its stored resolution (what upstream's decoders
 * hand to PIL), not scaled to the display aspect ratio — the output is S×S whatever the aspect, and
 * scaling first would add a second, non-PIL resampling. Padded coded sizes (e.g. 256×121 coded for a
 * 161×121 picture) are thus ignored.
 * Orientation: frames are expected upright — the video layer applies the container's rotation
 * metadata (src/video/orient.ts); decoded frames carry no orientation of their own (mediabunny puts the
 * container rotation on its VideoSample, not on the VideoFrame). A VideoFrame that does carry
 * `rotation`/`flip` takes the 'texture' path, where the browser orients it during the copy (Chromium
 * does); copyTo would hand over the pixels unoriented.
 */
import type { GpuContext } from './context';
import { type PixelNorm, resizeBicubic } from './kernels/resize';
import type { DType, Tensor } from './tensor';

export type { PixelNorm } from './kernels/resize';

export type FrameSource = VideoFrame | ImageBitmap;

export type UploadPath = 'texture' | 'copyTo';

export interface FrameOptions {
  /** Per-channel normalisation after x/255 (the model's image_mean / image_std). */
  norm: PixelNorm;
  /** How pixels reach the GPU; default {@link defaultUploadPath}. */
  upload?: UploadPath;
}

/** 'copyTo' on software adapters (where copyExternalImageToTexture is very slow), else 'texture'. */
export function defaultUploadPath(ctx: GpuContext): UploadPath {
  return ctx.summary.isSoftware ? 'copyTo' : 'texture';
}

function isVideoFrame(f: FrameSource): f is VideoFrame {
  return 'visibleRect' in f && 'codedWidth' in f;
}

/** A VideoFrame's own clockwise rotation (newer WebCodecs; absent → 0). */
function frameRotation(f: VideoFrame): number {
  return (f as { rotation?: number }).rotation ?? 0;
}

/** Whether a VideoFrame carries its own orientation (rotation or flip), which only the texture copy applies. */
function carriesOrientation(f: VideoFrame): boolean {
  return frameRotation(f) !== 0 || Boolean((f as { flip?: boolean }).flip);
}

/**
 * The pixel grid that is resized, as the browser's copy delivers it: a VideoFrame's visible rectangle
 * (after the frame's own rotation, if any), or the bitmap itself.
 */
export function frameSourceSize(f: FrameSource): { width: number; height: number } {
  if (isVideoFrame(f)) {
    const r = f.visibleRect;
    if (!r) throw new Error('frames-to-tensor: the VideoFrame is closed');
    const quarter = frameRotation(f) % 180 !== 0;
    return quarter ? { width: r.height, height: r.width } : { width: r.width, height: r.height };
  }
  return { width: f.width, height: f.height };
}

/** One reusable upload texture per context (frames of a video share a size). */
const uploadTextures = new WeakMap<GpuContext, GPUTexture>();

function uploadTexture(ctx: GpuContext, width: number, height: number): GPUTexture {
  const old = uploadTextures.get(ctx);
  if (old && old.width === width && old.height === height) return old;
  // destroy() waits for queued work that uses it.
  old?.destroy();
  const tex = ctx.device.createTexture({
    label: 'frames-to-tensor.upload',
    size: [width, height],
    format: 'rgba8unorm',
    // RENDER_ATTACHMENT is required by copyExternalImageToTexture; COPY_SRC for the resize staging copy.
    usage: GPUTextureUsage.COPY_DST | GPUTextureUsage.COPY_SRC | GPUTextureUsage.RENDER_ATTACHMENT,
  });
  uploadTextures.set(ctx, tex);
  return tex;
}

/**
 * A frame whose natural size is its visible rectangle. copyExternalImageToTexture scales a VideoFrame
 * to its display size; when that differs (non-square pixels) a metadata-only rewrap avoids the scaling.
 * (VideoFrameInit's display size is before the frame's rotation; the attributes read back are after.)
 */
function atStoredResolution(f: VideoFrame, width: number, height: number): VideoFrame | null {
  if (f.displayWidth === width && f.displayHeight === height) return null;
  const r = f.visibleRect!;
  return new VideoFrame(f, { visibleRect: r, displayWidth: r.width, displayHeight: r.height });
}

/**
 * Preprocesses one frame into frame `frameIndex` of `out` [F, 3, S, S] (S = out.shape[2]).
 * Resolves to the upload path actually taken.
 */
export async function frameIntoTensor(
  ctx: GpuContext,
  frame: FrameSource,
  out: Tensor,
  frameIndex: number,
  opts: FrameOptions,
): Promise<UploadPath> {
  const path = opts.upload ?? defaultUploadPath(ctx);
  if (path === 'copyTo' && isVideoFrame(frame) && !carriesOrientation(frame)) {
    if (await viaCopyTo(ctx, frame, out, frameIndex, opts.norm)) return 'copyTo';
  }
  viaTexture(ctx, frame, out, frameIndex, opts.norm);
  return 'texture';
}

function viaTexture(
  ctx: GpuContext,
  frame: FrameSource,
  out: Tensor,
  frameIndex: number,
  norm: PixelNorm,
): void {
  const { width, height } = frameSourceSize(frame);
  const tex = uploadTexture(ctx, width, height);
  const wrapped = isVideoFrame(frame) ? atStoredResolution(frame, width, height) : null;
  try {
    ctx.device.queue.copyExternalImageToTexture({ source: wrapped ?? frame }, { texture: tex }, [
      width,
      height,
    ]);
  } finally {
    wrapped?.close();
  }
  resizeBicubic(ctx, tex, width, height, out.shape[2], out, frameIndex, { norm });
}

/** The visible rectangle converted to RGBA by the browser on the CPU; false where that is unsupported. */
async function viaCopyTo(
  ctx: GpuContext,
  frame: VideoFrame,
  out: Tensor,
  frameIndex: number,
  norm: PixelNorm,
): Promise<boolean> {
  const r = frame.visibleRect;
  if (!r) throw new Error('frames-to-tensor: the VideoFrame is closed');
  const { width, height } = r;
  const words = new Uint32Array(width * height);
  try {
    // rect defaults to the visible rectangle (the frame carries no rotation: see frameIntoTensor).
    await frame.copyTo(words, {
      format: 'RGBA',
      colorSpace: 'srgb',
      layout: [{ offset: 0, stride: width * 4 }],
    } as VideoFrameCopyToOptions);
  } catch (e) {
    if ((e as Error).name === 'NotSupportedError' || e instanceof TypeError) return false;
    throw e;
  }
  // Submit pending work first: the upload must not overtake earlier reads of a pooled buffer.
  ctx.flush();
  const src = ctx.upload(words, [height, width], 'u32');
  resizeBicubic(ctx, src, width, height, out.shape[2], out, frameIndex, { norm });
  ctx.release(src);
  return true;
}

/** Preprocesses frames into a new [F, 3, S, S] tensor in `dtype` (default: the context's activation dtype). */
export async function framesToTensor(
  ctx: GpuContext,
  frames: readonly FrameSource[],
  S: number,
  opts: FrameOptions & { dtype?: Extract<DType, 'f32' | 'f16'> },
): Promise<Tensor> {
  if (frames.length === 0) throw new Error('frames-to-tensor: no frames');
  const out = ctx.empty([frames.length, 3, S, S], opts.dtype ?? (ctx.actDtype as 'f32' | 'f16'), 'frames');
  for (let i = 0; i < frames.length; i++) await frameIntoTensor(ctx, frames[i], out, i, opts);
  return out;
}

/** Frees the upload texture kept for this context (call when the video is done). */
export function releaseFrameUploads(ctx: GpuContext): void {
  uploadTextures.get(ctx)?.destroy();
  uploadTextures.delete(ctx);
}
