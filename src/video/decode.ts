/**
 * Runs a decode plan with WebCodecs: one VideoDecoder per lane, each fed its runs (key packet → last
 * target) and flushed after each. Every output frame that is not a target is closed at once, so the
 * frames open at any time are the targets found so far plus the decoder's own pipeline.
 */
import type { EncodedPacket } from 'mediabunny';
import type { OpenedVideo } from './demux';
import { cancelledError, VideoError } from './errors';
import { type DecodeRun, planCost } from './gop-plan';

export interface DecodedTarget {
  /** Presentation index of the frame. */
  index: number;
  frame: VideoFrame;
  /** false when the decoder never output this exact frame and the nearest one it did output is used. */
  exact: boolean;
}

export interface DecodeStats {
  lanes: number;
  packetsFed: number;
  framesOutput: number;
  /** Most VideoFrames this module held open at once (kept targets + frames awaiting a decision). */
  peakOpenFrames: number;
  substituted: number;
}

export interface DecodeHooks {
  signal?: AbortSignal;
  /** Fraction of planned packets fed, 0..1. */
  onProgress?: (fraction: number) => void;
  /** Receives each target as soon as its run is flushed (ownership passes to the callee). */
  onTarget: (t: DecodedTarget) => void;
}

/** Decoder queue depth above which feeding waits (bounds memory held in the decoder). */
const MAX_QUEUE = 16;

interface TargetState {
  index: number;
  timestampUs: number;
  best: VideoFrame | null;
  bestDist: number;
}

const toUs = (s: number) => Math.round(s * 1e6);

export async function decodeRuns(
  video: OpenedVideo,
  lanes: DecodeRun[][],
  hooks: DecodeHooks,
): Promise<DecodeStats> {
  const config = video.decoderConfig;
  if (!config) throw new VideoError('unsupported-codec', `Unknown codec in "${video.facts.name}".`);
  const total = Math.max(1, planCost(lanes.flat()));
  const stats: DecodeStats = {
    lanes: lanes.length,
    packetsFed: 0,
    framesOutput: 0,
    peakOpenFrames: 0,
    substituted: 0,
  };
  let open = 0;
  const opened = (n: number) => {
    open += n;
    if (open > stats.peakOpenFrames) stats.peakOpenFrames = open;
  };
  const closeFrame = (f: VideoFrame) => {
    f.close();
    open--;
  };

  const abort = new AbortController();
  const onAbort = () => abort.abort();
  hooks.signal?.addEventListener('abort', onAbort);
  const held = new Set<VideoFrame>(); // frames to close if we stop early

  async function runLane(runs: DecodeRun[]): Promise<void> {
    let current: TargetState[] = [];
    let failure: unknown = null;
    const decoder = new VideoDecoder({
      output: (frame) => {
        opened(1);
        stats.framesOutput++;
        for (const t of current) {
          const dist = Math.abs(frame.timestamp - t.timestampUs);
          if (t.bestDist === 0 || dist >= t.bestDist) continue;
          if (t.best) {
            held.delete(t.best);
            closeFrame(t.best);
          }
          t.best = frame.clone();
          opened(1);
          held.add(t.best);
          t.bestDist = dist;
        }
        closeFrame(frame);
      },
      error: (e) => {
        failure = e;
      },
    });
    const stop = () => {
      if (decoder.state !== 'closed') decoder.close();
    };
    abort.signal.addEventListener('abort', stop);
    try {
      decoder.configure(config!);
      for (const run of runs) {
        current = run.targets.map((index) => ({
          index,
          timestampUs: video.table.timestampsUs[index],
          best: null,
          bestDist: Number.POSITIVE_INFINITY,
        }));
        await feedRun(video, run, decoder, abort.signal, () => {
          stats.packetsFed++;
          hooks.onProgress?.(stats.packetsFed / total);
        });
        if (abort.signal.aborted) throw cancelledError();
        await decoder.flush();
        for (const t of current) {
          if (!t.best) {
            throw new VideoError(
              'corrupt',
              `Frame ${t.index} of "${video.facts.name}" could not be decoded: the decoder output nothing for packets ${run.startDecode}–${run.endDecode}.`,
            );
          }
          held.delete(t.best);
          if (t.bestDist !== 0) stats.substituted++;
          open--; // ownership passes to the caller
          hooks.onTarget({ index: t.index, frame: t.best, exact: t.bestDist === 0 });
          t.best = null;
        }
        current = [];
      }
    } catch (err) {
      abort.abort();
      if (hooks.signal?.aborted) throw cancelledError();
      if (err instanceof VideoError) throw err;
      const cause = failure ?? err;
      throw new VideoError(
        'corrupt',
        `Decoding "${video.facts.name}" failed: ${cause instanceof Error ? cause.message : String(cause)}`,
        'The file may be truncated or damaged.',
      );
    } finally {
      abort.signal.removeEventListener('abort', stop);
      stop();
    }
  }

  try {
    const results = await Promise.allSettled(lanes.map(runLane));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw pickError(results);
    return stats;
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    for (const f of held) closeFrame(f);
    held.clear();
  }
}

/** With several lanes failing, report the root cause rather than the cancellations it triggered. */
function pickError(results: PromiseSettledResult<void>[]): unknown {
  const reasons = results
    .filter((r) => r.status === 'rejected')
    .map((r) => (r as PromiseRejectedResult).reason);
  return reasons.find((e) => !(e instanceof VideoError && e.kind === 'cancelled')) ?? reasons[0];
}

/** Feeds packets startDecode..endDecode to the decoder in decode order, respecting its queue. */
async function feedRun(
  video: OpenedVideo,
  run: DecodeRun,
  decoder: VideoDecoder,
  signal: AbortSignal,
  onFed: () => void,
): Promise<void> {
  const { sink, packets } = video;
  // Metadata-only packets carry no data: ask for the packet after the previous one, which mediabunny
  // locates by the same sample-table position.
  const first =
    run.startDecode === 0
      ? await sink.getFirstPacket()
      : await sink.getNextPacket(packets[run.startDecode - 1]);
  if (!first || first.sequenceNumber !== packets[run.startDecode].sequenceNumber) {
    throw new VideoError(
      'corrupt',
      `"${video.facts.name}" is truncated or damaged: packet ${run.startDecode} of ${packets.length} could not be read.`,
    );
  }
  let d = run.startDecode;
  for await (const packet of sink.packets(first)) {
    if (signal.aborted) return;
    if (packet.data.byteLength === 0 && packet.type !== 'key') {
      // Empty packets (dropped frames in some MP4s) decode to nothing; skip them.
    } else {
      while (decoder.decodeQueueSize > MAX_QUEUE) await waitDequeue(decoder, signal);
      decoder.decode(toChunk(packet, d === run.startDecode));
    }
    onFed();
    if (++d > run.endDecode) break;
  }
  if (d <= run.endDecode) {
    throw new VideoError(
      'corrupt',
      `"${video.facts.name}" ends early: packet ${d} of ${packets.length} is missing.`,
    );
  }
}

function toChunk(p: EncodedPacket, forceKey: boolean): EncodedVideoChunk {
  return new EncodedVideoChunk({
    type: forceKey || p.type === 'key' ? 'key' : 'delta',
    timestamp: toUs(p.timestamp),
    duration: toUs(p.duration),
    data: p.data,
  });
}

function waitDequeue(decoder: VideoDecoder, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      decoder.removeEventListener('dequeue', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    decoder.addEventListener('dequeue', done);
    signal.addEventListener('abort', done);
  });
}
