/**
 * Fallback for codecs WebCodecs cannot decode here: seek an HTMLVideoElement to each planned frame and
 * capture it. Needs the DOM, so it runs on the page thread (the only video code that does); the
 * captured ImageBitmaps are transferred to the worker. Also the baseline of the video benchmark.
 */
import { cancelledError, VideoError } from './errors';

export interface ElementTarget {
  /** Where to seek, µs: the middle of the frame's display interval. */
  seekTimeUs: number;
}

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
        "The browser's <video> element loaded the file but shows no picture.",
      );
    }
    return { video, release };
  } catch (err) {
    release();
    throw err;
  }
}

/** Sets currentTime and waits for 'seeked' (the element then holds the frame shown at that time). */
export function seekTo(video: HTMLVideoElement, seconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
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
}

/**
 * Captures one upright ImageBitmap (the element applies rotation metadata; its size is videoWidth ×
 * videoHeight) per target. Repeated seek times are captured once and shared in the returned array.
 */
export async function sampleWithElement(
  src: Blob | string,
  targets: readonly ElementTarget[],
  hooks: ElementSampleHooks = {},
): Promise<ImageBitmap[]> {
  const { video, release } = await loadVideoElement(src, hooks.signal);
  const byTime = new Map<number, ImageBitmap>();
  try {
    const unique = [...new Set(targets.map((t) => t.seekTimeUs))].sort((a, b) => a - b);
    for (let i = 0; i < unique.length; i++) {
      if (hooks.signal?.aborted) throw cancelledError();
      await seekTo(video, unique[i] / 1e6, hooks.signal);
      byTime.set(unique[i], await createImageBitmap(video));
      hooks.onProgress?.((i + 1) / unique.length);
    }
    // One bitmap per slot: transferring the same bitmap twice is not allowed, so repeats are copies.
    const seen = new Set<number>();
    return await Promise.all(
      targets.map(async (t) => {
        const bmp = byTime.get(t.seekTimeUs)!;
        if (!seen.has(t.seekTimeUs)) {
          seen.add(t.seekTimeUs);
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
