/**
 * The video's part of the app store: the sampling settings, the load in flight (progress, cancel), the
 * loaded video (facts, sampled indices and timestamps, filmstrip thumbnails), and the last error.
 * The engine client loads it (in the worker, or with the <video> element where WebCodecs cannot decode
 * the codec). Joined into AppState by src/ui/store.ts.
 */
import type {
  EngineClient,
  EngineErrorInfo,
  LoadedVideo,
  SampleMethod,
  VideoProgress,
  VideoSource,
  VisionProgress,
} from '../../engine-client';
import { errorInfo } from '../../engine-client';

export interface VideoSettingsState {
  method: SampleMethod;
  /** Parallel decoders in the worker. */
  decoders: number;
  /** Use the <video> element even where WebCodecs could decode (to compare the two paths). */
  forceElement: boolean;
}

export const DEFAULT_VIDEO_SETTINGS: VideoSettingsState = {
  method: { kind: 'uniform', n: 16 },
  decoders: 2,
  forceElement: false,
};

export interface VideoLoadState {
  /** File name or URL. */
  label: string;
  progress: VideoProgress | null;
  /** Set while the <video> fallback runs on this page: why WebCodecs could not be used. */
  fallbackReason: string | null;
  /** The engine's key for this load (from its first progress event): matches VisionProgress. */
  videoKey: number | null;
}

export interface VideoSlice {
  video: LoadedVideo | null;
  videoLoad: VideoLoadState | null;
  videoError: EngineErrorInfo | null;
  videoSettings: VideoSettingsState;
  /** The vision tower's progress per video key (the loading and the loaded video; older keys pruned). */
  vision: Record<number, VisionProgress>;
  /** Records a vision progress event from the engine (the store subscribes once the GPU is ready). */
  onVisionProgress(p: VisionProgress): void;
  /** Loads a video into the engine; the current one stays until the new one is ready. */
  loadVideo(source: VideoSource, label?: string): Promise<void>;
  cancelVideo(): Promise<void>;
  setVideoSettings(patch: Partial<VideoSettingsState>): void;
  dismissVideoError(): void;
}

type SetState<T> = (partial: Partial<T> | ((s: T) => Partial<T>)) => void;

/** Overall 0..1 across phases (open is quick; decoding dominates; thumbnails close it). */
export function overallProgress(p: VideoProgress | null): number {
  if (!p) return 0;
  const span: Record<VideoProgress['phase'], [number, number]> = {
    open: [0, 0.05],
    decode: [0.05, 0.95],
    element: [0.05, 0.95],
    thumbnails: [0.95, 1],
  };
  const [a, b] = span[p.phase];
  return a + (b - a) * Math.min(1, Math.max(0, p.fraction));
}

/** The `n` highest keys of a record keyed by increasing numbers. */
export function keepLatest<T>(byKey: Record<number, T>, n: number): Record<number, T> {
  const keys = Object.keys(byKey)
    .map(Number)
    .sort((a, b) => b - a)
    .slice(0, n);
  return Object.fromEntries(keys.map((k) => [k, byKey[k]]));
}

/** "vision 8/16 frames" while it runs; null when nothing is known for this video. */
export function visionLabel(p: VisionProgress | undefined): string | null {
  if (!p) return null;
  if (p.state === 'done') return `vision ready (${p.frames} frames)`;
  if (p.state === 'error') return `vision failed: ${p.message ?? 'unknown error'}`;
  if (p.state === 'cancelled') return null;
  return `vision ${p.framesDone}/${p.frames} frames`;
}

export function sourceLabel(source: VideoSource): string {
  if (source.kind === 'url') return source.url;
  const f = source.file as Blob & { name?: string };
  return f.name ?? 'video';
}

export function createVideoSlice(
  getEngine: () => EngineClient,
  set: SetState<VideoSlice>,
  get: () => VideoSlice,
): VideoSlice {
  let seq = 0;
  let activeJob: AbortController | null = null;

  return {
    video: null,
    videoLoad: null,
    videoError: null,
    videoSettings: DEFAULT_VIDEO_SETTINGS,
    vision: {},

    onVisionProgress(p) {
      set((s) => ({ vision: keepLatest({ ...s.vision, [p.videoKey]: p }, 4) }));
    },

    async loadVideo(source, label) {
      const mine = ++seq;
      if (activeJob) void get().cancelVideo();
      const job = new AbortController();
      activeJob = job;
      const what = label ?? sourceLabel(source);
      const current = () => mine === seq;
      set({
        videoLoad: { label: what, progress: null, fallbackReason: null, videoKey: null },
        videoError: null,
      });
      const onProgress = (progress: VideoProgress) => {
        if (current())
          set((s) => ({
            videoLoad: s.videoLoad && {
              ...s.videoLoad,
              progress,
              videoKey: progress.videoKey ?? s.videoLoad.videoKey,
            },
          }));
      };
      // WebCodecs cannot decode this codec here: the client captures the frames with a <video> element.
      const onFallback = (reason: string) => {
        if (current()) set((s) => ({ videoLoad: s.videoLoad && { ...s.videoLoad, fallbackReason: reason } }));
      };
      try {
        const { method, decoders, forceElement } = get().videoSettings;
        const loaded = await getEngine().loadVideo(
          source,
          { method, decoders, forceElement },
          { signal: job.signal, onProgress, onFallback },
        );
        if (current()) {
          for (const t of get().video?.thumbnails ?? []) t.close();
          set({ video: loaded, videoLoad: null });
        } else {
          for (const t of loaded.thumbnails) t.close();
        }
      } catch (e) {
        const err = errorInfo(e);
        if (current()) set({ videoLoad: null, videoError: err });
      } finally {
        if (activeJob === job) activeJob = null;
      }
    },

    async cancelVideo() {
      activeJob?.abort();
    },

    setVideoSettings(patch) {
      set((s) => ({ videoSettings: { ...s.videoSettings, ...patch } }));
    },

    dismissVideoError() {
      set({ videoError: null });
    },
  };
}
