/**
 * Frame preprocessing in real headless Chromium (WebCodecs + WebGPU on SwiftShader):
 * src/gpu/frames-to-tensor.ts against the CPU reference of src/gpu/kernels/resize.ts.
 *
 * - A decoded frame of a real clip: the GPU path converts YUV → RGB itself (copyExternalImageToTexture),
 *   the CPU reference gets the canvas's conversion of the same frame; the two conversions differ per
 *   pixel by up to ~30/255 (WEBGPU.md), so this compares by PSNR and mean error. The same frame's GPU-
 *   converted pixels fed to the CPU reference must give the GPU tensor exactly (bit-exact kernel).
 * - Synthetic RGBA frames (converted exactly by the browser): rotation and flip as the frame's own
 *   metadata (oriented by the browser's texture copy), a visible rectangle smaller than the coded size
 *   with a different display size, and an ImageBitmap — all exactly equal to the CPU reference.
 * - A clip with rotation metadata, made upright by src/video/orient.ts as the app does, equals
 *   mediabunny's rotated drawing of it.
 */
import { expect, type Page, test } from '@playwright/test';

const S = 384;
/** Mean 0.5 and std 0.5 per channel (SigLIP's; the tests pass it as the model does). */
const NORM = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] } as const;
const CLIPS = [
  { file: 'androidx_bear-vp9-odd-dimensions.webm', visible: [161, 121] }, // VP9, coded 256×121
  { file: 'mdn_flower.mp4', visible: [960, 540] }, // H.264 High, coded 960×546
];

type FtT = typeof import('../src/gpu/frames-to-tensor');
type ResizeT = typeof import('../src/gpu/kernels/resize');
type OrientT = typeof import('../src/video/orient');

async function openPage(page: Page): Promise<void> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // A blank page on the dev server's origin: modules load from Vite, and the app (with its own GPU
  // work) does not run alongside the measurement.
  await page.route('**/__preprocess_blank', (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>preprocess</title>' }),
  );
  await page.goto('/__preprocess_blank');
  const ok = await page.evaluate(async () => Boolean(await navigator.gpu?.requestAdapter()));
  expect(ok, `WebGPU adapter (page errors: ${errors.join('; ')})`).toBe(true);
}

