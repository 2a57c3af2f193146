/**
 * Opens a video with mediabunny without reading it whole (Blob/File → BlobSource reads slices; URL →
 * range requests), checks it has a video track with frames, and lists the track's packets from the
 * container's sample table (metadata only: no packet data, no decoding).
 */
import {
  ALL_FORMATS,
  BlobSource,
  EncodedPacketSink,
  Input,
  type InputVideoTrack,
  UrlSource,
} from 'mediabunny';
import { throwIfAborted, VideoError } from './errors';
import { averageFps, buildFrameTable, type FrameTable, type PacketMeta } from './frame-table';
import { sampleTableProblem } from './sample-table-guard';

/** A file the user dropped or picked (File is a Blob), or an http(s) URL. */
export type VideoInput = Blob | string;

/** What the UI shows about a video, and what frames.json records. */
export interface VideoFacts {
  name: string;
  sizeBytes: number | null;
  /** Container as mediabunny names it: 'MP4', 'QuickTime File Format', 'WebM', 'Matroska'. */
  container: string;
  /** mediabunny's codec id: 'avc' | 'hevc' | 'vp8' | 'vp9' | 'av1' | … */
  codec: string;
  /** Full codec string (RFC 6381), e.g. 'avc1.64001f'; null when unknown. */
  codecString: string | null;
  codedWidth: number;
  codedHeight: number;
  /** Size as shown: after pixel aspect ratio and rotation. Frames we hand out have this size. */
  displayWidth: number;
  displayHeight: number;
  /** Clockwise degrees the coded frames are rotated by for display. */
  rotation: 0 | 90 | 180 | 270;
  /** Timestamp of the first frame (presentation order), µs. */
  startUs: number;
  durationS: number;
  /** Average frame rate from the timestamps. */
  fps: number;
  frameCount: number;
  keyFrameCount: number;
  hasAudio: boolean;
}

export interface OpenedVideo {
  input: Input;
  track: InputVideoTrack;
  sink: EncodedPacketSink;
  /** Metadata-only packets in decode order (mediabunny objects: used to locate packet data later). */
  packets: import('mediabunny').EncodedPacket[];
  table: FrameTable;
  facts: VideoFacts;
  /** null when mediabunny does not know the codec. */
  decoderConfig: VideoDecoderConfig | null;
  /** Bytes read from the source so far (shows that large files are not read whole). */
  bytesRead(): number;
  dispose(): void;
}

