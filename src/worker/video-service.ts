/**
 * The engine's video commands (engine-client/protocol) over src/video: runs the pipeline in the engine
 * worker, keeps the current video's sampled frames (upright VideoFrames, one per slot) for the model,
 * and answers the model's lookup (model-video.ts). One load at a time per job id; a finished load
 * replaces the previous video and closes its frames.
 */

import { transfer } from 'comlink';
import type {
  LoadedVideo,
  VideoCommands,
  VideoProgress,
  VideoSettings,
  VideoSource,
} from '../engine-client/protocol';
import { EngineError, toEngineError } from '../engine-client/protocol';
import { framesToTensor } from '../gpu/frames-to-tensor';
import { denormalizePlanes } from '../gpu/kernels/resize';
import type { OpenedVideo } from '../video/demux';
import { cancelledError, toVideoError } from '../video/errors';
import { decodeSample, planSample, type SamplePlan } from '../video/sample-video';
import { makeThumbnail } from '../video/thumbnail';
import type { VideoFrames, VideoLookup } from './model-video';
import type { EngineSession } from './session';
import type { VisionHub } from './video-vision';

const DEFAULT_THUMB_HEIGHT = 96;

interface CurrentVideo {
  key: number;
  frames: VideoFrame[];
  decodeMs: number;
  /** Vision runs ahead of questions on this video (VideoSettings.visionAhead). */
  visionAhead: boolean;
}

/** A load waiting for the page's <video> capture. */
interface PendingElement {
  key: number;
  plan: SamplePlan;
  settings: VideoSettings;
  startedAt: number;
  onProgress?: (p: VideoProgress) => void;
}

function asEngineError(err: unknown): EngineError {
  return toEngineError(toVideoError(err));
}

export interface VideoService {
  commands: VideoCommands;
  /** What `ask` reads: the current video's frames (owned by this service), or null. */
  lookup: VideoLookup;
}

/**
 * `vision` (optional): the hub that runs the model's vision tower on frames as they are decoded; the
 * service starts a job per load and cancels it when the load fails or the video is replaced.
 */
