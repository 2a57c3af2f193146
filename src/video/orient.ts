/**
 * Makes decoded frames upright: WebCodecs outputs frames as coded, and rotation metadata (phones record
 * portrait video as rotated landscape) must be applied before the model sees them.
 */

export type Rotation = 0 | 90 | 180 | 270;

/** Size after rotating a w×h frame clockwise by `rotation`. */
export function rotatedSize(w: number, h: number, rotation: Rotation): [number, number] {
  return rotation === 90 || rotation === 270 ? [h, w] : [w, h];
}

/**
 * Returns an upright copy of `frame` at its display size (closing `frame`), or `frame` itself when no
 * rotation is needed. The copy is drawn through a 2D canvas (RGBA).
 */
export function uprightFrame(frame: VideoFrame, rotation: Rotation): VideoFrame {
  if (rotation === 0) return frame;
  const w = frame.displayWidth;
  const h = frame.displayHeight;
  const [ow, oh] = rotatedSize(w, h, rotation);
  const canvas = new OffscreenCanvas(ow, oh);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('2D canvas unavailable');
  ctx.translate(ow / 2, oh / 2);
  ctx.rotate((rotation * Math.PI) / 180);
  ctx.drawImage(frame, -w / 2, -h / 2, w, h);
  const out = new VideoFrame(canvas, { timestamp: frame.timestamp, duration: frame.duration ?? undefined });
  frame.close();
  return out;
}
