import { describe, expect, it } from 'vitest';
import { avcNalLengthSize, isDisposableAvcPacket } from './h264-refs';

/** Length-prefixed NAL units with the given header bytes (payload 3 bytes each). */
function packet(headers: number[], lengthSize = 4): Uint8Array {
  const parts: number[] = [];
  for (const h of headers) {
    const len = 4;
    for (let i = lengthSize - 1; i >= 0; i--) parts.push((len >> (8 * i)) & 0xff);
    parts.push(h, 0x88, 0x84, 0x00);
  }
  return new Uint8Array(parts);
}

describe('isDisposableAvcPacket', () => {
  it('non-reference B slice (nal_ref_idc 0, type 1) is disposable', () => {
    expect(isDisposableAvcPacket(packet([0x01]), 4)).toBe(true);
    expect(isDisposableAvcPacket(packet([0x09, 0x06, 0x01, 0x01]), 4)).toBe(true); // AUD, SEI, two slices
  });
  it('reference slices and IDR are not', () => {
    expect(isDisposableAvcPacket(packet([0x21]), 4)).toBe(false); // ref_idc 1, non-IDR
    expect(isDisposableAvcPacket(packet([0x41]), 4)).toBe(false); // ref_idc 2
    expect(isDisposableAvcPacket(packet([0x65]), 4)).toBe(false); // IDR
    expect(isDisposableAvcPacket(packet([0x01, 0x21]), 4)).toBe(false); // one referenced slice
  });
  it('no slice, a truncated NAL or trailing bytes: not disposable', () => {
    expect(isDisposableAvcPacket(packet([0x06]), 4)).toBe(false);
    expect(isDisposableAvcPacket(packet([0x01]).subarray(0, 6), 4)).toBe(false);
    expect(isDisposableAvcPacket(new Uint8Array([...packet([0x01]), 0]), 4)).toBe(false);
  });
  it('2-byte NAL lengths', () => {
    expect(isDisposableAvcPacket(packet([0x01], 2), 2)).toBe(true);
  });
});

describe('avcNalLengthSize', () => {
  it('reads lengthSizeMinusOne from avcC', () => {
    expect(avcNalLengthSize(new Uint8Array([1, 0x64, 0, 0x1f, 0xff, 0xe1, 0]))).toBe(4);
    expect(avcNalLengthSize(new Uint8Array([1, 0x64, 0, 0x1f, 0xfd, 0xe1, 0]))).toBe(2);
    expect(avcNalLengthSize(undefined)).toBeNull();
    expect(avcNalLengthSize(new Uint8Array([0, 0, 0, 1]))).toBeNull();
  });
});