for (const clip of CLIPS)
  test(`a decoded frame of ${clip.file}: GPU preprocessing vs CPU reference`, async ({ page }, testInfo) => {
    await openPage(page);
    const r = await page.evaluate(
      async ({ clip, S, norm }) => {
        const load = (p: string) => import(/* @vite-ignore */ p);
        const ft: FtT = await load('/src/gpu/frames-to-tensor.ts');
        const rz: ResizeT = await load('/src/gpu/kernels/resize.ts');
        const { GpuContext } = await load('/src/gpu/context.ts');
        const { acquireDevice } = await load('/src/gpu/device.ts');
        const mb = await load('/node_modules/mediabunny/dist/modules/src/index.js');

        const { device, summary } = await acquireDevice(navigator.gpu);
        const ctx = new GpuContext(device, summary);
        const input = new mb.Input({ source: new mb.UrlSource(clip), formats: mb.ALL_FORMATS });
        const track = await input.getPrimaryVideoTrack();
        const sample = await new mb.VideoSampleSink(track).getSample(0.5);
        if (!sample) throw new Error('no sample at 0.5 s');
        const frame: VideoFrame = sample.toVideoFrame();
        const frames = [frame, frame.clone()];
        const info = {
          coded: [frame.codedWidth, frame.codedHeight],
          visible: [frame.visibleRect!.width, frame.visibleRect!.height],
          display: [frame.displayWidth, frame.displayHeight],
          format: frame.format,
          dtype: ctx.actDtype,
        };
        const { width: W, height: H } = ft.frameSourceSize(frame);

        // The pixels each upload path resizes: the texture path's GPU conversion (read back), and the
        // copyTo path's CPU conversion.
        const tex = device.createTexture({
          size: [W, H],
          format: 'rgba8unorm',
          usage: GPUTextureUsage.COPY_DST | GPUTextureUsage.COPY_SRC | GPUTextureUsage.RENDER_ATTACHMENT,
        });
        device.queue.copyExternalImageToTexture({ source: frame }, { texture: tex }, [W, H]);
        const bpr = Math.ceil((W * 4) / 256) * 256;
        const staging = device.createBuffer({
          size: bpr * H,
          usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ,
        });
        const enc = device.createCommandEncoder();
        enc.copyTextureToBuffer({ texture: tex }, { buffer: staging, bytesPerRow: bpr }, [W, H]);
        device.queue.submit([enc.finish()]);
        await staging.mapAsync(GPUMapMode.READ);
        const rows = new Uint8Array(staging.getMappedRange());
        const texturePixels = new Uint8Array(W * H * 4);
        for (let y = 0; y < H; y++) texturePixels.set(rows.subarray(y * bpr, y * bpr + W * 4), y * W * 4);
        staging.unmap();
        tex.destroy();
        const copyToPixels = new Uint8Array(W * H * 4);
        await frame.copyTo(copyToPixels, { format: 'RGBA', colorSpace: 'srgb' } as VideoFrameCopyToOptions);

        // The canvas's (CPU) conversion of the same frame.
        const canvas = new OffscreenCanvas(W, H);
        const c2d = canvas.getContext('2d')!;
        c2d.drawImage(frame, 0, 0, W, H);
        const canvasPixels = new Uint8Array(c2d.getImageData(0, 0, W, H).data.buffer);
        sample.close();

        const fromCanvas = rz.resizeBicubicCpu(canvasPixels, W, H, S, { norm });
        const paths = [];
        for (const [upload, pixels] of [
          ['texture', texturePixels],
          ['copyTo', copyToPixels],
        ] as const) {
          const f = frames[0];
          const out = await ft.framesToTensor(ctx, [f], S, { upload, norm });
          const gpu = await ctx.read(out);
          ctx.release(out);
          const t0 = performance.now();
          const out4 = await ft.framesToTensor(ctx, frames, S, { upload, norm });
          await ctx.read(out4);
          const msPerFrame = (performance.now() - t0) / frames.length;
          ctx.release(out4);
          // Exact on the pixels this path converted.
          const want = rz.resizeBicubicCpu(pixels, W, H, S, { norm });
          let exactMismatches = 0;
          for (let i = 0; i < gpu.length; i++) if (gpu[i] !== want[i]) exactMismatches++;
          // Against the canvas's conversion, in uint8 units.
          const a = rz.denormalizePlanes(gpu, S, norm);
          const b = rz.denormalizePlanes(fromCanvas, S, norm);
          let se = 0;
          let sad = 0;
          let maxd = 0;
          for (let i = 0; i < a.length; i++) {
            const d = a[i] - b[i];
            se += d * d;
            sad += Math.abs(d);
            maxd = Math.max(maxd, Math.abs(d));
          }
          // Input-level conversion difference, for context.
          let inMax = 0;
          let inSad = 0;
          for (let i = 0; i < pixels.length; i++)
            if (i % 4 !== 3) {
              const d = Math.abs(pixels[i] - canvasPixels[i]);
              inMax = Math.max(inMax, d);
              inSad += d;
            }
          paths.push({
            upload,
            exactMismatches,
            psnr: 10 * Math.log10((255 * 255) / (se / a.length)),
            meanAbs: sad / a.length,
            maxAbs: maxd,
            inputMaxAbs: inMax,
            inputMeanAbs: inSad / ((pixels.length / 4) * 3),
            msPerFrame,
          });
        }
        for (const f of frames) f.close();
        ft.releaseFrameUploads(ctx);
        device.destroy();
        input.dispose?.();
        return { info, W, H, defaultPath: ft.defaultUploadPath(ctx), paths };
      },
      { clip: `/test-data/videos/${clip.file}`, S, norm: NORM },
    );
    console.log(JSON.stringify(r));
    testInfo.annotations.push({ type: 'measured', description: JSON.stringify(r) });
    expect(r.info.visible).toEqual(clip.visible);
    expect([r.W, r.H]).toEqual(clip.visible);
    expect(r.defaultPath).toBe('copyTo'); // SwiftShader is a software adapter
    for (const p of r.paths) {
      // The kernel is exact on the pixels it was given.
      expect(p.exactMismatches, p.upload).toBe(0);
      // Only the YUV→RGB conversion differs from the canvas's (measured: see the annotation).
      expect(p.psnr, p.upload).toBeGreaterThan(35);
      expect(p.meanAbs, p.upload).toBeLessThan(1.5);
      expect(p.maxAbs, p.upload).toBeLessThanOrEqual(32);
    }
  });

