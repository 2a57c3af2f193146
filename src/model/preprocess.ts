/**
 * A decoded frame → the vision tower's input row: resized straight to S×S (PIL bicubic, on the GPU),
 * x/255, then (x − mean)/std with the vision config's statistics (MODEL.md "Video preprocessing").
 * Frames arrive upright (the video layer applies rotation metadata).
 */
import type { GpuContext } from '../gpu/context';
import { type FrameSource, frameIntoTensor } from '../gpu/frames-to-tensor';
import type { Tensor } from '../gpu/tensor';
import type { VisionConfig } from './config';

/** Writes one frame's pixels into row `row` of `out` [n, 3, S, S] (recorded, not synced). */
export type FramePreprocess = (
  ctx: GpuContext,
  frame: FrameSource,
  out: Tensor,
  row: number,
) => Promise<unknown>;

/** The model's own preprocessing for frames of the browser's decoders. */
export function framePreprocess(vision: VisionConfig): FramePreprocess {
  const norm = { mean: vision.imageMean, std: vision.imageStd };
  return (ctx, frame, out, row) => frameIntoTensor(ctx, frame, out, row, { norm });
}
