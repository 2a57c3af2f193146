/**
 * The iframe mode's postMessage API (README "Embedding"), pure so it is unit-tested: which origin may
 * talk to the frame, and the only message shapes it accepts. Anything else is ignored, never guessed at.
 *
 * Host → frame: { type: 'video-reasoner:ask', question?: string } · { type: 'video-reasoner:stop' }
 *   · { type: 'video-reasoner:set', src?, question?, model?: string, frames?, maxNewTokens?, temperature?: number }
 * Frame → host: { type: 'video-reasoner:<event>', detail } for the element's events
 *   (ready, progress, token, answer, error).
 */

export const MESSAGE_PREFIX = 'video-reasoner:';

export type HostMessage =
  | { type: 'video-reasoner:ask'; question?: string }
  | { type: 'video-reasoner:stop' }
  | {
      type: 'video-reasoner:set';
      src?: string;
      question?: string;
      model?: string;
      frames?: number;
      maxNewTokens?: number;
      temperature?: number;
    };

export const FORWARDED_EVENTS = ['ready', 'progress', 'token', 'answer', 'error'] as const;

const SET_STRINGS = ['src', 'question', 'model'] as const;
const SET_NUMBERS = ['frames', 'maxNewTokens', 'temperature'] as const;
const MAX_TEXT = 8192;

const isText = (v: unknown): v is string => typeof v === 'string' && v.length <= MAX_TEXT;
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** `data` as one of the documented messages, or null (unknown type, extra keys, wrong types). */
export function parseHostMessage(data: unknown): HostMessage | null {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return null;
  const o = data as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => k !== 'type');
  switch (o.type) {
    case 'video-reasoner:ask':
      if (keys.some((k) => k !== 'question')) return null;
      if (o.question !== undefined && !isText(o.question)) return null;
      return o.question === undefined ? { type: o.type } : { type: o.type, question: o.question };
    case 'video-reasoner:stop':
      return keys.length === 0 ? { type: o.type } : null;
    case 'video-reasoner:set': {
      const out: Extract<HostMessage, { type: 'video-reasoner:set' }> = { type: o.type };
      for (const k of keys) {
        if ((SET_STRINGS as readonly string[]).includes(k) && isText(o[k]))
          (out as Record<string, unknown>)[k] = o[k];
        else if ((SET_NUMBERS as readonly string[]).includes(k) && isNumber(o[k]))
          (out as Record<string, unknown>)[k] = o[k];
        else return null;
      }
      return out;
    }
    default:
      return null;
  }
}

/**
 * The host origin the frame talks to: the `origin` query parameter when given (it must be an http(s)
 * origin), else the embedding page's (the browser's ancestorOrigins, or the referrer's). null: no host
 * is trusted, and the frame neither accepts nor sends messages.
 */
export function hostOrigin(
  param: string | null,
  ancestorOrigins: readonly string[] | undefined,
  referrer: string,
): string | null {
  const origin = (s: string) => {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : null;
    } catch {
      return null;
    }
  };
  if (param) return origin(param) === param.replace(/\/$/, '') ? origin(param) : null;
  if (ancestorOrigins?.length) return origin(ancestorOrigins[0]);
  return referrer ? origin(referrer) : null;
}