test('synthetic frames: own rotation and flip, visible rect ≠ coded ≠ display size, ImageBitmap — exact', async ({
  page,
}) => {
  await openPage(page);
  const { out: results, used } = await page.evaluate(async (norm) => {
    const load = (p: string) => import(/* @vite-ignore */ p);
    const ft: FtT = await load('/src/gpu/frames-to-tensor.ts');
    const rz: ResizeT = await load('/src/gpu/kernels/resize.ts');
    const orient: OrientT = await load('/src/video/orient.ts');
    const { GpuContext } = await load('/src/gpu/context.ts');
    const { acquireDevice } = await load('/src/gpu/device.ts');
    const mb = await load('/node_modules/mediabunny/dist/modules/src/index.js');
    const { device, summary } = await acquireDevice(navigator.gpu);
    const ctx = new GpuContext(device, summary);

    // An asymmetric RGBA pattern (opaque; RGBA frames are copied without colour conversion).
    const W = 53;
    const H = 31;
    const S = 24;
    const px = new Uint8Array(W * H * 4);
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const i = (y * W + x) * 4;
        px[i] = (x * 7 + ((x * y) % 13) * 9) & 255;
        px[i + 1] = (y * 11 + (x >> 2) * 17) & 255;
        px[i + 2] = ((x ^ y) * 5) & 255;
        px[i + 3] = 255;
      }
    const rgbaFrame = (init: Partial<VideoFrameBufferInit> & Record<string, unknown> = {}) =>
      new VideoFrame(px, {
        format: 'RGBA',
        codedWidth: W,
        codedHeight: H,
        timestamp: 0,
        ...init,
      } as VideoFrameBufferInit);
    type Img = { data: Uint8Array; width: number; height: number };
    /** RGBA pixels rotated clockwise with the app's CPU rotation (src/video/orient.ts). */
    const rotate = (img: Img, rot: 0 | 90 | 180 | 270): Img => {
      const [width, height] = orient.rotatedSize(img.width, img.height, rot);
      const src = new Uint32Array(img.data.slice().buffer);
      const dst = new Uint32Array(width * height);
      orient.rotatePlane(src, img.width, img.width, img.height, dst, rot);
      return { data: new Uint8Array(dst.buffer), width, height };
    };
    const mirror = (img: Img): Img => {
      const data = new Uint8Array(img.data.length);
      for (let y = 0; y < img.height; y++)
        for (let x = 0; x < img.width; x++) {
          const from = (y * img.width + img.width - 1 - x) * 4;
          data.set(img.data.subarray(from, from + 4), (y * img.width + x) * 4);
        }
      return { data, width: img.width, height: img.height };
    };
    const full: Img = { data: px, width: W, height: H };

    let upload: 'texture' | 'copyTo' = 'texture';
    const used = new Set<string>();
    async function run(frame: VideoFrame | ImageBitmap): Promise<Float32Array> {
      const out = ctx.empty([1, 3, S, S], 'f32');
      const path = await ft.frameIntoTensor(ctx, frame, out, 0, { upload, norm });
      const oriented =
        'visibleRect' in frame &&
        (((frame as { rotation?: number }).rotation ?? 0) !== 0 || (frame as { flip?: boolean }).flip);
      used.add(
        `${upload}→${path}${'visibleRect' in frame ? (oriented ? ' (oriented)' : '') : ' (ImageBitmap)'}`,
      );
      const v = await ctx.read(out);
      ctx.release(out);
      return v;
    }
    function compare(name: string, got: Float32Array, want: Float32Array) {
      let bad = 0;
      for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) bad++;
      return { name: `${upload}: ${name}`, bad, n: want.length };
    }
    const cpuOf = (img: Img) => rz.resizeBicubicCpu(img.data, img.width, img.height, S, { norm });
    const out: { name: string; bad: number; n: number; extra?: unknown }[] = [];
    let flipSupported = false;

    for (upload of ['texture', 'copyTo'] as const) {
      // 1. An upright frame.
      {
        const f = rgbaFrame();
        out.push(compare('upright frame', await run(f), cpuOf(full)));
        f.close();
      }
      // 2. Orientation carried by the VideoFrame itself: the browser orients the texture copy (copyTo
      //    would not, so such frames take the texture path whatever `upload` says).
      for (const rot of [90, 180, 270] as const) {
        const f = rgbaFrame({ rotation: rot });
        const size = ft.frameSourceSize(f);
        out.push({
          ...compare(`frame rotation ${rot}`, await run(f), cpuOf(rotate(full, rot))),
          extra: size,
        });
        f.close();
      }
      {
        const f = rgbaFrame({ flip: true });
        flipSupported = (f as { flip?: boolean }).flip === true;
        if (flipSupported) out.push(compare('frame flip', await run(f), cpuOf(mirror(full))));
        f.close();
      }
      // 3. Visible rect smaller than the coded size, display size stretched (non-square pixels): the
      //    visible pixels at stored resolution are resized, not the display-scaled picture.
      {
        const base = rgbaFrame();
        const rect = { x: 6, y: 3, width: 37, height: 22 };
        const f = new VideoFrame(base, { visibleRect: rect, displayWidth: 74, displayHeight: 22 });
        const crop = new Uint8Array(rect.width * rect.height * 4);
        for (let y = 0; y < rect.height; y++)
          crop.set(
            px.subarray(((rect.y + y) * W + rect.x) * 4, ((rect.y + y) * W + rect.x + rect.width) * 4),
            y * rect.width * 4,
          );
        const cropped: Img = { data: crop, width: rect.width, height: rect.height };
        const info = [f.codedWidth, f.codedHeight, f.displayWidth, f.displayHeight, ft.frameSourceSize(f)];
        out.push({
          ...compare('visible rect ≠ coded, display ≠ visible', await run(f), cpuOf(cropped)),
          extra: info,
        });
        // A rotated frame whose display size also differs.
        const g = new VideoFrame(base, {
          visibleRect: rect,
          displayWidth: 50,
          displayHeight: 30,
          rotation: 90,
        } as VideoFrameInit);
        out.push({
          ...compare('frame rotation 90, display ≠ visible', await run(g), cpuOf(rotate(cropped, 90))),
          extra: [g.displayWidth, g.displayHeight, ft.frameSourceSize(g)],
        });
        f.close();
        g.close();
        base.close();
      }
      // 4. ImageBitmap.
      {
        const bmp = await createImageBitmap(new ImageData(new Uint8ClampedArray(px), W, H), {
          colorSpaceConversion: 'none',
          premultiplyAlpha: 'none',
        });
        out.push(compare('ImageBitmap', await run(bmp), cpuOf(full)));
        bmp.close();
      }
    }
    // 5. Our clockwise convention is mediabunny's: its rotated draw of the frame equals orient.ts's.
    {
      const f = rgbaFrame();
      const sample = new mb.VideoSample(f, { rotation: 90 });
      const canvas = new OffscreenCanvas(H, W);
      const c2d = canvas.getContext('2d')!;
      c2d.imageSmoothingEnabled = false;
      sample.draw(c2d, 0, 0);
      const drawn = c2d.getImageData(0, 0, H, W).data;
      const want = rotate(full, 90).data;
      let maxd = 0;
      for (let i = 0; i < want.length; i++) maxd = Math.max(maxd, Math.abs(drawn[i] - want[i]));
      out.push({ name: 'mediabunny draw(rotation 90) = orient rotatePlane(90)', bad: maxd, n: want.length });
      sample.close();
      f.close();
    }
    ft.releaseFrameUploads(ctx);
    device.destroy();
    return {
      out: out.concat({ name: `flip supported: ${flipSupported}`, bad: 0, n: 0 }),
      used: [...used].sort(),
    };
  }, NORM);
  for (const r of results) console.log(JSON.stringify(r));
  // Upright VideoFrames went the requested way (no silent fallback); frames carrying their own
  // orientation, and ImageBitmaps, always use the texture.
  expect(used).toEqual([
    'copyTo→copyTo',
    'copyTo→texture (ImageBitmap)',
    'copyTo→texture (oriented)',
    'texture→texture',
    'texture→texture (ImageBitmap)',
    'texture→texture (oriented)',
  ]);
  for (const r of results)
    expect(r.bad, `${r.name}: ${r.bad}/${r.n} differ ${JSON.stringify(r.extra ?? '')}`).toBe(0);
});