export function inputName(src: VideoInput): string {
  if (typeof src === 'string') return decodeURIComponent(src.split(/[?#]/)[0].split('/').pop() || src);
  return 'name' in src && typeof src.name === 'string' ? src.name : 'video';
}

function makeInput(src: VideoInput): Input {
  const source =
    typeof src === 'string'
      ? new UrlSource(src, { getRetryDelay: (attempts) => (attempts < 2 ? 0.25 : null) })
      : new BlobSource(src);
  return new Input({ source, formats: ALL_FORMATS });
}

const toUs = (s: number) => Math.round(s * 1e6);

/** mediabunny's names for the ISO-BMFF containers, whose sample tables are bounded first. */
const ISO_FORMATS = new Set(['MP4', 'QuickTime File Format']);

function isFetchError(err: unknown): boolean {
  const msg = err instanceof Error ? `${err.name} ${err.message}` : String(err);
  return err instanceof TypeError || /fetch|network|cors|status|http|range/i.test(msg);
}

/** Opens the container and reads its sample table. Throws VideoError for every bad input it can name. */
export async function openVideo(src: VideoInput, signal?: AbortSignal): Promise<OpenedVideo> {
  const name = inputName(src);
  if (typeof src !== 'string' && src.size === 0) {
    throw new VideoError(
      'not-video',
      `"${name}" is empty (0 bytes).`,
      'Pick a video file (MP4, MOV, WebM or MKV).',
    );
  }
  const input = makeInput(src);
  let bytesRead = 0;
  input.source.onread = (start, end) => {
    bytesRead += end - start;
  };
  try {
    let formatName: string;
    try {
      formatName = (await input.getFormat()).name;
    } catch (err) {
      if (typeof src === 'string' && isFetchError(err)) {
        throw new VideoError(
          'fetch-failed',
          `Could not read ${src}: ${err instanceof Error ? err.message : String(err)}`,
          'The server must allow cross-origin requests (CORS) and range requests. Download the file and drop it instead.',
        );
      }
      throw new VideoError(
        'not-video',
        `"${name}" is not a video this app can read.`,
        'Supported containers: MP4, MOV, WebM, MKV.',
      );
    }
    throwIfAborted(signal);
    if (typeof src !== 'string' && ISO_FORMATS.has(formatName)) {
      const problem = await sampleTableProblem(src);
      if (problem)
        throw new VideoError(
          'corrupt',
          `"${name}" is damaged: its sample table is impossible (${problem}).`,
          'Try another copy of the file, or re-encode it (for example with ffmpeg).',
        );
    }

    const track = await input.getPrimaryVideoTrack();
    const audio = await input.getPrimaryAudioTrack();
    if (!track) {
      throw audio
        ? new VideoError(
            'no-video-track',
            `"${name}" has audio but no video track.`,
            'Pick a file with video in it.',
          )
        : new VideoError(
            'no-video-track',
            `"${name}" (${formatName}) has no video track.`,
            'Pick a video file.',
          );
    }

    const sink = new EncodedPacketSink(track);
    const packets: import('mediabunny').EncodedPacket[] = [];
    const metas: PacketMeta[] = [];
    try {
      for await (const p of sink.packets(undefined, undefined, { metadataOnly: true })) {
        packets.push(p);
        metas.push({ timestampUs: toUs(p.timestamp), durationUs: toUs(p.duration), isKey: p.type === 'key' });
        if ((packets.length & 1023) === 0) throwIfAborted(signal);
      }
    } catch (err) {
      if (err instanceof VideoError) throw err;
      throw new VideoError(
        'corrupt',
        `"${name}" is damaged or truncated: its sample table could not be read (${err instanceof Error ? err.message : String(err)}).`,
      );
    }
    if (packets.length === 0) {
      throw new VideoError('no-frames', `"${name}" has a video track with no frames.`);
    }
    const table = buildFrameTable(metas);
    const lastDur = metas[table.decodeIndex[table.count - 1]].durationUs;
    const [codecString, decoderConfig, rotation] = await Promise.all([
      track.getCodecParameterString().catch(() => null),
      track.getDecoderConfig().catch(() => null),
      track.getRotation(),
    ]);
    const facts: VideoFacts = {
      name,
      sizeBytes: typeof src === 'string' ? null : src.size,
      container: formatName,
      codec: (await track.getCodec()) ?? 'unknown',
      codecString,
      codedWidth: await track.getCodedWidth(),
      codedHeight: await track.getCodedHeight(),
      displayWidth: await track.getDisplayWidth(),
      displayHeight: await track.getDisplayHeight(),
      rotation,
      startUs: table.timestampsUs[0],
      durationS: (table.timestampsUs[table.count - 1] - table.timestampsUs[0] + Math.max(lastDur, 0)) / 1e6,
      fps: averageFps(table, lastDur),
      frameCount: table.count,
      keyFrameCount: table.keyCount,
      hasAudio: audio !== null,
    };
    return {
      input,
      track,
      sink,
      packets,
      table,
      facts,
      decoderConfig,
      bytesRead: () => bytesRead,
      dispose: () => input.dispose(),
    };
  } catch (err) {
    input.dispose();
    throw damaged(err, src, name);
  }
}

/**
 * An error past the container check as a VideoError: the parser's own (a RangeError from a box that
 * runs past its parent, say) means a damaged file, a failed read of a URL a fetch failure.
 */
function damaged(err: unknown, src: VideoInput, name: string): unknown {
  if (err instanceof VideoError) return err;
  if (err instanceof DOMException && err.name === 'AbortError') return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (typeof src === 'string' && isFetchError(err))
    return new VideoError(
      'fetch-failed',
      `Could not read ${src}: ${msg}`,
      'Check the connection and try again.',
    );
  return new VideoError(
    'corrupt',
    `"${name}" is damaged or truncated: its container could not be read (${msg}).`,
    'Try another copy of the file, or re-encode it (for example with ffmpeg).',
  );
}
