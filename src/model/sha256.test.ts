import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Sha256, sha256Hex } from './sha256';

describe('Sha256', () => {
  it('matches node:crypto on every length around the block and padding edges, fed whole or in pieces', () => {
    const data = new Uint8Array(300);
    for (let i = 0; i < data.length; i++) data[i] = (i * 151 + 7) & 255;
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 300]) {
      const want = createHash('sha256').update(data.subarray(0, n)).digest('hex');
      expect(sha256Hex(data.subarray(0, n)), `${n} bytes`).toBe(want);
      const h = new Sha256();
      for (let i = 0; i < n; i += 13) h.update(data.subarray(i, Math.min(n, i + 13)));
      expect(h.hex(), `${n} bytes in pieces`).toBe(want);
    }
  });

  it('hashes "abc" to the FIPS 180-4 example', () => {
    expect(sha256Hex(new TextEncoder().encode('abc'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});
