/**
 * One resolution of "which model" for every entry point (the page's model field, the widget's
 * `model` attribute, every CLI's `--model`): a string becomes a hub repo, a base URL or a folder.
 *
 * - `http(s)://…` → a base URL serving the checkpoint's files (self-hosted, a CDN, a hub resolve URL).
 *   A hub repo page URL (`https://huggingface.co/<ns>/<name>[/tree/<rev>]`) is taken as that repo.
 * - a hub repo id `<ns>/<name>[@<revision>]` → the hub, files at
 *   `{endpoint}/{repo}/resolve/{revision}/{file}` (revision default `main`; endpoint default the public
 *   hub, `HF_ENDPOINT` in the CLIs as huggingface_hub reads it).
 * - In Node the caller passes `isFolder`: a path that exists is a folder, whatever it looks like;
 *   something path-like that does not exist is still a folder (so the error says "no such folder").
 * - In the page (no `isFolder`): `/…`, `./…`, `../…` and anything else that is not a repo id is a URL
 *   relative to the page (the app's own `/models/tiny-a/`).
 */

export const HUB_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_REVISION = 'main';

/** The model a real user gets, and the two it was trained from (MODEL.md). */
export const DEFAULT_REPO = 'Zhang199/TinyLLaVA-Video-R1';
export const KNOWN_REPOS = [
  DEFAULT_REPO,
  'Zhang199/TinyLLaVA-Video-Coldstart_NextQA_16',
  'Zhang199/TinyLLaVA-Video-Qwen2.5-3B-Group-16-512',
] as const;

export type ResolvedModel =
  | { kind: 'hub'; repo: string; revision: string; endpoint: string }
  | { kind: 'url'; base: string }
  | { kind: 'folder'; path: string };

export interface ResolveOptions {
  /** Hub endpoint (HF_ENDPOINT); default the public hub. */
  endpoint?: string;
  /** Node only: whether the string names an existing folder. Absent in the page. */
  isFolder?: (path: string) => boolean;
}

/** `<ns>/<name>` as the hub allows them (letters, digits, `-`, `_`, `.`; no `--` or `..`). */
const REPO_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export class ModelSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelSpecError';
  }
}

/** `ns/name` or `ns/name@rev` → its parts; undefined when the string is not a repo id. */
export function parseRepoId(spec: string): { repo: string; revision?: string } | undefined {
  const at = spec.indexOf('@');
  const repo = at < 0 ? spec : spec.slice(0, at);
  const revision = at < 0 ? undefined : spec.slice(at + 1);
  if (!REPO_ID.test(repo) || repo.includes('..') || repo.includes('--')) return undefined;
  if (revision !== undefined && (revision.length === 0 || /\s/.test(revision))) return undefined;
  return { repo, revision };
}

export function normalizeEndpoint(endpoint: string | undefined): string {
  const e = (endpoint ?? '').trim() || HUB_ENDPOINT;
  if (!/^https?:\/\//i.test(e)) throw new ModelSpecError(`hub endpoint ${e} is not an http(s) URL`);
  return e.replace(/\/+$/, '');
}

export function resolveModel(spec: string, opts: ResolveOptions = {}): ResolvedModel {
  const s = spec.trim();
  if (s.length === 0) throw new ModelSpecError('no model given: a hub repo id, a URL or a folder');
  const endpoint = normalizeEndpoint(opts.endpoint);
  if (opts.isFolder?.(s)) return { kind: 'folder', path: s };
  if (/^https?:\/\//i.test(s)) return hubPageUrl(s) ?? { kind: 'url', base: withSlash(s) };
  const pathLike = /^(\.{0,2}\/|~|[A-Za-z]:[\\/])/.test(s) || s.includes('\\');
  const id = pathLike ? undefined : parseRepoId(s);
  if (id) return { kind: 'hub', repo: id.repo, revision: id.revision ?? DEFAULT_REVISION, endpoint };
  if (opts.isFolder) return { kind: 'folder', path: s };
  return { kind: 'url', base: withSlash(s) };
}

/** Where a hub repo's files are: `{endpoint}/{repo}/resolve/{revision}/` (revision percent-encoded). */
export function hubBaseUrl(m: { repo: string; revision?: string; endpoint?: string }): string {
  const rev = encodeURIComponent(m.revision ?? DEFAULT_REVISION);
  return `${normalizeEndpoint(m.endpoint)}/${m.repo}/resolve/${rev}/`;
}

/** A short name for messages and the model panel: `ns/name[@rev]`, the URL, or the folder. */
export function describeModel(m: ResolvedModel): string {
  if (m.kind === 'hub') return m.revision === DEFAULT_REVISION ? m.repo : `${m.repo}@${m.revision}`;
  return m.kind === 'url' ? m.base : m.path;
}

const withSlash = (u: string) => (u.endsWith('/') ? u : `${u}/`);

/** `https://huggingface.co/ns/name` or `…/tree/<rev>` (a repo's page, pasted) → that repo. */
function hubPageUrl(s: string): ResolvedModel | undefined {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return undefined;
  }
  if (u.search || u.hash) return undefined;
  // Only the public hub's own pages: any other server's /a/b/ is a base URL like any other.
  if (u.origin !== new URL(HUB_ENDPOINT).origin) return undefined;
  const parts = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length !== 2 && !(parts.length >= 4 && parts[2] === 'tree')) return undefined;
  const id = parseRepoId(`${parts[0]}/${parts[1]}`);
  if (!id) return undefined;
  const revision = parts.length >= 4 ? parts.slice(3).join('/') : DEFAULT_REVISION;
  return { kind: 'hub', repo: id.repo, revision, endpoint: HUB_ENDPOINT };
}
