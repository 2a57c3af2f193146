import { describe, expect, it } from 'vitest';
import { planeShapes, type Rotation, rotatedSize, rotatePlane } from './orient';

/** Plain reference: rotate a w×h matrix clockwise by quarter turns, one turn at a time. */
function rotateRef(m: number[][], rotation: Rotation): number[][] {
  let out = m;
  for (let t = 0; t < rotation / 90; t++) {
    const h = out.length;
    const w = out[0].length;
    out = Array.from({ length: w }, (_, y) => Array.from({ length: h }, (_, x) => out[h - 1 - x][y]));
  }
  return out;
}

describe('rotatePlane', () => {
  for (const rotation of [0, 90, 180, 270] as Rotation[]) {
    for (const [w, h, stride] of [
      [3, 2, 3],
      [5, 3, 8],
      [1, 4, 1],
      [7, 7, 9],
    ]) {
      it(`${w}×${h} (stride ${stride}) by ${rotation}°`, () => {
        const m = Array.from({ length: h }, (_, y) => Array.from({ length: w }, (_, x) => y * 16 + x + 1));
        const src = new Uint8Array(stride * h);
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) src[y * stride + x] = m[y][x];
        const dst = new Uint8Array(w * h);
        rotatePlane(src, stride, w, h, dst, rotation);
        const [ow] = rotatedSize(w, h, rotation);
        const got = Array.from({ length: dst.length / ow }, (_, y) =>
          Array.from(dst.subarray(y * ow, (y + 1) * ow)),
        );
        expect(got).toEqual(rotateRef(m, rotation));
      });
    }
  }

  it('moves 16- and 32-bit elements whole', () => {
    const src = new Uint32Array([0x01020304, 0x05060708]); // 2×1
    const dst = new Uint32Array(2);
    rotatePlane(src, 2, 2, 1, dst, 90); // → 1×2 column
    expect(Array.from(dst)).toEqual([0x01020304, 0x05060708]);
    const s16 = new Uint16Array([1, 2, 3, 4]); // 2×2
    const d16 = new Uint16Array(4);
    rotatePlane(s16, 2, 2, 2, d16, 90);
    expect(Array.from(d16)).toEqual([3, 1, 4, 2]);
  });
});

describe('planeShapes', () => {
  it('describes 4:2:0 with odd sizes, NV12 and RGBA; refuses 4:2:2', () => {
    expect(planeShapes('I420', 161, 121)).toEqual([
      { w: 161, h: 121, bytes: 1 },
      { w: 81, h: 61, bytes: 1 },
      { w: 81, h: 61, bytes: 1 },
    ]);
    expect(planeShapes('I420P10' as VideoPixelFormat, 4, 4)?.[0].bytes).toBe(2);
    expect(planeShapes('I420A', 4, 4)).toHaveLength(4);
    expect(planeShapes('NV12', 4, 4)).toEqual([
      { w: 4, h: 4, bytes: 1 },
      { w: 2, h: 2, bytes: 2 },
    ]);
    expect(planeShapes('BGRA', 4, 4)).toEqual([{ w: 4, h: 4, bytes: 4 }]);
    expect(planeShapes('I422', 4, 4)).toBeNull();
  });
});
