/**
 * Serves `files` under `prefix` in a Playwright page like a static server: HEAD, GET, single byte
 * ranges, 416 past the end, 404s. Returns the requests it saw (method, file, range), in order.
 */
import type { Page, Route } from '@playwright/test';

export interface SeenRequest {
  method: string;
  file: string;
  range?: string;
}

export async function serveFiles(
  page: Page,
  prefix: string,
  files: Map<string, Uint8Array>,
): Promise<SeenRequest[]> {
  const seen: SeenRequest[] = [];
  await page.route(`**${prefix}**`, async (route: Route) => {
    const req = route.request();
    const file = decodeURIComponent(new URL(req.url()).pathname.slice(prefix.length));
    seen.push({ method: req.method(), file, range: req.headers().range });
    const body = files.get(file);
    if (!body) return route.fulfill({ status: 404, body: 'not found' });
    const base = { 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    if (req.method() === 'HEAD')
      return route.fulfill({ status: 200, headers: { ...base, 'content-length': String(body.byteLength) } });
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers().range ?? '');
    if (!m) return route.fulfill({ status: 200, headers: base, body: Buffer.from(body) });
    const start = Number(m[1]);
    const end = Math.min(m[2] ? Number(m[2]) : body.byteLength - 1, body.byteLength - 1);
    if (start >= body.byteLength)
      return route.fulfill({ status: 416, headers: { 'content-range': `bytes */${body.byteLength}` } });
    return route.fulfill({
      status: 206,
      headers: { ...base, 'content-range': `bytes ${start}-${end}/${body.byteLength}` },
      body: Buffer.from(body.subarray(start, end + 1)),
    });
  });
  return seen;
}
