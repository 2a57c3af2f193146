import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { roundToF16 } from '../f16';
import { ctx, dtypes } from '../testing/kernel-suite';
import {
  denormalizePlanes,
  normalizePlanes,
  normalizeTable,
  type PixelNorm,
  packRgba,
  pilBicubicCoeffs,
  resizeBicubic,
  resizeBicubicCpu,
  resizeBicubicU8Cpu,
} from './resize';

/** Mean 0.5, std 0.5 per channel (SigLIP's statistics): x/255 mapped to [−1, 1]. */
const HALF: PixelNorm = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
/** Statistics that differ per channel (CLIP's), so a channel mix-up shows. */
const PER_CHANNEL: PixelNorm = {
  mean: [0.48145466, 0.4578275, 0.40821073],
  std: [0.26862954, 0.26130258, 0.27577711],
};

// ---- deterministic images, the same integer formulas as scripts/reference/pil_resize.py ----------

function hash32(x: number, y: number, c: number, seed: number): number {
  let h = (Math.imul(x, 73856093) ^ Math.imul(y, 19349663) ^ Math.imul(c, 83492791) ^ seed) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

type Pattern = 'noise' | 'gradient' | 'checker' | 'blocks' | 'mixed';

/** RGB or RGBA (alpha 255) bytes [H, W, ch] of a test pattern. */
function makeImage(W: number, H: number, pattern: Pattern, seed: number, ch: 3 | 4 = 3): Uint8Array {
  const out = new Uint8Array(W * H * ch);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++)
      for (let c = 0; c < ch; c++) {
        let v: number;
        if (c === 3) v = 255;
        else if (pattern === 'noise') v = hash32(x, y, c, seed) & 255;
        else if (pattern === 'gradient')
          v = [
            Math.floor((x * 255) / Math.max(W - 1, 1)),
            Math.floor((y * 255) / Math.max(H - 1, 1)),
            Math.floor(((x + y) * 255) / Math.max(W + H - 2, 1)),
          ][c];
        else if (pattern === 'checker') v = (((x >> (c + 1)) ^ (y >> (c + 1))) & 1) * 255;
        else if (pattern === 'blocks') v = (((x >> (c + 5)) ^ (y >> (c + 5))) & 1) * 255;
        else
          v = (((x >> 3) ^ (y >> 2)) & 1) * 160 + (hash32(x, y, c, seed) & 63) + ((x + y * 2 + c * 40) % 32);
        out[(y * W + x) * ch + c] = v;
      }
  return out;
}

function fnv1a(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i], 0x01000193) >>> 0;
  return h;
}

