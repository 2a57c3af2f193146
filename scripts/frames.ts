/**
 * `npm run frames -- <video> --out <dir> [--n 16] [--every <seconds>] [--decoders 2] [--element]`
 *
 * Runs the app's own video pipeline in headless Chromium (engine worker: mediabunny demux, WebCodecs
 * decode of the uniformly sampled frames, or the <video> fallback; then the model's GPU preprocessing,
 * bicubic resize to 384×384) and writes the sampled frames as PNG plus frames.json (indices,
 * timestamps in µs, display size, codec, decode path).
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';
import type { SampleMethod } from '../src/video/sampling';
import { evaluateWithRetry, fileIntoPage, openHarness } from './browser/harness';
import type { FramesOptions, FramesResult } from './browser/pages/frames';

const PAGE = '/scripts/browser/pages/frames.ts';
const SIZE = 384;

function usage(msg?: string): never {
  if (msg) console.error(msg);
  console.error(
    'usage: npm run frames -- <video> --out <dir> [--n 8|16|32] [--every <seconds>] [--decoders N] [--element]',
  );
  process.exit(2);
}

function parseArgs(argv: string[]) {
  let video: string | null = null;
  let out: string | null = null;
  let method: SampleMethod = { kind: 'uniform', n: 16 };
  let decoders = 2;
  let forceElement = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i] ?? usage(`${a} needs a value`);
    if (a === '--out') out = next();
    else if (a === '--n') method = { kind: 'uniform', n: Number.parseInt(next(), 10) };
    else if (a === '--every') method = { kind: 'every-seconds', seconds: Number(next()), maxFrames: 64 };
    else if (a === '--decoders') decoders = Number.parseInt(next(), 10);
    else if (a === '--element') forceElement = true;
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else video = a;
  }
  if (!video || !out) usage();
  if (method.kind === 'uniform' && !(method.n >= 1)) usage('--n must be a positive integer');
  return { video: resolve(video), out: resolve(out), method, decoders, forceElement };
}

/** Minimal PNG writer: 8-bit RGB, filter 0 on every row, one zlib stream. */
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
export function encodePng(rgb: Uint8Array, width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    Buffer.from(rgb.buffer, rgb.byteOffset + y * width * 3, width * 3).copy(raw, y * (width * 3 + 1) + 1);
  }
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    sig,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  statSync(args.video); // fail early on a missing file
  mkdirSync(args.out, { recursive: true });
  const t0 = performance.now();
  const harness = await openHarness({ module: PAGE });
  try {
    await fileIntoPage(harness.page, args.video);
    const options: FramesOptions = {
      method: args.method,
      decoders: args.decoders,
      forceElement: args.forceElement,
      size: SIZE,
    };
    const r: FramesResult = await evaluateWithRetry(
      harness.page,
      async ({ PAGE, options }) => {
        const m: typeof import('./browser/pages/frames') = await import(PAGE);
        const file = (document.getElementById('cli-file') as HTMLInputElement).files![0];
        return m.runFrames(file, options);
      },
      { PAGE, options },
      () => fileIntoPage(harness.page, args.video),
    );
    const v = r.video;
    const frames = v.indices.map((index, slot) => {
      const file = `frame-${String(slot).padStart(2, '0')}-idx${index}.png`;
      writeFileSync(join(args.out, file), encodePng(Buffer.from(r.rgb[slot], 'base64'), SIZE, SIZE));
      return { slot, index, timestamp_us: v.timestampsUs[slot], file };
    });
    const json = {
      video: basename(args.video),
      method: v.method,
      frame_count: v.facts.frameCount,
      indices: v.indices,
      timestamps_us: v.timestampsUs,
      display_size: [v.facts.displayWidth, v.facts.displayHeight],
      coded_size: [v.facts.codedWidth, v.facts.codedHeight],
      rotation: v.facts.rotation,
      container: v.facts.container,
      codec: v.facts.codec,
      codec_string: v.facts.codecString,
      fps: v.facts.fps,
      duration_s: v.facts.durationS,
      decode_path: v.path,
      decode_path_reason: v.reason,
      decoders: v.decoders,
      packets_decoded: v.packetsDecoded,
      load_ms: Math.round(r.loadMs),
      resize: r.resize,
      resize_note: r.resizeNote,
      frames,
    };
    writeFileSync(join(args.out, 'frames.json'), `${JSON.stringify(json, null, 2)}\n`);
    console.log(
      `${basename(args.video)}: ${v.facts.frameCount} frames (${v.facts.container}, ${v.facts.codecString ?? v.facts.codec}, ` +
        `${v.facts.displayWidth}×${v.facts.displayHeight}); sampled ${v.indices.length} via ${v.path} ` +
        `(${v.reason}) in ${Math.round(r.loadMs)} ms; resize: ${r.resize}.`,
    );
    console.log(
      `wrote ${frames.length} PNG (${SIZE}×${SIZE}) and frames.json to ${args.out} (${Math.round(performance.now() - t0)} ms in all)`,
    );
  } finally {
    await harness.close();
  }
}

main().catch((err) => {
  // Errors from the page arrive as "page.evaluate: Error: <kind>: <message>" plus a page stack.
  const msg = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  console.error(msg.replace(/^page\.evaluate: (Error: )?/, ''));
  process.exit(1);
});
