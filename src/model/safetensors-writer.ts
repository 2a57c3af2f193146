/**
 * safetensors writer (fixtures, tests, adapter checkpoints): tensors in the order given, the
 * header padded with spaces to a multiple of 8 bytes as the reference writer does. The one place that
 * writes a safetensors header (the test support that edits headers goes through encodeHeader too).
 */
import { DTYPE_BYTES, type StDtype } from './safetensors';

export interface TensorToWrite {
  name: string;
  dtype: StDtype;
  shape: number[];
  /** Raw little-endian bytes (a typed array's buffer is fine). */
  data: ArrayBufferView;
}

export function encodeSafetensors(
  tensors: TensorToWrite[],
  metadata: Record<string, string> = {},
): Uint8Array<ArrayBuffer> {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== n)
      throw new Error(`${t.name}: ${t.data.byteLength} bytes given, shape × ${t.dtype} needs ${n}`);
    if (t.name in header) throw new Error(`tensor ${t.name} given twice`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  const head = encodeHeader(header);
  const out = new Uint8Array(head.byteLength + offset);
  out.set(head);
  let at = head.byteLength;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/**
 * The bytes before the tensor data: the u64 little-endian header length, then the header's JSON
 * padded with spaces to a multiple of 8 bytes. `header` is written as given (no checks), so tests
 * can write broken ones.
 */
export function encodeHeader(header: Record<string, unknown>): Uint8Array<ArrayBuffer> {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const n = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + n).fill(0x20, 8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  return out;
}

/** The index file HF writes next to shards: {metadata: {total_size}, weight_map: {name: file}}. */
export function encodeIndex(weightMap: Record<string, string>, totalSize: number): string {
  const sorted = Object.fromEntries(
    Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  return JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sorted }, null, 2) + '\n';
}