function maxDiffU8(a: Uint8Array, b: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// ---- CPU reference vs real PIL -----------------------------------------------------------------

const GOLDENS = join(import.meta.dirname, '../../../test-data/goldens/resize');

interface GoldenCase {
  name: string;
  W: number;
  H: number;
  S: number;
  pattern: Pattern;
  seed: number;
  inputFnv1a: number;
  file: string;
}

describe('resizeBicubicCpu vs PIL goldens (bit-exact)', () => {
  const index = JSON.parse(readFileSync(join(GOLDENS, 'index.json'), 'utf8')) as { cases: GoldenCase[] };
  it('has goldens', () => expect(index.cases.length).toBeGreaterThan(10));
  for (const g of index.cases) {
    it(`${g.name}: ${g.W}×${g.H} → ${g.S}`, () => {
      const img = makeImage(g.W, g.H, g.pattern, g.seed);
      expect(fnv1a(img), 'input generator differs from pil_resize.py').toBe(g.inputFnv1a);
      const want = new Uint8Array(gunzipSync(readFileSync(join(GOLDENS, g.file))));
      const got = resizeBicubicU8Cpu(img, g.W, g.H, g.S, { channels: 3 });
      expect(got.length).toBe(want.length);
      expect(maxDiffU8(got, want)).toBe(0);
    });
  }
});

describe('CPU helpers', () => {
  it('coefficients are the identity when the size does not change', () => {
    const c = pilBicubicCoeffs(10, 10);
    for (let i = 0; i < 10; i++) {
      const start = c.bounds[i * 2];
      const taps = Array.from(c.k.subarray(i * c.ksize, i * c.ksize + c.bounds[i * 2 + 1]));
      expect(taps[i - start]).toBe(1 << 22);
      expect(taps.reduce((a, b) => a + Math.abs(b), 0)).toBe(1 << 22);
    }
  });

  it('antialiases when shrinking: support grows with the scale', () => {
    expect(pilBicubicCoeffs(1280, 384).ksize).toBe(15); // support 2·3.33 → ceil 7 → 15 taps
    expect(pilBicubicCoeffs(200, 384).ksize).toBe(5);
  });

  it('normalisation table with mean = std = 0.5 maps 0 → −1, 255 → 1, as (u/255 − 0.5)/0.5 in f32', () => {
    const t = normalizeTable(HALF);
    expect(t.length).toBe(3 * 256);
    for (let c = 0; c < 3; c++) {
      expect(t[c * 256]).toBe(-1);
      expect(t[c * 256 + 255]).toBe(1);
      expect(Math.abs(t[c * 256 + 128] - (128 / 255 - 0.5) / 0.5)).toBeLessThan(1e-7);
      // Bit-identical to the table the SigLIP constant used to bake in.
      for (let u = 0; u < 256; u++)
        expect(t[c * 256 + u]).toBe(Math.fround(Math.fround(Math.fround(u / 255) - 0.5) / 0.5));
    }
  });

  it('normalisation table per channel: each step rounded to f32 as numpy float32 does', () => {
    const t = normalizeTable(PER_CHANNEL);
    const f = Math.fround;
    for (let c = 0; c < 3; c++)
      for (let u = 0; u < 256; u++) {
        const want = f(f(f(u / 255) - f(PER_CHANNEL.mean[c])) / f(PER_CHANNEL.std[c]));
        expect(t[c * 256 + u]).toBe(want);
        expect(Math.abs(want - (u / 255 - PER_CHANNEL.mean[c]) / PER_CHANNEL.std[c])).toBeLessThan(1e-6);
      }
    expect(() => normalizeTable({ mean: [0, 0, 0], std: [1, 0, 1] })).toThrow(/normalisation/);
  });

  it('normalises planes per channel and de-normalises back to the uint8 values', () => {
    const S = 5;
    const rgb = new Uint8Array(S * S * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37) & 255;
    for (const norm of [HALF, PER_CHANNEL]) {
      const planes = normalizePlanes(rgb, S, norm);
      expect(planes[S * S + 2]).toBe(normalizeTable(norm)[256 + rgb[2 * 3 + 1]]); // G of pixel 2
      expect(maxDiffU8(denormalizePlanes(planes, S, norm), rgb)).toBe(0);
    }
  });
});

// ---- GPU kernel vs CPU reference ----------------------------------------------------------------

/** The GPU's output for this dtype must equal the CPU f32 values (f16: the same values rounded). */
function expectFrame(
  got: Float32Array,
  cpu: Float32Array,
  dtype: 'f32' | 'f16',
  S: number,
  norm: PixelNorm = HALF,
): void {
  const want = dtype === 'f16' ? roundToF16(cpu) : cpu;
  let bad = 0;
  let first = -1;
  for (let i = 0; i < want.length; i++)
    if (got[i] !== want[i]) {
      bad++;
      if (first < 0) first = i;
    }
  expect(bad, bad ? `${bad} differ; first [${first}] got ${got[first]} want ${want[first]}` : '').toBe(0);
  // And the uint8 values before normalisation are identical.
  expect(maxDiffU8(denormalizePlanes(got, S, norm), denormalizePlanes(cpu, S, norm))).toBe(0);
}

async function gpuResize(
  rgba: Uint8Array,
  W: number,
  H: number,
  S: number,
  dtype: 'f32' | 'f16',
  opts: { norm?: PixelNorm; stride?: number; F?: number; frame?: number } = {},
): Promise<Float32Array> {
  const stride = opts.stride ?? W;
  const padded = new Uint8Array(H * stride * 4);
  for (let y = 0; y < H; y++) padded.set(rgba.subarray(y * W * 4, (y + 1) * W * 4), y * stride * 4);
  const src = ctx.upload(packRgba(padded), [H, stride], 'u32');
  const F = opts.F ?? 1;
  const frame = opts.frame ?? 0;
  const out = ctx.upload(new Float32Array(F * 3 * S * S).fill(7), [F, 3, S, S], dtype);
  resizeBicubic(ctx, src, W, H, S, out, frame, { norm: opts.norm ?? HALF });
  const all = await ctx.read(out);
  ctx.release(src, out);
  const n = 3 * S * S;
  for (let f = 0; f < F; f++)
    if (f !== frame) expect(all.subarray(f * n, (f + 1) * n).every((v) => v === 7)).toBe(true);
  return all.slice(frame * n, (frame + 1) * n);
}

describe('resizeBicubic (GPU) vs CPU reference', () => {
  const cases: [number, number, number, Pattern][] = [
    [161, 121, 64, 'noise'],
    [100, 50, 37, 'checker'],
    [13, 7, 24, 'mixed'],
    [1, 1, 3, 'noise'],
    [200, 200, 384, 'mixed'],
    [1280, 720, 384, 'noise'],
  ];
  for (const dtype of dtypes) {
    for (const [W, H, S, pattern] of cases)
      it(`${dtype} ${pattern} ${W}×${H} → ${S}`, async () => {
        const img = makeImage(W, H, pattern, W + H, 4);
        const want = resizeBicubicCpu(img, W, H, S, { norm: HALF });
        expectFrame(await gpuResize(img, W, H, S, dtype), want, dtype, S);
      });

    // After the 161×121 → 64 case above: the same coefficients with other statistics must not hit its cache.
    it(`${dtype} per-channel normalisation: 161×121 → 64`, async () => {
      const img = makeImage(161, 121, 'noise', 161 + 121, 4);
      const got = await gpuResize(img, 161, 121, 64, dtype, { norm: PER_CHANNEL });
      const want = resizeBicubicCpu(img, 161, 121, 64, { norm: PER_CHANNEL });
      expectFrame(got, want, dtype, 64, PER_CHANNEL);
    });

    it(`${dtype} padded rows and frame 2 of 3`, async () => {
      const img = makeImage(45, 30, 'noise', 9, 4);
      const got = await gpuResize(img, 45, 30, 20, dtype, { stride: 64, F: 3, frame: 2 });
      expectFrame(got, resizeBicubicCpu(img, 45, 30, 20, { norm: HALF }), dtype, 20);
    });

    it(`${dtype} texture source`, async () => {
      const [W, H, S] = [70, 33, 24];
      const img = makeImage(W, H, 'mixed', 4, 4);
      const tex = ctx.device.createTexture({
        size: [W, H],
        format: 'rgba8unorm',
        usage: GPUTextureUsage.COPY_DST | GPUTextureUsage.COPY_SRC | GPUTextureUsage.TEXTURE_BINDING,
      });
      ctx.device.queue.writeTexture({ texture: tex }, img, { bytesPerRow: W * 4 }, [W, H]);
      const out = ctx.empty([2, 3, S, S], dtype);
      resizeBicubic(ctx, tex, W, H, S, out, 1, { norm: PER_CHANNEL });
      const got = (await ctx.read(out)).slice(3 * S * S);
      tex.destroy();
      ctx.release(out);
      expectFrame(got, resizeBicubicCpu(img, W, H, S, { norm: PER_CHANNEL }), dtype, S, PER_CHANNEL);
    });
  }

  it('rejects a wrong output shape and frame index', () => {
    const src = ctx.upload(new Uint32Array(4), [2, 2], 'u32');
    const out = ctx.empty([1, 3, 4, 4], 'f32');
    expect(() => resizeBicubic(ctx, src, 2, 2, 5, out, 0, { norm: HALF })).toThrow(/shape/);
    expect(() => resizeBicubic(ctx, src, 2, 2, 4, out, 1, { norm: HALF })).toThrow(/frame/);
    ctx.release(src, out);
  });
});
