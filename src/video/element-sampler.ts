/**
 * Fallback for codecs WebCodecs cannot decode here: seek an HTMLVideoElement to each planned frame and
 * capture it. Needs the DOM, so it runs on the page thread (the only video code that does); the
 * captured ImageBitmaps are transferred to the worker. Also the baseline of the video benchmark.
 */
import { cancelledError, VideoError } from './errors';

export interface ElementSampleHooks {
  signal?: AbortSignal;
  onProgress?: (fraction: number) => void;
}

/** Loads `src` into a muted, detached <video>; rejects with a clear error when the element cannot play it. */
export async function loadVideoElement(
  src: Blob | string,
  signal?: AbortSignal,
): Promise<{
  video: HTMLVideoElement;
  release: () => void;
}> {
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.preload = 'auto';
  let objectUrl: string | null = null;
  if (typeof src === 'string') {
    video.crossOrigin = 'anonymous'; // else the canvas is tainted and frames cannot be read
    video.src = src;
  } else {
    objectUrl = URL.createObjectURL(src);
    video.src = objectUrl;
  }
  const release = () => {
    video.removeAttribute('src');
    video.load();
    if (objectUrl) URL.revokeObjectURL(objectUrl);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const cleanup = () => {
        video.removeEventListener('loadeddata', onLoaded);
        video.removeEventListener('error', onError);
        signal?.removeEventListener('abort', onAbort);
      };
      const onLoaded = () => {
        cleanup();
        resolve();
      };
      const onError = () => {
        cleanup();
        const code = video.error?.code;
        const detail = video.error?.message || (code ? `MediaError code ${code}` : 'unknown error');
        reject(
          new VideoError(
            'unsupported-codec',
            `The browser's <video> element cannot play it either (${detail}).`,
          ),
        );
      };
      const onAbort = () => {
        cleanup();
        reject(cancelledError());
      };
      video.addEventListener('loadeddata', onLoaded);
      video.addEventListener('error', onError);
      signal?.addEventListener('abort', onAbort);
    });
    if (!video.videoWidth || !video.videoHeight) {
      throw new VideoError(
        'unsupported-codec',
        "The browser's <video> element cannot play it either: it opens the file but decodes no picture.",
      );
    }
    return { video, release };
  } catch (err) {
    release();
    throw err;
  }
}

/**
 * Sets currentTime and waits for 'seeked' and then for the new frame to be presented: 'seeked' alone
 * can fire while the element still shows the previous frame (seen here: a capture after 'seeked'
 * returned the frame of the seek before). requestVideoFrameCallback fires once the new frame is up; a
 * seek that lands on the frame already shown presents nothing new, hence the short timeout.
 *
 * @returns the presented frame's media time in seconds, or null when no new frame was presented.
 */
export async function seekTo(
  video: HTMLVideoElement,
  seconds: number,
  signal?: AbortSignal,
): Promise<number | null> {
  let frameId = 0;
  let mediaTime: number | null = null;
  const presented = new Promise<void>((resolve) => {
    if (typeof video.requestVideoFrameCallback !== 'function') return resolve();
    frameId = video.requestVideoFrameCallback((_now, meta) => {
      frameId = 0;
      mediaTime = meta.mediaTime;
      resolve();
    });
  });
  await new Promise<void>((resolve, reject) => {
    const cleanup = () => {
      video.removeEventListener('seeked', onSeeked);
      video.removeEventListener('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const onSeeked = () => {
      cleanup();
      resolve();
    };
    const onError = () => {
      cleanup();
      reject(
        new VideoError('corrupt', `The <video> element failed while seeking to ${seconds.toFixed(3)} s.`),
      );
    };
    const onAbort = () => {
      cleanup();
      reject(cancelledError());
    };
    video.addEventListener('seeked', onSeeked);
    video.addEventListener('error', onError);
    signal?.addEventListener('abort', onAbort);
    video.currentTime = seconds;
  });
  let timer = 0;
  await Promise.race([presented, new Promise<void>((r) => (timer = window.setTimeout(r, FRAME_WAIT_MS)))]);
  window.clearTimeout(timer);
  if (frameId) video.cancelVideoFrameCallback(frameId);
  return mediaTime;
}

/** How long to wait after 'seeked' for a new frame to be presented. */
const FRAME_WAIT_MS = 300;

export interface ElementPlan {
  /** Per slot: mid-frame seek time on the demuxer's timeline, µs. */
  seekTimesUs: readonly number[];
  /** Timestamp of the video's last frame on the demuxer's timeline, µs. */
  lastFrameUs: number;
}

/**
 * Captures one upright ImageBitmap per slot (the element applies rotation metadata; its size is
 * videoWidth × videoHeight); repeated seek times are captured once.
 *
 * The element's timeline can be offset from the demuxer's (seen: a fragmented MP4 whose frames start at
 * 0 in mediabunny and at 83 ms in Chromium's player and ffmpeg, i.e. two frames). So it first seeks
 * past the end, where the element must show the last frame, reads that frame's media time, and shifts
 * every seek by the difference. Uniform sampling always includes the last frame, so this costs nothing.
 */
export async function sampleWithElement(
  src: Blob | string,
  plan: ElementPlan,
  hooks: ElementSampleHooks = {},
): Promise<ImageBitmap[]> {
  const { video, release } = await loadVideoElement(src, hooks.signal);
  const byTime = new Map<number, ImageBitmap>();
  try {
    const unique = [...new Set(plan.seekTimesUs)].sort((a, b) => a - b);
    const steps = unique.length + 1;
    const lastMediaTime = await seekTo(video, video.duration, hooks.signal);
    const offsetUs = lastMediaTime === null ? 0 : Math.round(lastMediaTime * 1e6) - plan.lastFrameUs;
    const lastShot = await createImageBitmap(video);
    hooks.onProgress?.(1 / steps);
    let lastUsed = false;
    for (let i = 0; i < unique.length; i++) {
      if (hooks.signal?.aborted) throw cancelledError();
      if (unique[i] > plan.lastFrameUs && !lastUsed) {
        byTime.set(unique[i], lastShot);
        lastUsed = true;
      } else {
        await seekTo(video, Math.max(0, unique[i] + offsetUs) / 1e6, hooks.signal);
        byTime.set(unique[i], await createImageBitmap(video));
      }
      hooks.onProgress?.((i + 2) / steps);
    }
    if (!lastUsed) lastShot.close();
    // One bitmap per slot: transferring the same bitmap twice is not allowed, so repeats are copies.
    const seen = new Set<number>();
    return await Promise.all(
      plan.seekTimesUs.map(async (t) => {
        const bmp = byTime.get(t)!;
        if (!seen.has(t)) {
          seen.add(t);
          return bmp;
        }
        return createImageBitmap(bmp);
      }),
    );
  } catch (err) {
    for (const b of byTime.values()) b.close();
    throw err;
  } finally {
    release();
  }
}
