/**
 * A bound on an MP4/MOV's sample tables before mediabunny reads them. mediabunny loops over every
 * sample an stts/ctts entry claims (count × work, no cap), so a damaged 20 KB file whose ctts says
 * 3.5 billion samples freezes the worker for minutes (found by the demuxer fuzz). Here the counts are
 * summed from the boxes themselves and checked against the sample count stsz gives (itself bounded
 * by the box's size or the file's); a table that claims far more samples than the file can hold is
 * refused before any loop runs; so is a chunk (stsc) that claims more samples than the track has.
 * Only the moov box is read (by Blob slices).
 */

/** moov boxes past this are not checked (real ones are a few MB even for hours of video). */
const MAX_MOOV_BYTES = 64 * 1024 * 1024;
/** Top-level boxes scanned for moov before giving up (fragmented files list moof boxes after it). */
const MAX_TOP_BOXES = 4096;
const CONTAINERS = new Set(['trak', 'mdia', 'minf', 'stbl']);

/** Why the tables are impossible, or null when they are plausible (or not ISO-BMFF at all). */
export async function sampleTableProblem(file: Blob): Promise<string | null> {
  const read = async (at: number, n: number) =>
    new Uint8Array(await file.slice(at, Math.min(file.size, at + n)).arrayBuffer());
  let at = 0;
  for (let i = 0; i < MAX_TOP_BOXES && at + 8 <= file.size; i++) {
    const h = await read(at, 16);
    const box = header(h, 0, file.size - at);
    if (!box) return null; // mediabunny names what is wrong with the container
    if (box.type === 'moov') {
      if (box.size > MAX_MOOV_BYTES) return null;
      const moov = await read(at, box.size);
      return checkBoxes(moov, box.head, moov.byteLength, file.size);
    }
    at += box.size;
  }
  return null;
}

interface BoxHeader {
  type: string;
  size: number;
  head: number;
}

function header(b: Uint8Array, at: number, room: number): BoxHeader | null {
  if (at + 8 > b.byteLength) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let size = dv.getUint32(at);
  let head = 8;
  if (size === 1) {
    if (at + 16 > b.byteLength) return null;
    size = Number(dv.getBigUint64(at + 8));
    head = 16;
  } else if (size === 0) size = room;
  if (size < head || size > room) return null;
  return { type: String.fromCharCode(...b.subarray(at + 4, at + 8)), size, head };
}

/** Walks trak → mdia → minf → stbl inside [from, to) of `b`; checks each stbl. */
function checkBoxes(b: Uint8Array, from: number, to: number, fileSize: number): string | null {
  let at = from;
  while (at + 8 <= to) {
    const box = header(b, at, to - at);
    if (!box) return null;
    const body = b.subarray(at + box.head, at + box.size);
    const problem =
      box.type === 'stbl'
        ? checkStbl(body, fileSize)
        : CONTAINERS.has(box.type)
          ? checkBoxes(b, at + box.head, at + box.size, fileSize)
          : null;
    if (problem) return problem;
    at += box.size;
  }
  return null;
}

/** Sum of the `count` fields of an stts/ctts body (full box: version+flags, entry_count, entries). */
function entryCounts(body: Uint8Array, name: string): number | string {
  if (body.byteLength < 8) return `${name} is cut short`;
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const n = dv.getUint32(4);
  if (8 + n * 8 > body.byteLength)
    return `${name} lists ${n} entries but holds ${(body.byteLength - 8) >> 3}`;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += dv.getUint32(8 + i * 8);
  return sum;
}

function checkStbl(stbl: Uint8Array, fileSize: number): string | null {
  const tables = new Map<string, Uint8Array>();
  let at = 0;
  while (at + 8 <= stbl.byteLength) {
    const box = header(stbl, at, stbl.byteLength - at);
    if (!box) break;
    tables.set(box.type, stbl.subarray(at + box.head, at + box.size));
    at += box.size;
  }
  // Samples the file can hold: stsz's count, bounded by its entries or, at a fixed size, the file.
  let samples = fileSize;
  const stsz = tables.get('stsz');
  if (stsz) {
    if (stsz.byteLength < 12) return 'stsz is cut short';
    const dv = new DataView(stsz.buffer, stsz.byteOffset, stsz.byteLength);
    const fixed = dv.getUint32(4);
    const count = dv.getUint32(8);
    if (fixed === 0 && 12 + count * 4 > stsz.byteLength)
      return `stsz lists ${count} sample sizes but holds ${(stsz.byteLength - 12) >> 2}`;
    if (fixed > 0 && count * fixed > fileSize)
      return `stsz claims ${count} samples of ${fixed} bytes in a ${fileSize}-byte file`;
    samples = count;
  }
  // Real files may disagree by a few samples; damage is off by orders of magnitude.
  const bound = 2 * samples + 16;
  for (const name of ['stts', 'ctts']) {
    const body = tables.get(name);
    if (!body) continue;
    const sum = entryCounts(body, name);
    if (typeof sum === 'string') return sum;
    if (sum > bound) return `${name} covers ${sum} samples, the track has ${samples}`;
  }
  // For each sample it reads, mediabunny walks every sample of that sample's chunk: one bit flipped
  // in stsc made a chunk of a billion samples, and listing 30 frames took minutes (found by the fuzz).
  const stsc = tables.get('stsc');
  if (stsc) {
    const most = mostPerChunk(stsc);
    if (typeof most === 'string') return most;
    if (most > bound) return `stsc puts ${most} samples in a chunk, the track has ${samples}`;
  }
  return null;
}

/** The largest samples_per_chunk of an stsc body (full box: entry_count, then 12-byte entries). */
function mostPerChunk(body: Uint8Array): number | string {
  if (body.byteLength < 8) return 'stsc is cut short';
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const n = dv.getUint32(4);
  if (8 + n * 12 > body.byteLength)
    return `stsc lists ${n} entries but holds ${Math.floor((body.byteLength - 8) / 12)}`;
  let most = 0;
  for (let i = 0; i < n; i++) most = Math.max(most, dv.getUint32(8 + i * 12 + 4));
  return most;
}
