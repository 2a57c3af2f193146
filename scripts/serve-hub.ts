/**
 * npx tsx scripts/serve-hub.ts <checkpoint dir> [--repo Zhang199/TinyLLaVA-Video-R1] [--revision main]
 *                              [--port 0] [--no-range] [--drop-once <file>] [--log]
 *
 * Serves a local checkpoint folder exactly as the Hugging Face hub serves a repo (the tests' server,
 * src/model/testing/hub-server.ts): `/{repo}/resolve/{revision}/{file}`, 302 to a CDN path for the
 * shards, CORS. Prints the HF_ENDPOINT to use, e.g.
 *   HF_ENDPOINT=http://127.0.0.1:<port> npm run infer -- --model Zhang199/TinyLLaVA-Video-R1 …
 * `--drop-once <file>` cuts the first sizeable read of that file midway (the load must resume);
 * `--no-range` ignores Range headers (whole-file answers).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startHubServer } from '../src/model/testing/hub-server';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    repo: { type: 'string', default: 'Zhang199/TinyLLaVA-Video-R1' },
    revision: { type: 'string', default: 'main' },
    port: { type: 'string', default: '0' },
    'no-range': { type: 'boolean', default: false },
    'drop-once': { type: 'string' },
    log: { type: 'boolean', default: false },
  },
});
const dir = positionals[0];
if (!dir || !statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
  console.error(
    'usage: npx tsx scripts/serve-hub.ts <checkpoint dir> [--repo ns/name] [--no-range] [--drop-once file]',
  );
  process.exit(2);
}
const files = new Map<string, Uint8Array>();
for (const f of readdirSync(dir))
  if (statSync(join(dir, f)).isFile() && f !== 'fixture.json')
    files.set(f, new Uint8Array(readFileSync(join(dir, f))));

let dropped = false;
const server = await startHubServer({
  repo: values.repo,
  revision: values.revision,
  files,
  range: !values['no-range'],
  port: Number(values.port),
  fault: (r) => {
    if (values.log) console.log(`${r.method} ${r.cdn ? 'cdn' : 'hub'} ${r.file} ${r.range ?? ''}`);
    if (dropped || r.file !== values['drop-once'] || !r.cdn || r.method !== 'GET' || r.nth < 2)
      return undefined;
    dropped = true;
    console.log(`serve-hub: dropping the connection of ${r.file} ${r.range ?? ''} midway`);
    return { dropAfterBytes: Math.floor(files.get(r.file)!.byteLength / 4) };
  },
});
console.log(`serve-hub: ${dir} as ${values.repo}@${values.revision}`);
console.log(`HF_ENDPOINT=${server.endpoint}`);
process.on('SIGINT', () => void server.close().then(() => process.exit(0)));
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
