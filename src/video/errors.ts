/** Typed video errors: the UI shows `message` and, where present, `hint` (what the user can do). */
export type VideoErrorKind =
  | 'not-video' // not a container we can read at all
  | 'no-video-track' // a media file, but audio only (or data only)
  | 'no-frames' // a video track with zero frames
  | 'corrupt' // truncated or damaged data: demux or decode failed part way
  | 'unsupported-codec' // neither WebCodecs nor the <video> element can decode it
  | 'fetch-failed' // a URL that could not be read (network, CORS, 404)
  | 'cancelled'
  | 'internal';

export class VideoError extends Error {
  readonly kind: VideoErrorKind;
  readonly hint: string;
  constructor(kind: VideoErrorKind, message: string, hint = '') {
    super(message);
    this.name = 'VideoError';
    this.kind = kind;
    this.hint = hint;
  }
}

/** Plain-data form that survives postMessage (comlink only keeps an Error's message and stack). */
export interface VideoErrorInfo {
  kind: VideoErrorKind;
  message: string;
  hint: string;
}

export function toVideoErrorInfo(err: unknown): VideoErrorInfo {
  if (err instanceof VideoError) return { kind: err.kind, message: err.message, hint: err.hint };
  if (err instanceof DOMException && err.name === 'AbortError') {
    return { kind: 'cancelled', message: 'Decoding was cancelled.', hint: '' };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { kind: 'internal', message: `Unexpected error while reading the video: ${message}`, hint: '' };
}

export function cancelledError(): VideoError {
  return new VideoError('cancelled', 'Decoding was cancelled.');
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelledError();
}
