/**
 * Frame preprocessing for the vision tower: an RGBA8 image → resized straight to S×S with PIL's
 * bicubic filter → x/255 → (x − mean_c)/std_c per channel c → frame f of a [F, 3, S, S] tensor (RGB
 * planes). The statistics are the caller's (`PixelNorm`, from the model's config); nothing here knows
 * which model the frames are for.
 *
 * What is matched: upstream runs `Image.resize((S, S), Image.BICUBIC)` (Pillow) on an RGB uint8 frame.
 * Pillow's 8-bit path (libImaging/Resample.c, read for this; behaviour re-implemented, not copied):
 *   - Cubic convolution kernel with a = −0.5, support 2. When shrinking, the kernel is stretched by the
 *     scale (support 2·scale, argument divided by scale), which is what antialiases; when enlarging,
 *     scale is clamped to 1.
 *   - Per output index i: center = (i + 0.5)·scale; taps from xmin = trunc(center − support + 0.5)
 *     (≥ 0) to trunc(center + support + 0.5) (≤ size), weight w(j) = K((j − center + 0.5)/filterscale),
 *     normalised by their sum, then fixed point: trunc(w·2²² ± 0.5) (22 fractional bits).
 *   - Separable: the horizontal pass first, each channel Σ px·k + 2²¹ in int32, >> 22 (floor),
 *     clamped to [0, 255] — an 8-bit intermediate image — then the vertical pass the same way.
 *     Pillow skips a pass whose size does not change; with scale 1 the weights are exactly
 *     [0, 2²², 0, 0], so always running both passes gives the same bytes (verified by the goldens).
 * Here: coefficients are computed on the host in f64 with Pillow's operation order (so the same
 * doubles) and uploaded as int32; the GPU does the same integer arithmetic, so the uint8 values are
 * bit-identical to the CPU reference. Normalisation uses a 256-entry f32 table per channel of
 * (u/255 − mean_c)/std_c evaluated in f32 (upstream's numpy float32 rescale/normalise may differ by ≤ 1
 * f32 ulp; f16 output is that value rounded by the GPU's f32→f16 conversion).
 * Not replicated: upstream skips the /255 for a frame whose max value is ≤ 1 (an all-black frame).
 *
 * Measured (resize.test.ts, goldens from scripts/reference/pil_resize.py, Pillow 9.4.0 x86-64):
 * max |CPU reference − PIL| on the uint8 output = 0 (bit-exact) on every golden:
 *   noise 161×121→64, mixed 161×121→192, noise 1280×720→384, gradient 1280×720→384,
 *   blocks 1920×1080→64, mixed 100×500→64, noise 500×100→37, mixed 200×200→384,
 *   checker 384×384→384 (identity), noise 96×61→96 (one axis identity), checker 3×2→64,
 *   noise 7×5→5, noise 33×17→1.
 * (Sensitivity: dropping the +0.5 of the fixed-point rounding alone breaks 6 of the 13 goldens.)
 * GPU vs CPU reference (resize.test.ts, e2e/preprocess.lib.spec.ts): identical uint8 values on
 * lavapipe (f16 and f32), SwiftShader in Node (f32) and SwiftShader in Chromium (f32); f32 outputs
 * bit-equal to the CPU's, f16 outputs equal to the CPU's f32 value rounded to f16 (RNE).
 * Whole-pipeline difference from upstream therefore reduces to the frame's YUV → RGB conversion.
 *
 * Kernels: `resize_horizontal_flat` (one thread per intermediate pixel: S columns × every input row)
 * and `resize_vertical_flat` (one thread per output pixel, writes its 3 planes). No barriers: the work
 * per frame is tiny (1280×720→384: ~5 M taps per channel), so there is no 'tiled' variant — shared-memory staging
 * would not pay for itself on real GPUs and costs 3–5× on software ones.
 * Sources arrive upright: rotation metadata is applied by the video layer (src/video/orient.ts).
 */
import { type GpuContext, wgslTypes } from '../context';
import { assertDtype, assertShape, Tensor } from '../tensor';

/**
 * Per-channel (R, G, B) statistics of the normalisation x/255 → (x − mean_c)/std_c: the vision
 * processor's `image_mean` and `image_std`.
 */
