/**
 * Makes decoded frames upright: WebCodecs outputs frames as coded, and rotation metadata (phones record
 * portrait video as rotated landscape) must be applied before the model sees them.
 *
 * The planes are rotated on the CPU in their own pixel format (no colour conversion, no canvas): a
 * canvas draw costs ~0.35 s per 1080p frame on a software-rendered 2D canvas, this ~10 ms. VideoFrame's
 * own `rotation` init field is not used because createImageBitmap and WebGPU copies ignore it.
 */

export type Rotation = 0 | 90 | 180 | 270;

/** Size after rotating a w×h frame clockwise by `rotation`. */
export function rotatedSize(w: number, h: number, rotation: Rotation): [number, number] {
  return rotation === 90 || rotation === 270 ? [h, w] : [w, h];
}

interface PlaneShape {
  w: number;
  h: number;
  /** Bytes per element (a sample, or an interleaved UV pair, or an RGBA pixel). */
  bytes: 1 | 2 | 4;
}

/** Plane shapes of the formats whose subsampling survives a quarter turn; null for others (4:2:2). */
export function planeShapes(format: VideoPixelFormat, w: number, h: number): PlaneShape[] | null {
  const cw = Math.ceil(w / 2);
  const ch = Math.ceil(h / 2);
  const hi = format.includes('P1') ? 2 : 1; // I420P10, I420P12, I444P10 …: 16-bit samples
  const s = hi as 1 | 2;
  if (format.startsWith('I420')) {
    const planes: PlaneShape[] = [
      { w, h, bytes: s },
      { w: cw, h: ch, bytes: s },
      { w: cw, h: ch, bytes: s },
    ];
    if (format.startsWith('I420A')) planes.push({ w, h, bytes: s });
    return planes;
  }
  if (format.startsWith('I444')) {
    const planes: PlaneShape[] = [
      { w, h, bytes: s },
      { w, h, bytes: s },
      { w, h, bytes: s },
    ];
    if (format.startsWith('I444A')) planes.push({ w, h, bytes: s });
    return planes;
  }
  if (format === 'NV12')
    return [
      { w, h, bytes: 1 },
      { w: cw, h: ch, bytes: 2 },
    ];
  if (format === 'RGBA' || format === 'RGBX' || format === 'BGRA' || format === 'BGRX')
    return [{ w, h, bytes: 4 }];
  return null;
}

type Elems = Uint8Array | Uint16Array | Uint32Array;

function view(buf: ArrayBuffer, offset: number, count: number, bytes: 1 | 2 | 4): Elems {
  if (bytes === 1) return new Uint8Array(buf, offset, count);
  if (bytes === 2) return new Uint16Array(buf, offset, count);
  return new Uint32Array(buf, offset, count);
}

/** Rotates one plane (src rows of `stride` elements) clockwise into a packed destination. */
export function rotatePlane(
  src: Elems,
  stride: number,
  w: number,
  h: number,
  dst: Elems,
  rotation: Rotation,
): void {
  if (rotation === 90) {
    // dst is h wide: dst(x', y') = src(y', h - 1 - x')
    for (let y = 0; y < h; y++) {
      const x0 = h - 1 - y;
      for (let x = 0; x < w; x++) dst[x * h + x0] = src[y * stride + x];
    }
  } else if (rotation === 270) {
    // dst(x', y') = src(w - 1 - y', x')
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) dst[(w - 1 - x) * h + y] = src[y * stride + x];
    }
  } else if (rotation === 180) {
    for (let y = 0; y < h; y++) {
      const row = (h - 1 - y) * w;
      for (let x = 0; x < w; x++) dst[row + (w - 1 - x)] = src[y * stride + x];
    }
  } else {
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) dst[y * w + x] = src[y * stride + x];
  }
}

/**
 * Returns an upright frame at its display size (closing `frame`), or `frame` itself when no rotation is
 * needed. Formats whose chroma subsampling does not survive a quarter turn are drawn through a canvas.
 */
export async function uprightFrame(frame: VideoFrame, rotation: Rotation): Promise<VideoFrame> {
  if (rotation === 0) return frame;
  const format = frame.format;
  const w = frame.visibleRect?.width ?? frame.codedWidth;
  const h = frame.visibleRect?.height ?? frame.codedHeight;
  const shapes = format ? planeShapes(format, w, h) : null;
  if (!format || !shapes) return uprightViaCanvas(frame, rotation);

  const src = new ArrayBuffer(frame.allocationSize());
  const layouts = await frame.copyTo(src);
  const [ow, oh] = rotatedSize(w, h, rotation);
  const outLayout: PlaneLayout[] = [];
  let total = 0;
  for (const p of shapes) {
    const [pw] = rotatedSize(p.w, p.h, rotation);
    outLayout.push({ offset: total, stride: pw * p.bytes });
    total += p.w * p.h * p.bytes;
  }
  const dst = new ArrayBuffer(total);
  shapes.forEach((p, i) => {
    const { offset, stride } = layouts[i];
    if (offset % p.bytes !== 0 || stride % p.bytes !== 0) throw new Error('unaligned plane');
    const srcCount = (p.h - 1) * (stride / p.bytes) + p.w;
    rotatePlane(
      view(src, offset, srcCount, p.bytes),
      stride / p.bytes,
      p.w,
      p.h,
      view(dst, outLayout[i].offset, p.w * p.h, p.bytes),
      rotation,
    );
  });
  const [dw, dh] = rotatedSize(frame.displayWidth, frame.displayHeight, rotation);
  const out = new VideoFrame(dst, {
    format,
    codedWidth: ow,
    codedHeight: oh,
    displayWidth: dw,
    displayHeight: dh,
    layout: outLayout,
    timestamp: frame.timestamp,
    duration: frame.duration ?? undefined,
    colorSpace: frame.colorSpace.toJSON(),
  });
  frame.close();
  return out;
}

function uprightViaCanvas(frame: VideoFrame, rotation: Rotation): VideoFrame {
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

/**
 * Crops a decoded frame to the container's picture size when the decoder reports a larger visible area
 * (seen: VP9 171×97 decoded with a 171×98 visible rect). No pixel copy: a new view on the same frame.
 */
export function cropToTrack(frame: VideoFrame, width: number, height: number): VideoFrame {
  const vr = frame.visibleRect;
  if (!vr || (vr.width <= width && vr.height <= height)) return frame;
  const w = Math.min(vr.width, width);
  const h = Math.min(vr.height, height);
  const out = new VideoFrame(frame, {
    visibleRect: { x: vr.x, y: vr.y, width: w, height: h },
    displayWidth: Math.round((frame.displayWidth * w) / vr.width),
    displayHeight: Math.round((frame.displayHeight * h) / vr.height),
  });
  frame.close();
  return out;
}
