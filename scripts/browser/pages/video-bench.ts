/**
 * Page side of `npm run bench:video`: time to N uniformly sampled frames, our pipeline (mediabunny +
 * WebCodecs, each GOP decoded once, GOPs split over D decoders) against seeking an HTMLVideoElement and
 * drawing each frame to a canvas (what transformers.js's load_video does), on the same file in the same
 * page. Both start from a File and end with every sampled frame in hand.
 */
import { sampleVideo } from '../../../src/video/sample-video';
import { linspaceIndices } from '../../../src/video/sampling';

export interface RunTiming {
  ms: number;
  /** Peak usedJSHeapSize above the value at the start (bytes; Chromium quantises it). */
  heapPeakBytes: number;
  frames: number;
  /** Ours: packets decoded; baseline: seeks made. */
  work: number;
  /** Ours: packets from key frames to targets (before skipping non-reference ones). */
  planned?: number;
  peakOpenFrames?: number;
}

function heap(): number {
  return (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0;
}

async function withHeapPeak<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = heap();
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, heap());
  }, 5);
  try {
    const r = await fn();
    return [r, Math.max(peak, heap()) - start];
  } finally {
    clearInterval(timer);
  }
}

/** Ours: open, count from the sample table, decode the needed GOPs once; frames are closed after. */
export async function runOurs(
  file: Blob,
  n: number,
  decoders: number,
  skipDisposable = true,
): Promise<RunTiming> {
  const t0 = performance.now();
  const [r, heapPeakBytes] = await withHeapPeak(() =>
    sampleVideo(file, { method: { kind: 'uniform', n }, decoders, skipDisposable }),
  );
  const ms = performance.now() - t0;
  for (const f of r.frames) f.frame.close();
  return {
    ms,
    heapPeakBytes,
    frames: r.frames.length,
    work: r.stats.packetsDecoded,
    planned: r.stats.packetsPlanned,
    peakOpenFrames: r.stats.peakOpenFrames,
  };
}

/**
 * The element baseline, as transformers.js does it: a <video> on an object URL, then for each sample
 * time set currentTime, await 'seeked', drawImage to a canvas of the video's size and getImageData.
 * It seeks to the same frames as ours (mid-frame times from the same frame table, passed in), so both
 * sample identical frames. With `readPixels` false it stops at drawImage (no CPU readback).
 */
export async function runElement(file: Blob, seekTimesUs: number[], readPixels: boolean): Promise<RunTiming> {
  const t0 = performance.now();
  const [count, heapPeakBytes] = await withHeapPeak(async () => {
    const url = URL.createObjectURL(file);
    const video = document.createElement('video');
    video.muted = true;
    video.preload = 'auto';
    video.src = url;
    try {
      await new Promise<void>((resolve, reject) => {
        video.onloadeddata = () => resolve();
        video.onerror = () => reject(new Error('video element cannot play the file'));
      });
      const canvas = document.createElement('canvas');
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      const ctx = canvas.getContext('2d', { willReadFrequently: readPixels })!;
      let frames = 0;
      for (const t of seekTimesUs) {
        video.currentTime = t / 1e6;
        await new Promise<void>((resolve) => {
          video.onseeked = () => resolve();
        });
        ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
        if (readPixels) ctx.getImageData(0, 0, canvas.width, canvas.height);
        frames++;
      }
      return frames;
    } finally {
      video.removeAttribute('src');
      video.load();
      URL.revokeObjectURL(url);
    }
  });
  return { ms: performance.now() - t0, heapPeakBytes, frames: count, work: count };
}

/** The seek times ours samples (mid-frame, from the container's frame table), for the baseline. */
export async function seekTimesFor(
  file: Blob,
  n: number,
): Promise<{ seekTimesUs: number[]; frameCount: number; gops: number }> {
  const { planSample } = await import('../../../src/video/sample-video');
  const { video, plan } = await planSample(file, { method: { kind: 'uniform', n } });
  video.dispose();
  if (plan.indices.join() !== linspaceIndices(plan.facts.frameCount, n).join())
    throw new Error('plan mismatch');
  return { seekTimesUs: plan.seekTimesUs, frameCount: plan.facts.frameCount, gops: plan.facts.keyFrameCount };
}