export interface PixelNorm {
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

const PRECISION_BITS = 22;
const WG = 64;

// ---- host: Pillow's coefficients ------------------------------------------------------------------

/** Pillow's bicubic kernel (a = −0.5), same operation order as the C source. */
function bicubic(x: number): number {
  const a = -0.5;
  const t = x < 0 ? -x : x;
  if (t < 1) return ((a + 2.0) * t - (a + 3.0)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

/** Resampling taps for one axis: per output index, the first input index and tap count, and int32 weights. */
export interface AxisCoeffs {
  /** Taps per output (the row length of `k`). */
  ksize: number;
  /** [out · 2]: first input index, number of taps. */
  bounds: Int32Array;
  /** [out · ksize]: fixed-point weights with 22 fractional bits; unused taps are 0. */
  k: Int32Array;
}

export function pilBicubicCoeffs(inSize: number, outSize: number): AxisCoeffs {
  if (!(inSize >= 1 && outSize >= 1)) throw new Error(`resize: bad sizes ${inSize} → ${outSize}`);
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 2.0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const k = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1.0 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const n = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < n; x++) {
      w[x] = bicubic((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (let x = 0; x < n; x++) {
      const v = ww !== 0 ? w[x] / ww : w[x];
      k[xx * ksize + x] = Math.trunc(
        v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS),
      );
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = n;
  }
  return { ksize, bounds, k };
}

/**
 * The normalisation as three 256-entry tables (R, G, B): entry c·256 + u is (u/255 − mean_c)/std_c,
 * each step rounded to f32 as numpy float32 arithmetic does (mean and std are f32 arrays there too).
 */
export function normalizeTable(norm: PixelNorm): Float32Array {
  const t = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(norm.mean[c]);
    const std = Math.fround(norm.std[c]);
    if (!(Number.isFinite(mean) && Number.isFinite(std) && std !== 0))
      throw new Error(`resize: bad normalisation mean ${norm.mean} std ${norm.std}`);
    for (let u = 0; u < 256; u++)
      t[c * 256 + u] = Math.fround(Math.fround(Math.fround(u / 255) - mean) / std);
  }
  return t;
}

// ---- CPU reference --------------------------------------------------------------------------------

const clip8 = (s: number) => {
  const v = s >> PRECISION_BITS;
  return Math.max(0, Math.min(v, 255));
};

/**
 * PIL-exact bicubic resize to S×S of an 8-bit image with `channels` bytes per pixel (3 = RGB, 4 = RGBA;
 * only R, G, B are used). Returns RGB uint8, interleaved [S, S, 3].
 */
export function resizeBicubicU8Cpu(
  pixels: Uint8Array,
  W: number,
  H: number,
  S: number,
  opts: { channels?: 3 | 4 } = {},
): Uint8Array {
  const ch = opts.channels ?? 4;
  if (pixels.length < W * H * ch)
    throw new Error(`resizeBicubicCpu: ${pixels.length} bytes for ${W}×${H}×${ch}`);
  const h = pilBicubicCoeffs(W, S);
  const v = pilBicubicCoeffs(H, S);
  // Horizontal pass into an 8-bit intermediate [H, S, 3], as Pillow does.
  const tmp = new Uint8Array(H * S * 3);
  for (let y = 0; y < H; y++) {
    for (let xx = 0; xx < S; xx++) {
      const xmin = h.bounds[xx * 2];
      const n = h.bounds[xx * 2 + 1];
      let r = 1 << (PRECISION_BITS - 1);
      let g = r;
      let b = r;
      for (let i = 0; i < n; i++) {
        const p = (y * W + xmin + i) * ch;
        const k = h.k[xx * h.ksize + i];
        r += pixels[p] * k;
        g += pixels[p + 1] * k;
        b += pixels[p + 2] * k;
      }
      const t = (y * S + xx) * 3;
      tmp[t] = clip8(r);
      tmp[t + 1] = clip8(g);
      tmp[t + 2] = clip8(b);
    }
  }
  const out = new Uint8Array(S * S * 3);
  for (let yy = 0; yy < S; yy++) {
    const ymin = v.bounds[yy * 2];
    const n = v.bounds[yy * 2 + 1];
    for (let xx = 0; xx < S; xx++) {
      let r = 1 << (PRECISION_BITS - 1);
      let g = r;
      let b = r;
      for (let i = 0; i < n; i++) {
        const t = ((ymin + i) * S + xx) * 3;
        const k = v.k[yy * v.ksize + i];
        r += tmp[t] * k;
        g += tmp[t + 1] * k;
        b += tmp[t + 2] * k;
      }
      const q = (yy * S + xx) * 3;
      out[q] = clip8(r);
      out[q + 1] = clip8(g);
      out[q + 2] = clip8(b);
    }
  }
  return out;
}

/** CPU reference of the whole preprocessing: RGBA [H, W, 4] → normalised f32 [3, S, S]. */
export function resizeBicubicCpu(
  rgba: Uint8Array,
  W: number,
  H: number,
  S: number,
  opts: { norm: PixelNorm; channels?: 3 | 4 },
): Float32Array {
  return normalizePlanes(resizeBicubicU8Cpu(rgba, W, H, S, opts), S, opts.norm);
}

/** RGB interleaved uint8 [S, S, 3] → normalised planes [3, S, S]. */
export function normalizePlanes(rgb: Uint8Array, S: number, norm: PixelNorm): Float32Array {
  const table = normalizeTable(norm);
  const out = new Float32Array(3 * S * S);
  for (let i = 0; i < S * S; i++)
    for (let c = 0; c < 3; c++) out[c * S * S + i] = table[c * 256 + rgb[i * 3 + c]];
  return out;
}

/** Inverse of the normalisation (for tests and debugging): planes [3, S, S] → uint8 RGB [S, S, 3]. */
export function denormalizePlanes(planes: ArrayLike<number>, S: number, norm: PixelNorm): Uint8Array {
  const out = new Uint8Array(S * S * 3);
  for (let i = 0; i < S * S; i++)
    for (let c = 0; c < 3; c++) {
      const x = planes[c * S * S + i] * norm.std[c] + norm.mean[c];
      out[i * 3 + c] = Math.max(0, Math.min(255, Math.round(x * 255)));
    }
  return out;
}

// ---- GPU --------------------------------------------------------------------------------------------

// One uniform struct for both passes (u32 fields only; i32 values are bit-cast).
const PARAMS = `struct P {
  rows: u32, S: u32, kH: u32, kV: u32,
  offKH: u32, offBV: u32, offKV: u32, offLut: u32,
  outBase: u32, srcStride: u32,
}
fn clip8(s: i32) -> u32 { return u32(clamp(s >> ${PRECISION_BITS}u, 0, 255)); }
`;

const HORIZONTAL = `${PARAMS}
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read> coef: array<i32>;
@group(0) @binding(2) var<storage, read_write> tmp: array<u32>;
@group(0) @binding(3) var<uniform> p: P;

// Thread (xx, y): intermediate pixel xx of input row y.
@compute @workgroup_size(${WG})
fn resize_horizontal_flat(@builtin(global_invocation_id) g: vec3u) {
  let xx = g.x;
  let y = g.y;
  if (xx >= p.S || y >= p.rows) { return; }
  let xmin = coef[2u * xx];
  let n = coef[2u * xx + 1u];
  let kb = p.offKH + xx * p.kH;
  var a = y * p.srcStride + u32(xmin);
  var r = ${1 << (PRECISION_BITS - 1)};
  var gg = r;
  var b = r;
  for (var i = 0; i < n; i++) {
    let px = src[a];
    let k = coef[kb + u32(i)];
    r += i32(px & 0xffu) * k;
    gg += i32((px >> 8u) & 0xffu) * k;
    b += i32((px >> 16u) & 0xffu) * k;
    a += 1u;
  }
  tmp[y * p.S + xx] = clip8(r) | (clip8(gg) << 8u) | (clip8(b) << 16u);
}`;

function verticalShader(dtype: 'f32' | 'f16'): string {
  return `${wgslTypes({ T: dtype })}${PARAMS}
@group(0) @binding(0) var<storage, read> tmp: array<u32>;
@group(0) @binding(1) var<storage, read> coef: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<T>;
@group(0) @binding(3) var<uniform> p: P;

// Channel c's table entry for the uint8 value u.
fn norm(c: u32, u: u32) -> T { return T(bitcast<f32>(coef[p.offLut + c * 256u + u])); }

// Thread (xx, yy): output pixel, all three planes.
@compute @workgroup_size(${WG})
fn resize_vertical_flat(@builtin(global_invocation_id) g: vec3u) {
  let xx = g.x;
  let yy = g.y;
  if (xx >= p.S || yy >= p.S) { return; }
  let ymin = u32(coef[p.offBV + 2u * yy]);
  let n = u32(coef[p.offBV + 2u * yy + 1u]);
  let kb = p.offKV + yy * p.kV;
  var r = ${1 << (PRECISION_BITS - 1)};
  var gg = r;
  var b = r;
  for (var i = 0u; i < n; i++) {
    let px = tmp[(ymin + i) * p.S + xx];
    let k = coef[kb + i];
    r += i32(px & 0xffu) * k;
    gg += i32((px >> 8u) & 0xffu) * k;
    b += i32((px >> 16u) & 0xffu) * k;
  }
  let plane = p.S * p.S;
  let o = p.outBase + yy * p.S + xx;
  out[o] = norm(0u, clip8(r));
  out[o + plane] = norm(1u, clip8(gg));
  out[o + 2u * plane] = norm(2u, clip8(b));
}`;
}

/** Uploaded per (input width, input height, S, norm): [boundsH | kH | boundsV | kV | R, G, B tables]. */
interface CoeffBuffer {
  tensor: Tensor;
  kH: number;
  kV: number;
  offKH: number;
  offBV: number;
  offKV: number;
  offLut: number;
}

const coeffCache = new WeakMap<GpuContext, Map<string, CoeffBuffer>>();
const COEFF_CACHE_SIZE = 8;

function coeffBuffer(ctx: GpuContext, inW: number, inH: number, S: number, norm: PixelNorm): CoeffBuffer {
  let cache = coeffCache.get(ctx);
  if (!cache) {
    cache = new Map();
    coeffCache.set(ctx, cache);
  }
  const key = `${inW}x${inH}:${S}:${norm.mean.join(',')}/${norm.std.join(',')}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const h = pilBicubicCoeffs(inW, S);
  const v = pilBicubicCoeffs(inH, S);
  const offKH = h.bounds.length;
  const offBV = offKH + h.k.length;
  const offKV = offBV + v.bounds.length;
  const offLut = offKV + v.k.length;
  const table = normalizeTable(norm);
  const data = new Int32Array(offLut + table.length);
  data.set(h.bounds, 0);
  data.set(h.k, offKH);
  data.set(v.bounds, offBV);
  data.set(v.k, offKV);
  data.set(new Int32Array(table.buffer), offLut);
  const entry = {
    tensor: ctx.keep(ctx.upload(new Uint32Array(data.buffer), [data.length], 'u32')), // cached past any scope
    kH: h.ksize,
    kV: v.ksize,
    offKH,
    offBV,
    offKV,
    offLut,
  };
  if (cache.size >= COEFF_CACHE_SIZE) {
    // Oldest first (Map keeps insertion order). Queue order keeps pending reads of it valid.
    const [oldKey, old] = cache.entries().next().value as [string, CoeffBuffer];
    cache.delete(oldKey);
    ctx.release(old.tensor);
  }
  cache.set(key, entry);
  return entry;
}

export interface ResizeOptions {
  /** Per-channel normalisation after x/255 (the model's image_mean / image_std). */
  norm: PixelNorm;
}

/**
 * Resizes one RGBA8 image to S×S (PIL bicubic), normalises it with `opts.norm`, and writes it as frame
 * `frameIndex` of `out` [F, 3, S, S] (f32 or f16). `src` is either a u32 tensor [H, stride] of packed RGBA bytes
 * (R in the low byte; stride ≥ srcW pixels) or an rgba8unorm texture (copied to a buffer first).
 * Records into the context's encoder (a texture source flushes pending work first).
 */
export function resizeBicubic(
  ctx: GpuContext,
  src: GPUTexture | Tensor,
  srcW: number,
  srcH: number,
  S: number,
  out: Tensor,
  frameIndex: number,
  opts: ResizeOptions,
): void {
  assertDtype('resize.out', out, 'f32', 'f16');
  assertShape('resize.out', out, [undefined, 3, S, S]);
  if (!(frameIndex >= 0 && frameIndex < out.shape[0] && Number.isInteger(frameIndex)))
    throw new Error(`resize: frame ${frameIndex} outside [0, ${out.shape[0]})`);
  if (src instanceof Tensor) {
    resizeFromBuffer(ctx, src, srcW, srcH, S, out, frameIndex, opts.norm);
    return;
  }
  const staged = stageTexture(ctx, src, srcW, srcH);
  resizeFromBuffer(ctx, staged, srcW, srcH, S, out, frameIndex, opts.norm);
  ctx.release(staged);
}

/** Copies the top-left srcW×srcH of an rgba8 texture into a pooled u32 buffer [srcH, stride]. */
function stageTexture(ctx: GpuContext, tex: GPUTexture, srcW: number, srcH: number): Tensor {
  if (!tex.format.startsWith('rgba8unorm'))
    throw new Error(`resize: texture format ${tex.format}, expected rgba8unorm`);
  if (srcW > tex.width || srcH > tex.height)
    throw new Error(`resize: ${srcW}×${srcH} exceeds texture ${tex.width}×${tex.height}`);
  const bytesPerRow = Math.ceil((srcW * 4) / 256) * 256;
  const staged = ctx.empty([srcH, bytesPerRow / 4], 'u32', 'resize.staged');
  // The copy must sit outside a compute pass: submit what is recorded, then the copy, in queue order.
  ctx.flush();
  const enc = ctx.device.createCommandEncoder({ label: 'resize.stage' });
  enc.copyTextureToBuffer({ texture: tex }, { buffer: staged.buffer, bytesPerRow, rowsPerImage: srcH }, [
    srcW,
    srcH,
  ]);
  ctx.device.queue.submit([enc.finish()]);
  return staged;
}

function resizeFromBuffer(
  ctx: GpuContext,
  src: Tensor,
  srcW: number,
  srcH: number,
  S: number,
  out: Tensor,
  frameIndex: number,
  norm: PixelNorm,
): void {
  assertDtype('resize.src', src, 'u32');
  const stride = src.shape[src.shape.length - 1];
  if (src.shape.length !== 2 || src.shape[0] < srcH || stride < srcW)
    throw new Error(`resize: source [${src.shape.join(', ')}] too small for ${srcW}×${srcH}`);
  const c = coeffBuffer(ctx, srcW, srcH, S, norm);
  const uniforms = {
    u32: [srcH, S, c.kH, c.kV, c.offKH, c.offBV, c.offKV, c.offLut, frameIndex * 3 * S * S, stride],
  };
  const tmp = ctx.empty([srcH, S], 'u32', 'resize.tmp');
  ctx.dispatch({
    pipeline: ctx.pipeline(HORIZONTAL, 'resize_horizontal_flat'),
    bindings: [src, c.tensor, tmp],
    uniforms,
    workgroups: [Math.ceil(S / WG), srcH],
    label: 'resize_horizontal_flat',
  });
  ctx.dispatch({
    pipeline: ctx.pipeline(verticalShader(out.dtype as 'f32' | 'f16'), 'resize_vertical_flat'),
    bindings: [tmp, c.tensor, out],
    uniforms,
    workgroups: [Math.ceil(S / WG), S],
    label: 'resize_vertical_flat',
  });
  ctx.release(tmp);
}

/** Packs RGBA bytes [H, W, 4] into the u32 words the kernel reads (little-endian: R in the low byte). */
export function packRgba(rgba: Uint8Array): Uint32Array {
  if (rgba.byteOffset % 4 === 0 && rgba.length % 4 === 0)
    return new Uint32Array(rgba.buffer, rgba.byteOffset, rgba.length / 4).slice();
  const out = new Uint32Array(Math.ceil(rgba.length / 4));
  new Uint8Array(out.buffer).set(rgba);
  return out;
}
