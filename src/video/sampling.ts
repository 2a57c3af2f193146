/**
 * Which frames to sample, by frame index in presentation order. Pure math: no decoding here.
 *
 * The model was trained on `np.linspace(0, total - 1, n)` truncated to integers (first and last frame
 * included; short clips repeat indices). `linspaceIndices` reproduces numpy's float64 arithmetic
 * exactly so that truncation lands on the same integers.
 */

/** How to choose frames: N uniform frames (the model's way), or one frame every k seconds. */
export type SampleMethod =
  | { kind: 'uniform'; n: number }
  | { kind: 'every-seconds'; seconds: number; maxFrames: number };

export const DEFAULT_METHOD: SampleMethod = { kind: 'uniform', n: 16 };
export const FRAME_COUNT_CHOICES = [8, 16, 32] as const;

/** numpy.linspace(0, total - 1, n) truncated toward zero, computed as numpy does it. */
export function linspaceIndices(total: number, n: number): number[] {
  if (!Number.isInteger(total) || total < 1)
    throw new RangeError(`total must be a positive integer, got ${total}`);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`n must be a positive integer, got ${n}`);
  const stop = total - 1;
  if (n === 1) return [0];
  // numpy: step = delta / div; y = arange(n) * step + start; y[-1] = stop (endpoint=True).
  // When step == 0 it computes (i / div) * delta instead, which is 0 here as well.
  const step = stop / (n - 1);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = Math.trunc(i * step);
  out[n - 1] = stop;
  return out;
}

/**
 * One frame every `seconds`, starting at the first frame: for each time t0 + j·seconds up to the last
 * frame, the frame on screen at that time (the last one whose timestamp ≤ t). Consecutive duplicates
 * (k shorter than a frame) are dropped. Above `maxFrames` samples, keeps a uniform subset of them
 * (linspace over the samples) so memory stays bounded on long videos.
 *
 * @param timestampsUs frame timestamps in presentation order, ascending.
 */
export function everySecondsIndices(
  timestampsUs: ArrayLike<number>,
  seconds: number,
  maxFrames: number,
): number[] {
  const total = timestampsUs.length;
  if (total < 1) throw new RangeError('no frames');
  if (!(seconds > 0)) throw new RangeError(`seconds must be > 0, got ${seconds}`);
  if (!Number.isInteger(maxFrames) || maxFrames < 1)
    throw new RangeError(`maxFrames must be ≥ 1, got ${maxFrames}`);
  const t0 = timestampsUs[0];
  const last = timestampsUs[total - 1];
  const stepUs = seconds * 1e6;
  const picked: number[] = [];
  let frame = 0;
  for (let j = 0; ; j++) {
    const t = t0 + j * stepUs;
    if (t > last) break;
    while (frame + 1 < total && timestampsUs[frame + 1] <= t) frame++;
    if (picked[picked.length - 1] !== frame) picked.push(frame);
  }
  if (picked.length <= maxFrames) return picked;
  return linspaceIndices(picked.length, maxFrames).map((i) => picked[i]);
}

/** The frame indices a method selects (one per output slot, in slot order). */
export function selectIndices(timestampsUs: ArrayLike<number>, method: SampleMethod): number[] {
  if (method.kind === 'uniform') return linspaceIndices(timestampsUs.length, method.n);
  return everySecondsIndices(timestampsUs, method.seconds, method.maxFrames);
}

export function describeMethod(method: SampleMethod): string {
  return method.kind === 'uniform'
    ? `${method.n} frames, uniform`
    : `1 frame every ${method.seconds} s (at most ${method.maxFrames})`;
}
