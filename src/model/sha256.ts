/**
 * SHA-256 fed in pieces (FIPS 180-4), for hashing multi-GB files as they stream: Web Crypto's digest
 * takes only a whole buffer. Used to write and check the per-file hashes of the engine's converted
 * format (engine-format.ts); the result equals `sha256sum`'s.
 */
// Int32Array throughout: V8 keeps the round arithmetic in int32 (uint32 reads above 2³¹ become doubles).
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

export class Sha256 {
  private readonly h = new Int32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  private readonly w = new Int32Array(64);
  /** Bytes of an incomplete block. */
  private readonly tail = new Uint8Array(64);
  private tailLength = 0;
  private length = 0;
  private done = false;

  update(data: Uint8Array): this {
    if (this.done) throw new Error('sha256: update after digest');
    this.length += data.byteLength;
    let i = 0;
    if (this.tailLength > 0) {
      const n = Math.min(64 - this.tailLength, data.byteLength);
      this.tail.set(data.subarray(0, n), this.tailLength);
      this.tailLength += n;
      i = n;
      if (this.tailLength < 64) return this;
      this.blocks(this.tail, 0, 64);
      this.tailLength = 0;
    }
    const whole = i + Math.floor((data.byteLength - i) / 64) * 64;
    this.blocks(data, i, whole);
    this.tail.set(data.subarray(whole), 0);
    this.tailLength = data.byteLength - whole;
    return this;
  }

  /** The digest as lowercase hex; the hasher cannot be fed afterwards. */
  hex(): string {
    const bits = this.length * 8;
    const pad = new Uint8Array((this.tailLength < 56 ? 64 : 128) - this.tailLength);
    pad[0] = 0x80;
    const v = new DataView(pad.buffer);
    v.setUint32(pad.length - 8, Math.floor(bits / 2 ** 32));
    v.setUint32(pad.length - 4, bits >>> 0);
    this.update(pad);
    this.done = true;
    return [...this.h].map((x) => (x >>> 0).toString(16).padStart(8, '0')).join('');
  }

  private blocks(d: Uint8Array, start: number, end: number): void {
    const w = this.w;
    const h = this.h;
    for (let p = start; p < end; p += 64) {
      for (let t = 0; t < 16; t++) {
        const q = p + 4 * t;
        w[t] = (d[q] << 24) | (d[q + 1] << 16) | (d[q + 2] << 8) | d[q + 3];
      }
      for (let t = 16; t < 64; t++) {
        const a = w[t - 15];
        const b = w[t - 2];
        const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
        const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
      }
      let a = h[0] | 0;
      let b = h[1] | 0;
      let c = h[2] | 0;
      let e0 = h[3] | 0;
      let e = h[4] | 0;
      let f = h[5] | 0;
      let g = h[6] | 0;
      let hh = h[7] | 0;
      for (let t = 0; t < 64; t++) {
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const ch = (e & f) ^ (~e & g);
        const t1 = (hh + S1 + ch + K[t] + w[t]) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const maj = (a & b) ^ (a & c) ^ (b & c);
        const t2 = (S0 + maj) | 0;
        hh = g;
        g = f;
        f = e;
        e = (e0 + t1) | 0;
        e0 = c;
        c = b;
        b = a;
        a = (t1 + t2) | 0;
      }
      h[0] = (h[0] + a) | 0;
      h[1] = (h[1] + b) | 0;
      h[2] = (h[2] + c) | 0;
      h[3] = (h[3] + e0) | 0;
      h[4] = (h[4] + e) | 0;
      h[5] = (h[5] + f) | 0;
      h[6] = (h[6] + g) | 0;
      h[7] = (h[7] + hh) | 0;
    }
  }
}

export const sha256Hex = (data: Uint8Array): string => new Sha256().update(data).hex();
