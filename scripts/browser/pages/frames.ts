/**
 * Page side of `npm run frames` (scripts/frames.ts) and the app-path benchmark: loads a video exactly
 * as the app does (engine worker + the UI's video slice, <video> fallback included), then takes the
 * model's preprocessing of the sampled frames (GPU bicubic resize) back as RGB.
 */
import {
  createEngineClient,
  type EngineClient,
  type LoadedVideo,
  type SampleMethod,
} from '../../../src/engine-client';
import { createVideoSlice, type VideoSlice } from '../../../src/ui/video/video-slice';

export interface FramesOptions {
  method: SampleMethod;
  decoders: number;
  forceElement: boolean;
  /** Output size of the preprocessing (the model's 384). */
  size: number;
}

export interface FramesResult {
  video: Omit<LoadedVideo, 'thumbnails'>;
  /** 'gpu': src/gpu frames-to-tensor (bicubic); 'canvas': drawImage fallback when WebGPU is missing. */
  resize: 'gpu' | 'canvas';
  resizeNote: string;
  /** Per slot, size×size RGB, base64. */
  rgb: string[];
  /** Page-side wall time of the load (open → thumbnails), ms. */
  loadMs: number;
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Runs the app's video slice outside React over a real engine worker. */
async function loadLikeTheApp(
  engine: EngineClient,
  file: Blob,
  options: FramesOptions,
): Promise<LoadedVideo> {
  let state = {} as VideoSlice;
  const set = (patch: Partial<VideoSlice> | ((s: VideoSlice) => Partial<VideoSlice>)) => {
    state = { ...state, ...(typeof patch === 'function' ? patch(state) : patch) };
  };
  state = createVideoSlice(
    () => engine,
    set,
    () => state,
  );
  state.setVideoSettings({
    method: options.method,
    decoders: options.decoders,
    forceElement: options.forceElement,
  });
  await state.loadVideo({ kind: 'file', file });
  if (state.videoError) throw new Error(`${state.videoError.kind}: ${state.videoError.message}`);
  return state.video!;
}

export async function runFrames(file: Blob, options: FramesOptions): Promise<FramesResult> {
  const engine = createEngineClient();
  try {
    let gpuError: string | null = null;
    await engine.init().catch((e: Error) => {
      gpuError = e.message;
    });
    const t0 = performance.now();
    const loaded = await loadLikeTheApp(engine, file, options);
    const loadMs = performance.now() - t0;
    const { thumbnails, ...video } = loaded;
    for (const t of thumbnails) t.close();
    if (!gpuError) {
      const { rgb } = await engine.videoPreprocessed(options.size);
      return {
        video,
        resize: 'gpu',
        resizeNote: `src/gpu frames-to-tensor: bicubic (PIL) resize to ${options.size}×${options.size}, normalised, read back and de-normalised`,
        rgb: rgb.map(toBase64),
        loadMs,
      };
    }
    // No WebGPU: resize the page's own decode with a canvas (not the model's bicubic).
    const { probeBlob } = await import('../../../src/video/testing/probe');
    const r = await probeBlob(
      file,
      { method: options.method, decoders: options.decoders, path: options.forceElement ? 'element' : 'auto' },
      options.size,
    );
    return {
      video,
      resize: 'canvas',
      resizeNote: `WebGPU unavailable (${gpuError}): canvas drawImage resize ('high' smoothing), not the model's bicubic`,
      rgb: r.rgb,
      loadMs,
    };
  } finally {
    engine.terminate();
  }
}
