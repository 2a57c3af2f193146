/**
 * GpuContext's recording caches on the adapter of this run: cached bind groups and uniform buffers
 * must give exactly what a fresh (uncached) bind group gives when pooled buffers come back with new
 * contents, when uniforms differ, after a pool trim, and across evictions; uploads recorded between
 * dispatches must not disturb them; a repeated sequence must hit the caches with one submit.
 */
import { describe, expect, it } from 'vitest';
import { GpuContext, type GpuStats } from './context';
import { randn } from './random';
import type { Tensor } from './tensor';
import { ctx } from './testing/kernel-suite';

const N = 256;

// y[i] = a·x[i] + b + f32(k): every uniform field changes the output.
const AXPB = `
struct P { n: u32, k: u32, a: f32, b: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(64)
fn axpb(@builtin(global_invocation_id) g: vec3u) {
  if (g.x >= p.n) { return; }
  y[g.x] = p.a * x[g.x] + p.b + f32(p.k);
}`;

// z[i] = x[i] + y[i]
const ADD = `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> z: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(64)
fn add2(@builtin(global_invocation_id) g: vec3u) {
  if (g.x >= p.n) { return; }
  z[g.x] = x[g.x] + y[g.x];
}`;

interface Coef {
  k: number;
  a: number;
  b: number;
}

function axpb(c: GpuContext, x: Tensor, coef: Coef): Tensor {
  return axpbInto(c, x, c.empty([x.size], 'f32'), coef);
}

function axpbInto(c: GpuContext, x: Tensor, y: Tensor, { k, a, b }: Coef): Tensor {
  c.dispatch({
    pipeline: c.pipeline(AXPB, 'axpb'),
    bindings: [x, y],
    uniforms: { u32: [x.size, k], f32: [a, b] },
    workgroups: [Math.ceil(x.size / 64)],
  });
  return y;
}

function add(c: GpuContext, x: Tensor, y: Tensor): Tensor {
  const z = c.empty([x.size], 'f32');
  c.dispatch({
    pipeline: c.pipeline(ADD, 'add2'),
    bindings: [x, y, z],
    uniforms: { u32: [x.size] },
    workgroups: [Math.ceil(x.size / 64)],
  });
  return z;
}

