/**
 * The moving-squares task made in the worker: clips drawn by src/rl-lite/tasks/moving-squares.ts
 * (128 px, 8 fps, 24 frames), encoded to H.264 MP4 by WebCodecs, each with its question, answer and
 * templated reasoning, named as rl:squares names them.
 */
import type { SquaresRequest, TrainItem } from '../engine-client/protocol';
import { EngineError } from '../engine-client/protocol';
import {
  CLIP_FPS,
  CLIP_FRAMES,
  CLIP_SIZE,
  type Colour,
  parseColours,
  renderFrame,
  sampleClip,
  seededRandom,
  squaresQuestionOf,
  squaresSolution,
  squaresThink,
} from '../rl-lite/tasks/moving-squares';
import { encodeMp4 } from '../video/encode-mp4';

export async function squaresItems(
  req: SquaresRequest,
  onProgress?: (done: number, total: number) => void,
): Promise<TrainItem[]> {
  if (!(Number.isInteger(req.count) && req.count > 0 && req.count <= 1000))
    throw new EngineError('bad-request', `${req.count} clips: choose 1 to 1000.`, '');
  let colours: Colour[] | undefined;
  try {
    colours = req.colours ? parseColours(req.colours) : undefined;
  } catch (e) {
    throw new EngineError('bad-request', (e as Error).message, 'Tick at least one colour.');
  }
  const r = seededRandom(req.seed);
  const out: TrainItem[] = [];
  for (let i = 0; i < req.count; i++) {
    const clip = sampleClip(r, { colours });
    const frames = Array.from({ length: CLIP_FRAMES }, (_, t) => renderFrame(clip, t));
    const video = await encodeMp4({ width: CLIP_SIZE, height: CLIP_SIZE, fps: CLIP_FPS, frames });
    out.push({
      problem: squaresQuestionOf(clip),
      solution: squaresSolution(clip),
      problem_id: `squares-${req.seed}-${i}`,
      video_filename: `squares-${req.seed}-${i}.mp4`,
      think: squaresThink(clip),
      video,
    });
    onProgress?.(i + 1, req.count);
  }
  return out;
}
