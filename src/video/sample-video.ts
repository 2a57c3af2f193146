/**
 * The video-in pipeline: open → count frames from the sample table → choose indices → decode each
 * needed GOP once across parallel WebCodecs decoders → upright frames at display size, one per slot.
 *
 * Runs in a worker (no DOM). When this browser's VideoDecoder cannot decode the codec, `planSample`
 * says so and the page runs the <video>-element fallback (element-sampler.ts) with the same plan.
 */

import { decodeRuns } from './decode';
import type { OpenedVideo, VideoFacts, VideoInput } from './demux';
import { openVideo } from './demux';
import { cancelledError, throwIfAborted, VideoError } from './errors';
import { planRuns, splitRuns } from './gop-plan';
import { cropToTrack, uprightFrame } from './orient';
import { DEFAULT_METHOD, type SampleMethod, selectIndices } from './sampling';

export type DecodePath = 'webcodecs' | 'element';

export interface SampleOptions {
  method?: SampleMethod;
  /** Parallel VideoDecoders; GOPs are split across them. */
  decoders?: number;
  /** 'element' forces the <video> fallback (tests and benchmarks); 'auto' uses it only when needed. */
  path?: 'auto' | 'element';
  /** Skip non-reference H.264 packets that are not sampled (default true; off for comparisons). */
  skipDisposable?: boolean;
}

export const DEFAULT_DECODERS = 2;

export interface SamplePlan {
  facts: VideoFacts;
  method: SampleMethod;
  /** Frame index (presentation order) per output slot; repeats when the clip is shorter than N. */
  indices: number[];
  /** Timestamp of each slot's frame, µs (container time, edit lists applied). */
  timestampsUs: number[];
  /** Mid-frame times for seeking a <video> element to each slot's frame, µs. */
  seekTimesUs: number[];
  /** Timestamp of the last frame, µs (lines the <video> element's timeline up with the demuxer's). */
  lastFrameUs: number;
  path: DecodePath;
  /** Why this path: shown in the UI. */
  reason: string;
}

export interface SampleProgress {
  phase: 'open' | 'decode';
  /** 0..1 within the decode phase. */
  fraction: number;
}

export interface SampledFrame {
  slot: number;
  index: number;
  timestampUs: number;
  /** Upright, display size. The receiver owns it and must close it. */
  frame: VideoFrame;
}

export interface SampleStats {
  decoders: number;
  /** Packets from each run's key frame to its last target. */
  packetsPlanned: number;
  /** Packets fed to decoders (planned minus skipped non-reference H.264 packets). */
  packetsDecoded: number;
  framesOutput: number;
  peakOpenFrames: number;
  /** Slots whose exact frame the decoder never produced (nearest decoded frame used). */
  substituted: number;
  /** Bytes read from the file or URL, container parsing included. */
  bytesRead: number;
  timeMs: number;
}

export interface SampleHooks {
  signal?: AbortSignal;
  onProgress?: (p: SampleProgress) => void;
  /**
   * Called once per slot as soon as its upright frame exists (decode order, not slot order), so work
   * on it (the vision tower) can start while later GOPs decode. The receiver owns `frame` (a clone)
   * and must close it.
   */
  onSlot?: (slot: number, frame: VideoFrame) => void;
}

/** Frame timestamps → mid-frame seek times (the element shows the last frame starting at or before t). */
function seekTimes(video: OpenedVideo, indices: number[]): number[] {
  const { timestampsUs, count, decodeIndex } = video.table;
  return indices.map((p) => {
    const t = timestampsUs[p];
    let next = p + 1 < count ? timestampsUs[p + 1] : t;
    if (next <= t) {
      const dur = video.packets[decodeIndex[p]].duration * 1e6;
      next = t + (dur > 0 ? dur : 1e6 / Math.max(video.facts.fps, 1));
    }
    return Math.round((t + next) / 2);
  });
}

async function choosePath(video: OpenedVideo, options: SampleOptions): Promise<[DecodePath, string]> {
  const codec = video.facts.codecString ?? video.facts.codec;
  if (options.path === 'element') return ['element', 'requested in the settings (path: element)'];
  if (typeof VideoDecoder === 'undefined') return ['element', 'this browser has no WebCodecs VideoDecoder'];
  if (!video.decoderConfig)
    return ['element', `mediabunny has no decoder configuration for codec "${codec}"`];
  let supported = false;
  try {
    supported = (await VideoDecoder.isConfigSupported(video.decoderConfig)).supported === true;
  } catch {
    supported = false;
  }
  return supported
    ? ['webcodecs', `VideoDecoder supports ${codec}`]
    : ['element', `this browser's VideoDecoder cannot decode ${codec}`];
}

/** What the <video> fallback needs from a plan. */
export function elementPlan(plan: SamplePlan): { seekTimesUs: number[]; lastFrameUs: number } {
  return { seekTimesUs: plan.seekTimesUs, lastFrameUs: plan.lastFrameUs };
}