/** The same kernel with a bind group and buffers made for this one call: the uncached reference. */
async function axpbUncached(x: Float32Array, { k, a, b }: Coef): Promise<Float32Array> {
  const { device } = ctx;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const xb = device.createBuffer({ size: x.byteLength, usage });
  const yb = device.createBuffer({ size: x.byteLength, usage });
  const ub = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const rb = device.createBuffer({
    size: x.byteLength,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const u = new ArrayBuffer(16);
  new Uint32Array(u, 0, 2).set([x.length, k]);
  new Float32Array(u, 8, 2).set([a, b]);
  device.queue.writeBuffer(xb, 0, x);
  device.queue.writeBuffer(ub, 0, u);
  const pipeline = ctx.pipeline(AXPB, 'axpb');
  const group = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [xb, yb, ub].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(Math.ceil(x.length / 64));
  pass.end();
  enc.copyBufferToBuffer(yb, 0, rb, 0, x.byteLength);
  device.queue.submit([enc.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(rb.getMappedRange().slice(0));
  for (const buf of [xb, yb, ub, rb]) buf.destroy();
  return out;
}

const snapshot = (c: GpuContext): GpuStats => ({ ...c.stats });
const delta = (c: GpuContext, s: GpuStats): GpuStats => {
  const d = { ...c.stats };
  for (const k of Object.keys(d) as (keyof GpuStats)[]) d[k] -= s[k];
  return d;
};

const C1: Coef = { k: 3, a: 0.5, b: -2 };
const C2: Coef = { k: 7, a: -1.25, b: 0.125 };

describe('GpuContext recording caches', () => {
  it('pooled buffers refilled with new contents: cache hits, new data seen', async () => {
    let warm: GpuStats | null = null;
    for (let round = 0; round < 4; round++) {
      if (round === 2) warm = snapshot(ctx);
      const data = randn(N, 100 + round);
      const x = ctx.upload(data, [N], 'f32');
      const y = axpb(ctx, x, C1);
      expect(await ctx.read(y)).toEqual(await axpbUncached(data, C1));
      ctx.release(x, y);
    }
    const d = delta(ctx, warm!);
    expect(d.dispatches).toBe(2);
    expect(d.bindGroupsCreated).toBe(0);
    expect(d.uniformBuffersCreated).toBe(0);
    expect(d.stagingBuffersCreated).toBe(0); // the readback buffer is reused
  });

  it('uploads recorded between dispatches do not disturb them, in one submit', async () => {
    const s = snapshot(ctx);
    const d1 = randn(N, 1);
    const d2 = randn(N, 2);
    const x1 = ctx.upload(d1, [N], 'f32');
    const y1 = axpb(ctx, x1, C1);
    ctx.release(x1); // recorded work still reads x1's buffer: the next upload must not land in it
    const x2 = ctx.upload(d2, [N], 'f32');
    expect(x2.buffer).not.toBe(x1.buffer);
    const y2 = axpb(ctx, x2, C1);
    const z = add(ctx, y1, y2);
    const out = await ctx.read(z);
    expect(delta(ctx, s).submits).toBe(1);
    const [r1, r2] = [await axpbUncached(d1, C1), await axpbUncached(d2, C1)];
    expect(out).toEqual(r1.map((v, i) => Math.fround(v + r2[i])));
    ctx.release(x2, y1, y2, z);
  });

  it('one dispatch site with changing uniforms: rewritten between submits, shared buffers within one', async () => {
    const data = randn(N, 3);
    const x = ctx.upload(data, [N], 'f32');
    const y = ctx.empty([N], 'f32');
    const zero = ctx.upload(new Float32Array(N), [N], 'f32');
    // Coefficients no other test uses (the context's caches outlive a test).
    const c1: Coef = { k: 11, a: 2, b: 0.75 };
    const c2: Coef = { k: 12, a: 2, b: 0.75 };
    const coefs = [c1, c2, c1, { ...c1, b: -0 }, { ...c1, b: 0 }, c2];
    // Across submits: the site's own uniform buffer is rewritten, its bind group kept.
    let s = snapshot(ctx);
    for (const c of coefs) {
      axpbInto(ctx, x, y, c);
      expect(await ctx.read(y)).toEqual(await axpbUncached(data, c));
    }
    let d = delta(ctx, s);
    expect(d.bindGroupsCreated).toBeLessThanOrEqual(1); // 0 when an earlier test made this site
    expect(d.uniformRewrites).toBeGreaterThanOrEqual(coefs.length - 1);
    // Within one recording: the first dispatch must still see its uniforms when later ones differ,
    // so those use immutable content-keyed buffers (keys are bytes: b = -0 and b = 0 differ).
    s = snapshot(ctx);
    const copies = coefs.map((c) => {
      axpbInto(ctx, x, y, c);
      return add(ctx, y, zero);
    });
    const outs = await Promise.all(copies.map((t) => ctx.read(t)));
    for (const [i, c] of coefs.entries()) expect(outs[i]).toEqual(await axpbUncached(data, c));
    expect(outs[0]).not.toEqual(outs[1]);
    d = delta(ctx, s);
    expect(d.uniformRewrites).toBe(1); // only the recording's first use of the site
    ctx.release(x, y, zero, ...copies);
  });

  it('after a pool trim, new buffers get new bind groups and correct results', async () => {
    const data = randn(N, 4);
    let x = ctx.upload(data, [N], 'f32');
    let y = axpb(ctx, x, C2);
    await ctx.read(y);
    const cached = () => ctx.cacheSizes.bindGroups + ctx.cacheSizes.sites;
    const before = cached();
    ctx.release(x, y);
    ctx.pool.trim();
    expect(cached()).toBeLessThan(before); // entries of destroyed buffers dropped
    const s = snapshot(ctx);
    const data2 = randn(N, 5);
    x = ctx.upload(data2, [N], 'f32');
    y = axpb(ctx, x, C2);
    expect(await ctx.read(y)).toEqual(await axpbUncached(data2, C2));
    expect(delta(ctx, s).bindGroupsCreated).toBe(1);
    ctx.release(x, y);
  });

  it('a repeated sequence with pooled temporaries hits the caches, one submit per run', async () => {
    const run = async (seed: number) => {
      const data = randn(N, seed);
      // An upload at the start (nothing pending) and one mid-sequence (commands pending), as a decode step.
      const x = ctx.upload(data, [N], 'f32');
      // Uniforms that change every run (as a kv-write start does every decode step).
      let h = axpb(ctx, x, { ...C1, k: seed });
      ctx.release(x);
      const bias = ctx.upload(
        Float32Array.from({ length: N }, (_, i) => i * 0.25 + seed),
        [N],
        'f32',
      );
      for (let i = 0; i < 3; i++) {
        const t = axpb(ctx, h, { k: i, a: 0.5, b: 1 });
        const next = add(ctx, t, bias);
        ctx.release(h, t);
        h = next;
      }
      ctx.release(bias);
      const out = await ctx.read(h);
      ctx.release(h);
      // CPU reference with tolerance (the GPU may fuse a·x + b).
      const ref = new Float64Array(N);
      for (let j = 0; j < N; j++) {
        let v = C1.a * data[j] + C1.b + seed;
        for (let i = 0; i < 3; i++) v = 0.5 * v + 1 + i + (j * 0.25 + seed);
        ref[j] = v;
      }
      for (let j = 0; j < N; j++) expect(out[j]).toBeCloseTo(ref[j], 3);
    };
    await run(10);
    await run(11);
    const s = snapshot(ctx);
    await run(12);
    await run(13);
    const d = delta(ctx, s);
    expect(d.dispatches).toBe(2 * 7);
    expect(d.submits).toBe(2);
    expect(d.bindGroupsCreated).toBe(0);
    expect(d.uniformBuffersCreated).toBe(0);
    expect(d.uniformRewrites).toBe(2); // the changing uniforms, written in place
  });

  it('evicts only at submit: more distinct uniforms than capacity in one recording stay valid', async () => {
    const small = new GpuContext(ctx.device, ctx.summary, 4);
    try {
      const data = randn(N, 6);
      const x = small.upload(data, [N], 'f32');
      const coefs: Coef[] = Array.from({ length: 12 }, (_, i) => ({ k: i, a: 1 + i / 8, b: -i }));
      for (let rep = 0; rep < 2; rep++) {
        const ys = coefs.map((c) => axpb(small, x, c));
        expect(small.cacheSizes.sites).toBeGreaterThan(4); // nothing evicted while recording
        const outs: Float32Array[] = [];
        for (const y of ys) outs.push(await small.read(y)); // first read submits and evicts
        const sizes = small.cacheSizes;
        expect(Math.max(sizes.sites, sizes.bindGroups, sizes.uniformBuffers)).toBeLessThanOrEqual(4);
        for (const [i, c] of coefs.entries()) expect(outs[i]).toEqual(await axpbUncached(data, c));
        small.release(...ys);
      }
      small.release(x);
    } finally {
      small.destroy();
    }
  });

  it('concurrent reads of the same size get their own data', async () => {
    const a = ctx.upload(randn(N, 7), [N], 'f32');
    const b = ctx.upload(randn(N, 8), [N], 'f32');
    const [ra, rb] = await Promise.all([ctx.read(a), ctx.read(b)]);
    expect(ra).toEqual(randn(N, 7));
    expect(rb).toEqual(randn(N, 8));
    ctx.release(a, b);
  });
});