test('a rotated clip (rotation 90 in the container): made upright on the CPU as mediabunny draws it', async ({
  page,
}, testInfo) => {
  await openPage(page);
  const r = await page.evaluate(
    async ({ clip, S, norm }) => {
      const load = (p: string) => import(/* @vite-ignore */ p);
      const ft: FtT = await load('/src/gpu/frames-to-tensor.ts');
      const rz: ResizeT = await load('/src/gpu/kernels/resize.ts');
      const orient: OrientT = await load('/src/video/orient.ts');
      const { GpuContext } = await load('/src/gpu/context.ts');
      const { acquireDevice } = await load('/src/gpu/device.ts');
      const mb = await load('/node_modules/mediabunny/dist/modules/src/index.js');
      const { device, summary } = await acquireDevice(navigator.gpu);
      const ctx = new GpuContext(device, summary);
      const input = new mb.Input({ source: new mb.UrlSource(clip), formats: mb.ALL_FORMATS });
      const track = await input.getPrimaryVideoTrack();
      const sample = await new mb.VideoSampleSink(track).getSample(0.5);
      if (!sample) throw new Error('no sample at 0.5 s');
      const rotation = sample.rotation as 0 | 90 | 180 | 270;
      const decoded: VideoFrame = sample.toVideoFrame();
      const info = {
        rotation,
        frameRotation: (decoded as { rotation?: number }).rotation ?? 0,
        format: decoded.format,
        visible: [decoded.visibleRect!.width, decoded.visibleRect!.height],
        display: [sample.displayWidth, sample.displayHeight],
      };
      // The app's path: the video layer rotates the planes on the CPU, the GPU resizes the upright frame
      // (default upload path on SwiftShader: copyTo).
      const frame = await orient.uprightFrame(decoded, rotation);
      const { width: W, height: H } = frame.visibleRect!;
      const out = await ft.framesToTensor(ctx, [frame], S, { norm });
      const gpu = await ctx.read(out);
      ctx.release(out);
      // mediabunny's own rendering of the sample, rotation applied.
      const [dw, dh] = [sample.displayWidth, sample.displayHeight];
      const c2d = new OffscreenCanvas(dw, dh).getContext('2d')!;
      c2d.imageSmoothingEnabled = false;
      sample.draw(c2d, 0, 0);
      const drawn = new Uint8Array(c2d.getImageData(0, 0, dw, dh).data.buffer);
      const fromDrawn = rz.resizeBicubicCpu(drawn, dw, dh, S, { norm });
      // The upright frame's own pixels through the CPU reference.
      const raw = new Uint8Array(W * H * 4);
      await frame.copyTo(raw, { format: 'RGBA', colorSpace: 'srgb' } as VideoFrameCopyToOptions);
      const fromRaw = rz.resizeBicubicCpu(raw, W, H, S, { norm });
      frame.close();
      sample.close();
      ft.releaseFrameUploads(ctx);
      device.destroy();
      let exact = 0;
      for (let i = 0; i < gpu.length; i++) if (gpu[i] !== fromRaw[i]) exact++;
      const a = rz.denormalizePlanes(gpu, S, norm);
      const b = rz.denormalizePlanes(fromDrawn, S, norm);
      let se = 0;
      let maxd = 0;
      for (let i = 0; i < a.length; i++) {
        se += (a[i] - b[i]) ** 2;
        maxd = Math.max(maxd, Math.abs(a[i] - b[i]));
      }
      return {
        info,
        upright: [W, H],
        exactMismatches: exact,
        psnrVsDrawn: 10 * Math.log10((255 * 255) / (se / a.length)),
        maxAbsVsDrawn: maxd,
      };
    },
    { clip: '/test-data/videos/mediabunny_rotate-buck-bunny.mp4', S, norm: NORM },
  );
  console.log(JSON.stringify(r));
  testInfo.annotations.push({ type: 'measured', description: JSON.stringify(r) });
  expect(r.info.rotation).toBe(90);
  expect(r.info.frameRotation).toBe(0); // the decoder's frames are unrotated: the video layer does it
  expect(r.info.display).toEqual([r.info.visible[1], r.info.visible[0]]);
  expect(r.upright).toEqual(r.info.display);
  expect(r.exactMismatches).toBe(0);
  // A wrong rotation convention would give ~10 dB here.
  expect(r.psnrVsDrawn).toBeGreaterThan(40);
});
