/**
 * The page's side of naming a model: what the user typed (a hub repo id `ns/name[@rev]`, a URL, a
 * path relative to the page) → the ModelSource the engine loads, through the one resolver every
 * entry point uses (src/model/sources/resolve.ts; pure, no GPU).
 */
import { describeModel, HUB_ENDPOINT, ModelSpecError, resolveModel } from '../model/sources/resolve';
import type { ModelSource } from './protocol';

export { DEFAULT_REPO, HUB_ENDPOINT, KNOWN_REPOS, ModelSpecError } from '../model/sources/resolve';

/** `spec` as a source and a label for messages; relative URLs resolve against `base` (the page). */
export function modelSourceFor(
  spec: string,
  opts: { endpoint?: string; base?: string } = {},
): { source: ModelSource; label: string } {
  const m = resolveModel(spec, { endpoint: opts.endpoint || HUB_ENDPOINT });
  const page = opts.base ?? globalThis.location?.href ?? 'http://localhost/';
  if (m.kind === 'hub') {
    checkModelUrl(m.endpoint, page, 'hub endpoint');
    return {
      source: { kind: 'hub', repo: m.repo, revision: m.revision, endpoint: m.endpoint },
      label: describeModel(m),
    };
  }
  if (m.kind === 'folder') throw new Error('a folder cannot be named in the page: pick it instead');
  const baseUrl = new URL(m.base, page).href;
  checkModelUrl(baseUrl, page, 'model URL');
  return { source: { kind: 'url', baseUrl }, label: baseUrl };
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Where the page loads models from: https, plain http only on this machine (localhost, 127.0.0.1,
 * [::1]) or from the page's own origin, and never with a user name or password in the URL (it would
 * reach the server, the history and the cached-models list). Throws ModelSpecError saying which rule.
 */
export function checkModelUrl(url: string, page: string, what: string): void {
  let u: URL;
  try {
    u = new URL(url, page);
  } catch {
    throw new ModelSpecError(`${what} ${url} is not a valid URL`);
  }
  if (u.username || u.password)
    throw new ModelSpecError(`${what} ${u.host}: a user name or password in the URL is not accepted`);
  const sameOrigin = u.origin === new URL(page).origin;
  if (u.protocol === 'https:' || sameOrigin) return;
  if (u.protocol === 'http:' && LOOPBACK.has(u.hostname)) return;
  throw new ModelSpecError(
    u.protocol === 'http:'
      ? `${what} ${u.origin} uses plain http: only https, or http on this machine (localhost), is allowed`
      : `${what} ${url}: only https (or http on localhost) URLs are allowed`,
  );
}
