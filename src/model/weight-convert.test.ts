import { describe, expect, it } from 'vitest';
import { f32ToF16Bits } from '../gpu/f16';
import { bf16ToF32, f32ToBf16, roundToBf16, toFloat16Bits, toFloat32 } from './weight-convert';

describe('weight-convert', () => {
  it('bf16 round trip is exact for bf16 values and rounds to nearest even otherwise', () => {
    const exact = [0, -0, 1, -2, 0.5, 3.140625, 2 ** 100, -65536, Number.POSITIVE_INFINITY];
    expect(Array.from(roundToBf16(exact))).toEqual(exact);
    // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: ties to even (1).
    expect(roundToBf16([1 + 2 ** -8])[0]).toBe(1);
    expect(roundToBf16([1 + 3 * 2 ** -8])[0]).toBe(1 + 2 ** -6);
    expect(roundToBf16([1 + 2 ** -8 + 2 ** -20])[0]).toBe(1 + 2 ** -7);
    expect(Number.isNaN(roundToBf16([Number.NaN])[0])).toBe(true);
    expect(Array.from(f32ToBf16([1, -1]))).toEqual([0x3f80, 0xbf80]);
    expect(Array.from(bf16ToF32(new Uint16Array([0x4049])))).toEqual([3.140625]);
  });

  it('converts loaded tensors to f32 and to f16 bits', () => {
    const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const vals = [1, -0.5, 100, 2 ** -30];
    const asBf16 = { name: 'x', dtype: 'BF16' as const, bytes: bytes(f32ToBf16(vals)) };
    expect(Array.from(toFloat32(asBf16))).toEqual(vals);
    // f16 flushes 2^-30 to zero, like any f16 cast.
    expect(Array.from(toFloat16Bits(asBf16))).toEqual([...vals.slice(0, 3).map(f32ToF16Bits), 0]);
    const asF16 = { name: 'y', dtype: 'F16' as const, bytes: bytes(new Uint16Array(vals.map(f32ToF16Bits))) };
    expect(Array.from(toFloat32(asF16))).toEqual([1, -0.5, 100, 0]);
    // An odd byteOffset (a sub-view) still converts.
    const odd = new Uint8Array(9);
    odd.set(bytes(f32ToBf16([2, 4, 8, 16])), 1);
    expect(Array.from(toFloat32({ name: 'z', dtype: 'BF16', bytes: odd.subarray(1) }))).toEqual([
      2, 4, 8, 16,
    ]);
  });
});
