/**
 * Helpers the browser tests, `npm run frames` and the benchmark import into a page: run the pipeline on
 * a URL and return plain data (timestamps, indices, pixels as base64) that survives page.evaluate.
 */
import { sampleWithElement } from '../element-sampler';
import {
  elementPlan,
  planSample,
  type SampleOptions,
  type SamplePlan,
  type SampleStats,
  sampleVideo,
} from '../sample-video';

export async function fetchBlob(url: string): Promise<Blob> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.blob();
}

/** Draws `src` scaled to size×size (canvas 'high' smoothing) and returns its RGB bytes as base64. */
export function toRgbBase64(src: CanvasImageSource, size: number): string {
  const canvas = new OffscreenCanvas(size, size);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(src, 0, 0, size, size);
  const rgba = ctx.getImageData(0, 0, size, size).data;
  const rgb = new Uint8Array(size * size * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  let s = '';
  for (let i = 0; i < rgb.length; i += 0x8000) s += String.fromCharCode(...rgb.subarray(i, i + 0x8000));
  return btoa(s);
}

export interface ProbeResult {
  plan: SamplePlan;
  stats: SampleStats | null;
  /** Per slot: display size of the frame handed out. */
  sizes: [number, number][];
  /** Per slot, RGB at size×size, base64 (empty when size is 0). */
  rgb: string[];
  timeMs: number;
}

/** Samples a video through the same path the app would take (or the one `options.path` forces). */
export async function probeBlob(blob: Blob, options: SampleOptions, size: number): Promise<ProbeResult> {
  const t0 = performance.now();
  const { video, plan } = await planSample(blob, options);
  video.dispose();
  if (plan.path === 'element') {
    const bitmaps = await sampleWithElement(blob, elementPlan(plan));
    const timeMs = performance.now() - t0;
    const out = {
      plan,
      stats: null,
      sizes: bitmaps.map((b) => [b.width, b.height] as [number, number]),
      rgb: size ? bitmaps.map((b) => toRgbBase64(b, size)) : [],
      timeMs,
    };
    for (const b of bitmaps) b.close();
    return out;
  }
  const { frames, stats } = await sampleVideo(blob, options);
  const timeMs = performance.now() - t0;
  const out = {
    plan,
    stats,
    sizes: frames.map((f) => [f.frame.displayWidth, f.frame.displayHeight] as [number, number]),
    rgb: size ? frames.map((f) => toRgbBase64(f.frame, size)) : [],
    timeMs,
  };
  for (const f of frames) f.frame.close();
  return out;
}

export async function probeUrl(url: string, options: SampleOptions, size: number): Promise<ProbeResult> {
  return probeBlob(await fetchBlob(url), options, size);
}

export interface MemoryProbe {
  result: Omit<ProbeResult, 'rgb'>;
  /** Peak of performance.memory.usedJSHeapSize while sampling (bytes; Chromium rounds it). */
  peakHeapBytes: number;
  startHeapBytes: number;
}

/** Samples with the JS heap polled every 5 ms, to show memory stays bounded on long videos. */
export async function probeMemory(blob: Blob, options: SampleOptions): Promise<MemoryProbe> {
  const heap = () =>
    (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0;
  const startHeapBytes = heap();
  let peakHeapBytes = startHeapBytes;
  const timer = setInterval(() => {
    peakHeapBytes = Math.max(peakHeapBytes, heap());
  }, 5);
  try {
    const { rgb: _rgb, ...result } = await probeBlob(blob, options, 0);
    return { result, peakHeapBytes: Math.max(peakHeapBytes, heap()), startHeapBytes };
  } finally {
    clearInterval(timer);
  }
}

/**
 * Runs the pipeline and returns the VideoError kind and message it throws (or 'ok'). With
 * `abortAtFraction`, cancels once that fraction of the decode has been read (a deterministic cancel).
 */
export async function probeError(
  blob: Blob,
  options: SampleOptions,
  abortAtFraction?: number,
): Promise<{ kind: string; message: string; hint: string; framesOpenAfter?: number }> {
  const { toVideoError } = await import('../errors');
  const controller = new AbortController();
  const onProgress = (p: { phase: string; fraction: number }) => {
    if (abortAtFraction !== undefined && p.phase === 'decode' && p.fraction >= abortAtFraction)
      controller.abort();
  };
  try {
    const { plan, video } = await planSample(blob, options, controller.signal);
    video.dispose();
    if (plan.path === 'element') {
      const bitmaps = await sampleWithElement(blob, elementPlan(plan), { signal: controller.signal });
      for (const b of bitmaps) b.close();
    } else {
      const { frames } = await sampleVideo(blob, options, { signal: controller.signal, onProgress });
      for (const f of frames) f.frame.close();
    }
    return { kind: 'ok', message: '', hint: '' };
  } catch (err) {
    const { kind, message, hint } = toVideoError(err);
    return { kind, message, hint };
  }
}
