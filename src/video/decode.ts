/**
 * Runs a decode plan with WebCodecs: one VideoDecoder per lane, fed its runs back to back (each run
 * starts on a key packet, so no flush is needed between them; one flush ends the lane). A target is
 * handed over the moment the decoder outputs it; every other output frame is closed at once, so the
 * frames open at any time are the targets plus the decoder's own pipeline.
 *
 * H.264 packets that no picture references (non-reference B frames) are not fed unless they are
 * targets: the frames after them decode the same without them (see h264-refs.ts).
 */
import type { EncodedPacket } from 'mediabunny';
import type { OpenedVideo } from './demux';
import { cancelledError, VideoError } from './errors';
import { type DecodeRun, planCost } from './gop-plan';
import { avcNalLengthSize, isDisposableAvcPacket } from './h264-refs';

export interface DecodedTarget {
  /** Presentation index of the frame. */
  index: number;
  frame: VideoFrame;
  /** false when the decoder never output this exact frame and the nearest one it did output is used. */
  exact: boolean;
}

export interface DecodeStats {
  lanes: number;
  /** Packets the plan covers (key → last target of each run). */
  packetsPlanned: number;
  /** Packets actually given to a decoder (planned minus skipped non-reference ones). */
  packetsFed: number;
  framesOutput: number;
  /** Most VideoFrames open at once: targets handed over so far plus frames awaiting a decision. */
  peakOpenFrames: number;
  substituted: number;
}

export interface DecodeOptions {
  /** Skip non-reference H.264 packets that are not targets (default true). */
  skipDisposable?: boolean;
}

export interface DecodeHooks {
  signal?: AbortSignal;
  /** Fraction of planned packets read, 0..1. */
  onProgress?: (fraction: number) => void;
  /** Receives each target as soon as it is decoded (ownership passes to the callee). */
  onTarget: (t: DecodedTarget) => void;
}

/** Decoder queue depth above which feeding waits (bounds memory held in the decoder). */
const MAX_QUEUE = 64;

interface TargetState {
  index: number;
  timestampUs: number;
  /** Runs are numbered per lane; a target only takes a nearest substitute once its run has started. */
  run: number;
  best: VideoFrame | null;
  bestDist: number;
  done: boolean;
}

const toUs = (s: number) => Math.round(s * 1e6);

export async function decodeRuns(
  video: OpenedVideo,
  lanes: DecodeRun[][],
  hooks: DecodeHooks,
  options: DecodeOptions = {},
): Promise<DecodeStats> {
  const config = video.decoderConfig;
  if (!config) throw new VideoError('unsupported-codec', `Unknown codec in "${video.facts.name}".`);
  const planned = planCost(lanes.flat());
  const stats: DecodeStats = {
    lanes: lanes.length,
    packetsPlanned: planned,
    packetsFed: 0,
    framesOutput: 0,
    peakOpenFrames: 0,
    substituted: 0,
  };
  const nalLength = video.facts.codec === 'avc' ? avcNalLengthSize(config.description) : null;
  const skipDisposable = options.skipDisposable !== false && nalLength !== null;
  let read = 0;
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
  const held = new Set<VideoFrame>(); // substitutes to close if we stop early

  async function runLane(runs: DecodeRun[]): Promise<void> {
    const targets: TargetState[] = runs.flatMap((run, r) =>
      run.targets.map((index) => ({
        index,
        timestampUs: video.table.timestampsUs[index],
        run: r,
        best: null,
        bestDist: Number.POSITIVE_INFINITY,
        done: false,
      })),
    );
    const byTimestamp = new Map<number, TargetState[]>();
    for (const t of targets) byTimestamp.set(t.timestampUs, [...(byTimestamp.get(t.timestampUs) ?? []), t]);
    const targetDecodeIndices = new Set(targets.map((t) => video.table.decodeIndex[t.index]));
    let feedingRun = 0;
    let failure: unknown = null;

    const handOver = (t: TargetState, frame: VideoFrame, exact: boolean) => {
      t.done = true;
      if (!exact) stats.substituted++;
      hooks.onTarget({ index: t.index, frame, exact });
    };

    const decoder = new VideoDecoder({
      output: (frame) => {
        opened(1);
        stats.framesOutput++;
        const exact = byTimestamp.get(frame.timestamp)?.find((t) => !t.done);
        if (exact) {
          if (exact.best) {
            held.delete(exact.best);
            closeFrame(exact.best);
          }
          handOver(exact, frame, true);
          return;
        }
        // Not a target: keep it only as the nearest stand-in for a target the decoder may never output.
        for (const t of targets) {
          if (t.done || t.run > feedingRun) continue;
          const dist = Math.abs(frame.timestamp - t.timestampUs);
          if (dist >= t.bestDist) continue;
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
      for (const [r, run] of runs.entries()) {
        feedingRun = r;
        await feedRun(
          video,
          run,
          decoder,
          abort.signal,
          (packet, d) => {
            read++;
            hooks.onProgress?.(read / Math.max(1, planned));
            if (d === run.startDecode || targetDecodeIndices.has(d)) return true;
            return !(skipDisposable && isDisposableAvcPacket(packet.data, nalLength!));
          },
          () => {
            stats.packetsFed++;
          },
        );
        if (abort.signal.aborted) throw cancelledError();
      }
      await decoder.flush();
      for (const t of targets) {
        if (t.done) continue;
        if (!t.best) {
          throw new VideoError(
            'corrupt',
            `Frame ${t.index} of "${video.facts.name}" could not be decoded: the decoder output no frame near it.`,
          );
        }
        held.delete(t.best);
        handOver(t, t.best, false);
        t.best = null;
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
    const failed = results.some((r) => r.status === 'rejected');
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

/**
 * Reads packets startDecode..endDecode in decode order and feeds those `want` accepts to the decoder,
 * respecting its queue.
 */
async function feedRun(
  video: OpenedVideo,
  run: DecodeRun,
  decoder: VideoDecoder,
  signal: AbortSignal,
  want: (packet: EncodedPacket, decodeIndex: number) => boolean,
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
    // Empty packets (dropped frames in some MP4s) decode to nothing.
    if (packet.data.byteLength > 0 && want(packet, d)) {
      while (decoder.decodeQueueSize > MAX_QUEUE) await waitDequeue(decoder, signal);
      if (signal.aborted) return;
      decoder.decode(toChunk(packet, d === run.startDecode));
      onFed();
    }
    if (++d > run.endDecode) break;
  }
  if (d <= run.endDecode) {
    throw new VideoError(
      'corrupt',
      `"${video.facts.name}" is truncated or damaged: it ends early, packet ${d} of ${packets.length} is missing.`,
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