export function videoService(session: EngineSession, vision?: VisionHub): VideoService {
  let current: CurrentVideo | null = null;
  let nextKey = 1;
  const jobs = new Map<string, AbortController>();
  const pending = new Map<string, PendingElement>();

  function replaceCurrent(next: CurrentVideo | null): void {
    if (current) vision?.cancelVideo(current.key);
    for (const f of current?.frames ?? []) f.close();
    current = next;
  }

  if (vision)
    vision.currentVideo = () => (current?.visionAhead ? { key: current.key, frames: current.frames } : null);

  /** Thumbnails, facts and bookkeeping shared by both paths; takes ownership of `frames`. */
  async function finish(
    jobId: string,
    key: number,
    plan: SamplePlan,
    frames: VideoFrame[],
    settings: VideoSettings,
    stats: Pick<LoadedVideo, 'decoders' | 'packetsDecoded' | 'peakOpenFrames' | 'bytesRead'>,
    startedAt: number,
    onProgress?: (p: VideoProgress) => void,
  ): Promise<LoadedVideo> {
    const thumbnails: ImageBitmap[] = [];
    try {
      const height = settings.thumbHeight ?? DEFAULT_THUMB_HEIGHT;
      for (const [i, f] of frames.entries()) {
        if (jobs.get(jobId)?.signal.aborted) throw cancelledError();
        thumbnails.push(await makeThumbnail(f, height));
        onProgress?.({ phase: 'thumbnails', fraction: (i + 1) / frames.length, videoKey: key });
      }
    } catch (err) {
      for (const f of frames) f.close();
      for (const t of thumbnails) t.close();
      throw err;
    }
    const timeMs = performance.now() - startedAt;
    const visionAhead = settings.visionAhead !== false;
    replaceCurrent({ key, frames, decodeMs: timeMs, visionAhead });
    // Frames not streamed to a job (element path, or the model changed meanwhile) get their vision now.
    if (visionAhead) vision?.runAll(key, frames);
    const loaded: LoadedVideo = {
      key,
      facts: plan.facts,
      method: plan.method,
      indices: plan.indices,
      timestampsUs: plan.timestampsUs,
      path: plan.path,
      reason: plan.reason,
      timeMs,
      ...stats,
      thumbnails,
    };
    return transfer(loaded, thumbnails);
  }

  const commands: VideoCommands = {
    async videoLoad(jobId, source: VideoSource, settings, onProgress) {
      const abort = new AbortController();
      jobs.get(jobId)?.abort();
      jobs.set(jobId, abort);
      const startedAt = performance.now();
      const key = nextKey++;
      const progress = (phase: VideoProgress['phase'], fraction: number) =>
        onProgress?.({ phase, fraction, videoKey: key });
      let video: OpenedVideo | null = null;
      let streamed = false;
      try {
        progress('open', 0);
        const input = source.kind === 'file' ? source.file : source.url;
        const options = {
          method: settings.method,
          decoders: settings.decoders,
          path: settings.forceElement ? ('element' as const) : ('auto' as const),
        };
        const planned = await planSample(input, options, abort.signal);
        video = planned.video;
        const { plan } = planned;
        if (plan.path === 'element') {
          pending.set(jobId, { key, plan, settings, startedAt, onProgress });
          return {
            status: 'needs-element',
            facts: plan.facts,
            reason: plan.reason,
            plan: { seekTimesUs: plan.seekTimesUs, lastFrameUs: plan.lastFrameUs },
          };
        }
        // Each chunk of decoded frames goes through the vision tower while later ones decode.
        const job = settings.visionAhead !== false ? vision?.begin(key, plan.indices.length) : null;
        streamed = Boolean(job);
        const { frames, stats } = await decodeSample(video, plan, options, {
          signal: abort.signal,
          onProgress: (p) => progress(p.phase, p.fraction),
          onSlot: job ? (slot, frame) => job.addFrame(slot, frame, true) : undefined,
        });
        const loaded = await finish(
          jobId,
          key,
          plan,
          frames.map((f) => f.frame),
          settings,
          stats,
          startedAt,
          onProgress,
        );
        return { status: 'loaded', video: loaded };
      } catch (err) {
        if (streamed && current?.key !== key) vision?.cancelVideo(key);
        throw asEngineError(abort.signal.aborted ? cancelledError() : err);
      } finally {
        video?.dispose();
        if (jobs.get(jobId) === abort && !pending.has(jobId)) jobs.delete(jobId);
      }
    },

    async videoSupplyFrames(jobId, bitmaps) {
      const job = pending.get(jobId);
      pending.delete(jobId);
      const abort = jobs.get(jobId);
      try {
        if (!job) throw new EngineError('bad-request', `No video load "${jobId}" is waiting for frames.`);
        if (abort?.signal.aborted) throw cancelledError();
        const { plan } = job;
        if (bitmaps.length !== plan.indices.length) {
          throw new EngineError(
            'bad-request',
            `Expected ${plan.indices.length} frames, got ${bitmaps.length}.`,
          );
        }
        const frames = bitmaps.map((b, slot) => new VideoFrame(b, { timestamp: plan.timestampsUs[slot] }));
        const stats = { decoders: 0, packetsDecoded: 0, peakOpenFrames: frames.length, bytesRead: 0 };
        return await finish(jobId, job.key, plan, frames, job.settings, stats, job.startedAt, job.onProgress);
      } catch (err) {
        throw err instanceof EngineError ? err : asEngineError(err);
      } finally {
        for (const b of bitmaps) b.close();
        jobs.delete(jobId);
      }
    },

    async videoCancel(jobId) {
      jobs.get(jobId)?.abort();
      if (pending.delete(jobId)) jobs.delete(jobId);
    },

    async videoClear() {
      replaceCurrent(null);
    },

    async watchVision(onProgress) {
      vision?.watch(onProgress);
    },

    async videoPreprocessed(size) {
      if (!current) throw new EngineError('bad-request', 'No video is loaded.');
      const ctx = session.gpu();
      // The identity normalisation: x/255 in f32, which de-normalises to the exact uint8 values.
      const norm = { mean: [0, 0, 0], std: [1, 1, 1] } as const;
      const t = await framesToTensor(ctx, current.frames, size, { dtype: 'f32', norm });
      try {
        const data = await ctx.read(t);
        const plane = 3 * size * size;
        const rgb = current.frames.map((_, i) =>
          denormalizePlanes(data.subarray(i * plane, (i + 1) * plane), size, norm),
        );
        return transfer(
          { rgb, size },
          rgb.map((r) => r.buffer),
        );
      } finally {
        ctx.release(t);
      }
    },
  };

  const lookup: VideoLookup = (): VideoFrames | null =>
    current ? { key: current.key, frames: current.frames, decodeMs: current.decodeMs } : null;

  return { commands, lookup };
}
