/**
 * Small RGBA thumbnails of sampled frames for the filmstrip. Downscaled on the CPU from the frame's
 * own YUV planes (box average, then YUV → RGB on the few thousand output pixels): drawing a 1080p
 * frame through a 2D canvas takes ~0.3 s on a software-rendered canvas, this a few ms.
 */

/** Thumbnail size for a w×h picture, `height` pixels tall (never upscaled). */
export function thumbnailSize(w: number, h: number, height: number): [number, number] {
  const th = Math.max(1, Math.min(h, Math.round(height)));
  return [Math.max(1, Math.round((w * th) / h)), th];
}

/** Box-averages a plane region (src rows of `stride`) down to ow×oh. */
export function boxDownscale(
  src: Uint8Array,
  stride: number,
  w: number,
  h: number,
  ow: number,
  oh: number,
): Float32Array {
  const out = new Float32Array(ow * oh);
  for (let oy = 0; oy < oh; oy++) {
    const y0 = Math.floor((oy * h) / oh);
    const y1 = Math.max(y0 + 1, Math.floor(((oy + 1) * h) / oh));
    for (let ox = 0; ox < ow; ox++) {
      const x0 = Math.floor((ox * w) / ow);
      const x1 = Math.max(x0 + 1, Math.floor(((ox + 1) * w) / ow));
      let sum = 0;
      for (let y = y0; y < y1; y++) {
        const row = y * stride;
        for (let x = x0; x < x1; x++) sum += src[row + x];
      }
      out[oy * ow + ox] = sum / ((y1 - y0) * (x1 - x0));
    }
  }
  return out;
}

/** Limited-range YUV → RGBA with the BT.601 or BT.709 matrix. */
export function yuvToRgba(
  y: Float32Array,
  u: Float32Array,
  v: Float32Array,
  bt709: boolean,
  full: boolean,
): Uint8ClampedArray {
  const [kr, kb] = bt709 ? [0.2126, 0.0722] : [0.299, 0.114];
  const kg = 1 - kr - kb;
  const out = new Uint8ClampedArray(y.length * 4);
  for (let i = 0; i < y.length; i++) {
    const yy = full ? y[i] : ((y[i] - 16) * 255) / 219;
    const cb = full ? u[i] - 128 : ((u[i] - 128) * 255) / 224;
    const cr = full ? v[i] - 128 : ((v[i] - 128) * 255) / 224;
    out[i * 4] = yy + 2 * (1 - kr) * cr;
    out[i * 4 + 1] = yy - ((2 * kb * (1 - kb)) / kg) * cb - ((2 * kr * (1 - kr)) / kg) * cr;
    out[i * 4 + 2] = yy + 2 * (1 - kb) * cb;
    out[i * 4 + 3] = 255;
  }
  return out;
}

/** An RGBA thumbnail `height` pixels tall (aspect from the frame's display size). */
export async function makeThumbnail(frame: VideoFrame, height: number): Promise<ImageBitmap> {
  const [tw, th] = thumbnailSize(frame.displayWidth, frame.displayHeight, height);
  const format = frame.format;
  if (format === 'I420' || format === 'I420A' || format === 'NV12') {
    const w = frame.visibleRect!.width;
    const h = frame.visibleRect!.height;
    const buf = new Uint8Array(frame.allocationSize());
    const layout = await frame.copyTo(buf);
    const cw = Math.ceil(w / 2);
    const ch = Math.ceil(h / 2);
    const plane = (i: number, pw: number, ph: number) =>
      boxDownscale(buf.subarray(layout[i].offset), layout[i].stride, pw, ph, tw, th);
    const yp = plane(0, w, h);
    let up: Float32Array;
    let vp: Float32Array;
    if (format === 'NV12') {
      // De-interleave UV first (thumbnails only: small cost).
      const uv = buf.subarray(layout[1].offset);
      const u = new Uint8Array(cw * ch);
      const v = new Uint8Array(cw * ch);
      for (let yy = 0; yy < ch; yy++) {
        for (let xx = 0; xx < cw; xx++) {
          u[yy * cw + xx] = uv[yy * layout[1].stride + 2 * xx];
          v[yy * cw + xx] = uv[yy * layout[1].stride + 2 * xx + 1];
        }
      }
      up = boxDownscale(u, cw, cw, ch, tw, th);
      vp = boxDownscale(v, cw, cw, ch, tw, th);
    } else {
      up = plane(1, cw, ch);
      vp = plane(2, cw, ch);
    }
    const cs = frame.colorSpace;
    const rgba = yuvToRgba(yp, up, vp, cs.matrix === 'bt709', cs.fullRange === true);
    return createImageBitmap(new ImageData(rgba as Uint8ClampedArray<ArrayBuffer>, tw, th));
  }
  return createImageBitmap(frame, { resizeWidth: tw, resizeHeight: th, resizeQuality: 'medium' });
}
