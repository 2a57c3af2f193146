/**
 * The engine's video commands: load a video (file or URL) into the engine worker, which demuxes,
 * counts frames, samples and decodes them (src/video) and keeps the sampled frames for the model.
 * When WebCodecs cannot decode the codec, `videoLoad` answers 'needs-element' and the page captures
 * the planned frames with a <video> element and hands them over with `videoSupplyFrames`: the engine
 * client's `loadVideo` (src/engine-client/video.ts) does that round trip.
 */
import type { VideoFacts } from '../../video/demux';
import type { ElementPlan } from '../../video/element-sampler';
import type { DecodePath } from '../../video/sample-video';
import type { SampleMethod } from '../../video/sampling';

export type { VideoFacts } from '../../video/demux';
export type { ElementPlan } from '../../video/element-sampler';
export type { DecodePath } from '../../video/sample-video';
export type { SampleMethod } from '../../video/sampling';

/** A dropped or picked file (streamed from disk, never read whole), or an http(s) URL. */
export type VideoSource = { kind: 'file'; file: Blob } | { kind: 'url'; url: string };

export interface VideoSettings {
  method: SampleMethod;
  /** Parallel VideoDecoders (default 2). */
  decoders?: number;
  /** Use the <video> fallback even where WebCodecs could decode (tests, benchmarks). */
  forceElement?: boolean;
  /** Filmstrip thumbnail height in pixels (default 96). */
  thumbHeight?: number;
  /**
   * Run the loaded model's vision tower on each chunk of frames as soon as it is decoded (default
   * true); false: only when a question is asked (the sequential baseline, for measurements).
   */
  visionAhead?: boolean;
}

/**
 * The vision tower's progress on a video, ahead of any question: streamed while it decodes, or run
 * after a model load. One event per chunk of frames done, plus start and end states.
 */
export interface VisionProgress {
  /** The LoadedVideo.key it belongs to (known before the load resolves). */
  videoKey: number;
  framesDone: number;
  frames: number;
  state: 'running' | 'done' | 'cancelled' | 'error';
  /** Work so far: preprocessing (summed per frame) and the tower on the GPU, ms. */
  preprocessMs: number;
  visionMs: number;
  message?: string;
}

export interface VideoProgress {
  phase: 'open' | 'decode' | 'element' | 'thumbnails';
  /** The key the video will have once loaded (to match VisionProgress events to this load). */
  videoKey?: number;
  /** 0..1 within the phase. */
  fraction: number;
}

/** A video loaded into the engine: what the UI shows. Thumbnails are transferred (one per slot). */
export interface LoadedVideo {
  /** Changes with every load: the model keys its visual-token cache on it. */
  key: number;
  facts: VideoFacts;
  method: SampleMethod;
  /** Per slot: frame index (presentation order) and timestamp in µs. */
  indices: number[];
  timestampsUs: number[];
  path: DecodePath;
  /** Why that path (e.g. "this browser's VideoDecoder cannot decode hev1.1.6.L93.B0"). */
  reason: string;
  /** Open + count + decode (or element capture), ms. */
  timeMs: number;
  decoders: number;
  packetsDecoded: number;
  peakOpenFrames: number;
  bytesRead: number;
  thumbnails: ImageBitmap[];
}

export type VideoLoadResult =
  | { status: 'loaded'; video: LoadedVideo }
  /** WebCodecs cannot decode it: capture `plan` with a <video> element, then call videoSupplyFrames. */
  | { status: 'needs-element'; facts: VideoFacts; reason: string; plan: ElementPlan };

export interface VideoCommands {
  /**
   * Loads a video under `jobId` (any string the caller picks; used to cancel). Replaces the current
   * video once the new one has loaded. Rejects with kinds not-video, no-video-track, no-frames, corrupt,
   * unsupported-codec, fetch-failed, cancelled.
   */
  videoLoad(
    jobId: string,
    source: VideoSource,
    settings: VideoSettings,
    onProgress?: (p: VideoProgress) => void,
  ): Promise<VideoLoadResult>;
  /** Completes a 'needs-element' load with one captured frame per slot (ImageBitmaps, transferred). */
  videoSupplyFrames(jobId: string, frames: ImageBitmap[]): Promise<LoadedVideo>;
  /** Cancels a load in flight (a no-op when it has finished). */
  videoCancel(jobId: string): Promise<void>;
  /** Drops the current video and closes its frames. */
  videoClear(): Promise<void>;
  /**
   * The current video's frames after the model's preprocessing (GPU resize to size×size, bicubic), as
   * RGB bytes per frame (normalisation undone): for `npm run frames` and tests.
   */
  videoPreprocessed(size: number): Promise<{ rgb: Uint8Array[]; size: number }>;
  /** Calls `onProgress` for every vision job's progress from now on (one watcher per page is enough). */
  watchVision(onProgress: (p: VisionProgress) => void): Promise<void>;
}