/** Opens the video, counts its frames and chooses which to sample. The caller disposes `video`. */
export async function planSample(
  src: VideoInput,
  options: SampleOptions = {},
  signal?: AbortSignal,
): Promise<{ video: OpenedVideo; plan: SamplePlan }> {
  const video = await openVideo(src, signal);
  try {
    throwIfAborted(signal);
    const method = options.method ?? DEFAULT_METHOD;
    const indices = selectIndices(video.table.timestampsUs, method);
    const [path, reason] = await choosePath(video, options);
    const plan: SamplePlan = {
      facts: video.facts,
      method,
      indices,
      timestampsUs: indices.map((p) => video.table.timestampsUs[p]),
      seekTimesUs: seekTimes(video, indices),
      lastFrameUs: video.table.timestampsUs[video.table.count - 1],
      path,
      reason,
    };
    return { video, plan };
  } catch (err) {
    video.dispose();
    throw err;
  }
}

/**
 * Decodes a plan's frames with WebCodecs. Returns one upright VideoFrame per slot (repeated indices get
 * clones); on error or cancel, every frame opened is closed before throwing.
 */
export async function decodeSample(
  video: OpenedVideo,
  plan: SamplePlan,
  options: SampleOptions = {},
  hooks: SampleHooks = {},
): Promise<{ frames: SampledFrame[]; stats: SampleStats }> {
  const t0 = performance.now();
  const runs = planRuns(video.table, plan.indices);
  const lanes = splitRuns(runs, options.decoders ?? DEFAULT_DECODERS);
  const { codedWidth, codedHeight } = video.facts;
  const byIndex = new Map<number, VideoFrame>();
  const slotsOf = new Map<number, number[]>();
  for (const [slot, index] of plan.indices.entries())
    slotsOf.set(index, [...(slotsOf.get(index) ?? []), slot]);
  const ready = (index: number, f: VideoFrame) => {
    if (byIndex.has(index)) {
      f.close();
      return;
    }
    byIndex.set(index, f);
    if (hooks.onSlot && !hooks.signal?.aborted)
      for (const slot of slotsOf.get(index) ?? []) hooks.onSlot(slot, f.clone());
  };
  // Rotation runs while later GOPs decode; its promises are awaited before anything is released.
  const pending: Promise<void>[] = [];
  const slots: SampledFrame[] = [];
  try {
    hooks.onProgress?.({ phase: 'decode', fraction: 0 });
    const stats = await decodeRuns(
      video,
      lanes,
      {
        signal: hooks.signal,
        onProgress: (fraction) => hooks.onProgress?.({ phase: 'decode', fraction }),
        onTarget: ({ index, frame }) => {
          pending.push(
            uprightFrame(cropToTrack(frame, codedWidth, codedHeight), video.facts.rotation).then(
              (f) => ready(index, f),
              (err) => {
                frame.close();
                throw err;
              },
            ),
          );
        },
      },
      { skipDisposable: options.skipDisposable },
    );
    await Promise.all(pending);
    throwIfAborted(hooks.signal);
    for (const [slot, index] of plan.indices.entries()) {
      const f = byIndex.get(index);
      if (!f) throw new VideoError('internal', `frame ${index} missing after decode`);
      slots.push({ slot, index, timestampUs: plan.timestampsUs[slot], frame: f.clone() });
    }
    return {
      frames: slots,
      stats: {
        decoders: lanes.length,
        packetsPlanned: stats.packetsPlanned,
        packetsDecoded: stats.packetsFed,
        framesOutput: stats.framesOutput,
        peakOpenFrames: stats.peakOpenFrames,
        substituted: stats.substituted,
        bytesRead: video.bytesRead(),
        timeMs: performance.now() - t0,
      },
    };
  } catch (err) {
    for (const s of slots) s.frame.close();
    throw err;
  } finally {
    await Promise.allSettled(pending);
    // Slots hold clones; the per-index originals are always released here.
    for (const f of byIndex.values()) f.close();
  }
}

/** planSample + decodeSample for the WebCodecs path (throws if the plan needs the element fallback). */
export async function sampleVideo(
  src: VideoInput,
  options: SampleOptions = {},
  hooks: SampleHooks = {},
): Promise<{ plan: SamplePlan; frames: SampledFrame[]; stats: SampleStats }> {
  hooks.onProgress?.({ phase: 'open', fraction: 0 });
  const { video, plan } = await planSample(src, options, hooks.signal);
  try {
    if (plan.path !== 'webcodecs') {
      throw new VideoError('unsupported-codec', `WebCodecs path unavailable: ${plan.reason}.`);
    }
    if (hooks.signal?.aborted) throw cancelledError();
    const { frames, stats } = await decodeSample(video, plan, options, hooks);
    return { plan, frames, stats };
  } finally {
    video.dispose();
  }
}
