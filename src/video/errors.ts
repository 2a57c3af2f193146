/**
 * Typed video errors: the UI shows `message` and, where present, `hint` (what the user can do). The
 * engine carries them as its {kind, message, hint} error (src/engine-client/protocol/errors.ts).
 */
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

/** Anything thrown while reading a video, as a VideoError (an AbortError is a cancel; the rest internal). */
export function toVideoError(err: unknown): VideoError {
  if (err instanceof VideoError) return err;
  if (err instanceof DOMException && err.name === 'AbortError') return cancelledError();
  const message = err instanceof Error ? err.message : String(err);
  return new VideoError('internal', `Unexpected error while reading the video: ${message}`);
}

export function cancelledError(): VideoError {
  return new VideoError('cancelled', 'Decoding was cancelled.');
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelledError();
}
