/**
 * The page's side of naming a model: what the user typed (a hub repo id `ns/name[@rev]`, a URL, a
 * path relative to the page) → the ModelSource the engine loads, through the one resolver every
 * entry point uses (src/model/sources/resolve.ts; pure, no GPU).
 */
import { describeModel, HUB_ENDPOINT, resolveModel } from '../model/sources/resolve';
import type { ModelSource } from './protocol';

export { DEFAULT_REPO, HUB_ENDPOINT, KNOWN_REPOS, ModelSpecError } from '../model/sources/resolve';

/** `spec` as a source and a label for messages; relative URLs resolve against `base` (the page). */
export function modelSourceFor(
  spec: string,
  opts: { endpoint?: string; base?: string } = {},
): { source: ModelSource; label: string } {
  const m = resolveModel(spec, { endpoint: opts.endpoint || HUB_ENDPOINT });
  if (m.kind === 'hub')
    return {
      source: { kind: 'hub', repo: m.repo, revision: m.revision, endpoint: m.endpoint },
      label: describeModel(m),
    };
  if (m.kind === 'folder') throw new Error('a folder cannot be named in the page: pick it instead');
  const baseUrl = new URL(m.base, opts.base ?? globalThis.location?.href ?? 'http://localhost/').href;
  return { source: { kind: 'url', baseUrl }, label: baseUrl };
}
