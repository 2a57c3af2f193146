/**
 * Moving-squares training items for engine-level tests, without video files: each "clip" is its 24
 * frames' RGBA bytes back to back, and `clipPixels` turns one into the model's pixels with the app's
 * GPU resize (the page decodes real MP4s instead).
 */
import type { TrainItem } from '../../engine-client/protocol';
import type { GpuContext } from '../../gpu/context';
import { packRgba, resizeBicubic } from '../../gpu/kernels/resize';
import {
  CLIP_FRAMES,
  CLIP_SIZE,
  renderFrame,
  sampleClip,
  seededRandom,
  squaresQuestionOf,
  squaresSolution,
} from '../../rl-lite/tasks/moving-squares';
import { linspaceIndices } from '../../video/sampling';
import type { ClipPixels } from '../train-data';

/** The model's pixels of a raw-RGBA clip: `frames` of its frames, picked as the app picks them. */
export function clipPixels(ctx: GpuContext): ClipPixels {
  return async (model, video, frames) => {
    const bytes = new Uint8Array(await video.arrayBuffer());
    const size = CLIP_SIZE * CLIP_SIZE * 4;
    const { imageSize: S, imageMean: mean, imageStd: std } = model.config.vision;
    const pixels = ctx.empty([frames, 3, S, S], ctx.actDtype);
    ctx.tidy(() => {
      for (const [f, t] of linspaceIndices(bytes.length / size, frames).entries()) {
        const rgba = ctx.upload(
          packRgba(bytes.subarray(t * size, (t + 1) * size)),
          [CLIP_SIZE, CLIP_SIZE],
          'u32',
        );
        resizeBicubic(ctx, rgba, CLIP_SIZE, CLIP_SIZE, S, pixels, f, { norm: { mean, std } });
      }
    });
    return pixels;
  };
}

/** `n` items of the task from `seed`, each with its raw clip. */
export function squaresItems(n: number, seed: number): TrainItem[] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, (_, i) => {
    const clip = sampleClip(r);
    const frames = Array.from({ length: CLIP_FRAMES }, (_, t) => renderFrame(clip, t));
    return {
      problem: squaresQuestionOf(clip),
      solution: squaresSolution(clip),
      problem_id: i,
      video_filename: `clip-${i}.raw`,
      video: new Blob(frames as BlobPart[]),
    };
  });
}
