/**
 * Loading a video, page side: the worker demuxes and decodes it; when WebCodecs cannot decode the
 * codec, the worker answers 'needs-element' and this file captures the planned frames with a <video>
 * element (it needs the DOM, so it runs on the page thread) and hands them to the worker. Callers get
 * the loaded video either way.
 */
import { transfer } from 'comlink';
import { sampleWithElement } from '../video/element-sampler';
import {
  type Engine,
  EngineError,
  type LoadedVideo,
  toEngineError,
  type VideoLoadResult,
  type VideoProgress,
  type VideoSettings,
  type VideoSource,
} from './protocol';

export interface LoadVideoHooks {
  onProgress?: (p: VideoProgress) => void;
  /** The <video> fallback starts on this page; `reason` says why WebCodecs could not decode it. */
  onFallback?: (reason: string) => void;
  /** Aborting cancels the load, in the worker and on this page (it rejects with kind 'cancelled'). */
  signal?: AbortSignal;
}

let jobs = 0;

/**
 * Loads `source` into the engine and resolves with the loaded video (its thumbnails are the
 * caller's to close). Rejects with an EngineError (kinds as `Engine.videoLoad`).
 */
export async function loadVideo(
  engine: Engine,
  source: VideoSource,
  settings: VideoSettings,
  hooks: LoadVideoHooks = {},
): Promise<LoadedVideo> {
  const { signal, onProgress } = hooks;
  const jobId = `video-${++jobs}-${Date.now()}`;
  const cancel = () => void engine.videoCancel(jobId).catch(() => {});
  signal?.addEventListener('abort', cancel, { once: true });
  try {
    const result = await engine.videoLoad(jobId, source, settings, onProgress);
    if (result.status === 'loaded') return result.video;
    hooks.onFallback?.(result.reason);
    const bitmaps = await sampleWithElement(source.kind === 'file' ? source.file : source.url, result.plan, {
      signal,
      onProgress: (fraction) => onProgress?.({ phase: 'element', fraction }),
    }).catch((e: unknown) => {
      throw noDecoder(result, e);
    });
    return await engine.videoSupplyFrames(jobId, transfer(bitmaps, bitmaps));
  } catch (e) {
    throw toEngineError(e);
  } finally {
    signal?.removeEventListener('abort', cancel);
  }
}

/** The <video> element cannot play it either: say both reasons and what the user can do. */
function noDecoder(result: Extract<VideoLoadResult, { status: 'needs-element' }>, e: unknown): EngineError {
  const err = toEngineError(e);
  if (err.kind !== 'unsupported-codec') return err;
  const codec = result.facts.codecString ?? result.facts.codec;
  return new EngineError(
    'unsupported-codec',
    `No decoder for ${codec} here: ${result.reason}, and ${err.message.replace(/^The browser's/, "the browser's")}`,
    'Convert the video to H.264, VP9 or AV1 (for example: ffmpeg -i in.mp4 -c:v libx264 -crf 18 out.mp4) and drop it again.',
  );
}
