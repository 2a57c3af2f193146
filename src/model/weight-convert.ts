/**
 * Host-side dtype conversion of loaded tensors before upload: bf16/f16/f32 → f32 values or f16
 * bits (what ctx.upload takes). bf16 → f32 is exact (bf16 is the top half of an f32); → f16 rounds
 * to nearest even and, like any f16 cast, flushes |x| < 2^-24 to zero and overflows past 65504.
 */
import { f16BitsToF32, f32ToF16Bits } from '../gpu/f16';
import type { LoadedTensor, StDtype } from './safetensors';

export function toFloat32(t: Pick<LoadedTensor, 'dtype' | 'bytes' | 'name'>): Float32Array {
  switch (t.dtype) {
    case 'F32':
      return new Float32Array(
        t.bytes.buffer.slice(t.bytes.byteOffset, t.bytes.byteOffset + t.bytes.byteLength),
      );
    case 'BF16':
      return bf16ToF32(u16View(t.bytes));
    case 'F16':
      return f16ToF32(u16View(t.bytes));
    default:
      throw unsupported(t.name, t.dtype);
  }
}

/** f16 bit patterns (Uint16Array), ready for `ctx.upload(bits, shape, 'f16')`. */
export function toFloat16Bits(t: Pick<LoadedTensor, 'dtype' | 'bytes' | 'name'>): Uint16Array {
  switch (t.dtype) {
    case 'F16':
      return u16View(t.bytes).slice();
    case 'BF16':
    case 'F32': {
      const f = toFloat32(t);
      const out = new Uint16Array(f.length);
      for (let i = 0; i < f.length; i++) out[i] = f32ToF16Bits(f[i]);
      return out;
    }
    default:
      throw unsupported(t.name, t.dtype);
  }
}

/** bf16 bits → f32 (exact): a 16-bit shift into the high half. */
export function bf16ToF32(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i] << 16;
  return new Float32Array(out.buffer);
}

/** f32 → bf16 bits, round to nearest even (NaN stays NaN). */
export function f32ToBf16(values: ArrayLike<number>): Uint16Array {
  // Copying through the Float32Array constructor is ~10× faster than Float32Array.from's iterator.
  const f = values instanceof Float32Array ? new Float32Array(values) : Float32Array.from(values);
  const u = new Uint32Array(f.buffer);
  const out = new Uint16Array(f.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i];
    if ((x & 0x7fffffff) > 0x7f800000) out[i] = (x >>> 16) | 0x40;
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** Round each value to the nearest bf16 (what a bf16 checkpoint stores). */
export function roundToBf16(values: ArrayLike<number>): Float32Array {
  return bf16ToF32(f32ToBf16(values));
}

function f16ToF32(bits: Uint16Array): Float32Array {
  // A 64K-entry table turns per-element decoding into one lookup.
  const table = f16Table();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

let table: Float32Array | undefined;
function f16Table(): Float32Array {
  if (table) return table;
  table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) table[h] = f16BitsToF32(h);
  return table;
}

function u16View(b: Uint8Array): Uint16Array {
  if (b.byteOffset % 2 === 0) return new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2);
  return new Uint16Array(b.slice().buffer);
}

function unsupported(name: string, dtype: StDtype): Error {
  return new Error(`${name}: dtype ${dtype} cannot be converted to float (expected BF16, F16 or F32)`);
}
