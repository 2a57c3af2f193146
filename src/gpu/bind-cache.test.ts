/** The caches on a fake device: keys, hits, LRU order, and when evicted buffers are destroyed. */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BindGroupCache,
  LOW_WATER,
  ObjectIds,
  UniformCache,
  UniformSites,
  uniformData,
  uniformKey,
  uniformWords,
} from './bind-cache';

interface FakeBuffer {
  id: number;
  size: number;
  destroyed: boolean;
  data?: Uint8Array;
  destroy(): void;
}

function fakeDevice() {
  let next = 0;
  const buffers: FakeBuffer[] = [];
  const groups: { layout: unknown; entries: GPUBindGroupEntry[] }[] = [];
  const writes: FakeBuffer[] = [];
  const device = {
    createBuffer(d: GPUBufferDescriptor) {
      const b: FakeBuffer = {
        id: next++,
        size: d.size,
        destroyed: false,
        destroy() {
          this.destroyed = true;
        },
      };
      buffers.push(b);
      return b;
    },
    createBindGroup(d: GPUBindGroupDescriptor) {
      const g = { layout: d.layout, entries: [...d.entries] };
      groups.push(g);
      return g;
    },
    queue: {
      writeBuffer(b: FakeBuffer, _off: number, data: ArrayBuffer) {
        b.data = new Uint8Array(data.slice(0));
        writes.push(b);
      },
    },
  };
  return { device: device as unknown as GPUDevice, buffers, groups, writes };
}

const fakePipeline = () => ({ getBindGroupLayout: () => ({}) }) as unknown as GPUComputePipeline;
const fakeBuffer = () => ({ destroy() {} }) as unknown as GPUBuffer;

beforeAll(() => {
  // Node without Dawn's globals: only the flags the cache ORs together.
  (globalThis as { GPUBufferUsage?: unknown }).GPUBufferUsage ??= { UNIFORM: 0x40, COPY_DST: 0x8 };
});

describe('uniformKey', () => {
  it('pads to 16 bytes and keys the exact bytes', () => {
    expect(uniformWords({ u32: [1] })).toBe(4);
    expect(uniformWords({ u32: [1, 2, 3], f32: [1, 2] })).toBe(8);
    expect(uniformKey({ u32: [1] })).toBe(uniformKey({ u32: [1, 0, 0, 0] }));
    expect(uniformKey({ u32: [1, 2] })).not.toBe(uniformKey({ u32: [2, 1] }));
    expect(uniformKey({ u32: [3] })).not.toBe(uniformKey({ u32: [3, 0, 0, 0, 0] })); // 32 bytes ≠ 16
    // f32 fields by bit pattern: -0 and 0 differ, values that round to the same f32 do not.
    expect(uniformKey({ f32: [-0] })).not.toBe(uniformKey({ f32: [0] }));
    expect(uniformKey({ f32: [0.1] })).toBe(uniformKey({ f32: [Math.fround(0.1)] }));
    expect(uniformKey({ f32: [0.1] })).not.toBe(uniformKey({ f32: [0.2] }));
    // u32 fields as Uint32Array stores them.
    expect(uniformKey({ u32: [-1] })).toBe(uniformKey({ u32: [0xffffffff] }));
  });

  it('equal keys ⇔ equal bytes', () => {
    const cases = [
      { u32: [5, 7], f32: [0.5] },
      { u32: [5, 7, 0], f32: [] },
      { u32: [5], f32: [1e-45, 0.5] },
      { u32: [5, 7], f32: [0.25] },
      { f32: [1, 2, 3, 4, 5] },
    ];
    const hex = (u: (typeof cases)[number]) => Buffer.from(uniformData(u)).toString('hex');
    for (const a of cases)
      for (const b of cases) expect(uniformKey(a) === uniformKey(b)).toBe(hex(a) === hex(b));
  });
});

describe('ObjectIds', () => {
  it('numbers objects by identity', () => {
    const ids = new ObjectIds();
    const a = {};
    const b = {};
    expect(ids.peek(a)).toBeUndefined();
    const ia = ids.id(a);
    expect(ids.id(a)).toBe(ia);
    expect(ids.id(b)).not.toBe(ia);
    expect(ids.peek(a)).toBe(ia);
  });
});

describe('UniformCache', () => {
  it('creates one buffer per distinct content, with its bytes', () => {
    const { device, buffers } = fakeDevice();
    const c = new UniformCache(device);
    const a = c.get({ u32: [1, 2], f32: [0.5] });
    expect(c.get({ u32: [1, 2], f32: [0.5] })).toBe(a);
    const b = c.get({ u32: [1, 3], f32: [0.5] });
    expect(b).not.toBe(a);
    expect(c.created).toBe(2);
    expect(c.hits).toBe(1);
    expect(buffers).toHaveLength(2);
    expect((a as unknown as FakeBuffer).data).toEqual(
      new Uint8Array(uniformData({ u32: [1, 2], f32: [0.5] })),
    );
  });

  it('evicts least recently used, only in evict(), destroying after telling the owner', () => {
    const { device } = fakeDevice();
    const told: GPUBuffer[] = [];
    const c = new UniformCache(device, 4, (b) => {
      expect((b as unknown as FakeBuffer).destroyed).toBe(false);
      told.push(b);
    });
    const bufs = [0, 1, 2, 3, 4, 5].map((i) => c.get({ u32: [i] }));
    // Over capacity, yet nothing is destroyed while commands may still be recorded.
    expect(c.size).toBe(6);
    expect(bufs.some((b) => (b as unknown as FakeBuffer).destroyed)).toBe(false);
    c.get({ u32: [0] }); // 0 becomes the most recent
    c.get({ u32: [1] });
    const n = c.evict();
    expect(n).toBe(6 - Math.floor(4 * LOW_WATER));
    expect(c.size).toBe(Math.floor(4 * LOW_WATER));
    const gone = new Set([bufs[2], bufs[3], bufs[4]]);
    expect(new Set(told)).toEqual(gone);
    for (const b of bufs) expect((b as unknown as FakeBuffer).destroyed).toBe(gone.has(b));
    expect(c.has({ u32: [0] }) && c.has({ u32: [1] }) && c.has({ u32: [5] })).toBe(true);
    // An evicted content gets a fresh buffer.
    const again = c.get({ u32: [2] });
    expect(again).not.toBe(bufs[2]);
    expect(c.evict()).toBe(0); // within capacity
  });

  it('clear destroys everything', () => {
    const { device, buffers } = fakeDevice();
    const c = new UniformCache(device);
    c.get({ u32: [1] });
    c.get({ u32: [2] });
    c.clear();
    expect(buffers.every((b) => b.destroyed)).toBe(true);
    expect(c.size).toBe(0);
  });
});

describe('BindGroupCache', () => {
  it('keys on the pipeline and each bound buffer, in order', () => {
    const { device, groups } = fakeDevice();
    const c = new BindGroupCache(device);
    const [p1, p2] = [fakePipeline(), fakePipeline()];
    const [x, y, u] = [fakeBuffer(), fakeBuffer(), fakeBuffer()];
    const g = c.get(p1, [x, y, u]);
    expect(c.get(p1, [x, y, u])).toBe(g);
    expect(c.get(p1, [y, x, u])).not.toBe(g);
    expect(c.get(p2, [x, y, u])).not.toBe(g);
    expect(c.get(p1, [x, y, fakeBuffer()])).not.toBe(g);
    expect(c.created).toBe(4);
    expect(c.hits).toBe(1);
    expect(groups[0].entries.map((e) => (e.resource as GPUBufferBinding).buffer)).toEqual([x, y, u]);
    expect(groups[0].entries.map((e) => e.binding)).toEqual([0, 1, 2]);
  });

  it('forget drops exactly the entries binding that buffer', () => {
    const { device } = fakeDevice();
    const c = new BindGroupCache(device);
    const p = fakePipeline();
    const [x, y, z] = [fakeBuffer(), fakeBuffer(), fakeBuffer()];
    const gxy = c.get(p, [x, y]);
    c.get(p, [y, z]);
    const gz = c.get(p, [z]);
    expect(c.countFor(y)).toBe(2);
    c.forget(y);
    expect(c.size).toBe(1);
    expect(c.countFor(y)).toBe(0);
    expect(c.countFor(x)).toBe(0);
    expect(c.get(p, [z])).toBe(gz);
    expect(c.get(p, [x, y])).not.toBe(gxy); // rebuilt
    c.forget(fakeBuffer()); // never seen: no-op
    expect(c.size).toBe(2);
  });

  it('evicts least recently used entries above capacity', () => {
    const { device } = fakeDevice();
    const c = new BindGroupCache(device, 8);
    const p = fakePipeline();
    const bufs = Array.from({ length: 10 }, fakeBuffer);
    const gs = bufs.map((b) => c.get(p, [b]));
    c.get(p, [bufs[0]]);
    expect(c.size).toBe(10);
    c.evict();
    expect(c.size).toBe(Math.floor(8 * LOW_WATER));
    expect(c.get(p, [bufs[0]])).toBe(gs[0]); // refreshed, kept
    expect(c.get(p, [bufs[9]])).toBe(gs[9]);
    expect(c.get(p, [bufs[1]])).not.toBe(gs[1]); // oldest, dropped
    expect(c.countFor(bufs[2])).toBe(0);
  });
});

describe('UniformSites', () => {
  const bytes = (u: { u32?: number[]; f32?: number[] }) => new Uint8Array(uniformData(u));
  const uniformOf = (g: GPUBindGroup) =>
    (g as unknown as { entries: GPUBindGroupEntry[] }).entries.at(-1)!.resource as GPUBufferBinding;

  it('one bind group per site; uniforms rewritten in place only when the recording has not used it', () => {
    const { device, writes } = fakeDevice();
    const sites = new UniformSites(device);
    const p = fakePipeline();
    const [x, y] = [fakeBuffer(), fakeBuffer()];
    const u1 = { u32: [1, 2] };
    const u2 = { u32: [1, 3] };
    const g = sites.get(p, [x, y], u1, uniformKey(u1))!;
    const ub = uniformOf(g).buffer as unknown as FakeBuffer;
    expect(ub.data).toEqual(bytes(u1));
    expect(sites.get(p, [x, y], u1, uniformKey(u1))).toBe(g); // same contents: hit, even pending
    // Used by the pending recording with u1: rewriting would change what it reads.
    expect(sites.get(p, [x, y], u2, uniformKey(u2))).toBeNull();
    sites.submitted();
    writes.length = 0;
    expect(sites.get(p, [x, y], u2, uniformKey(u2))).toBe(g); // next recording: rewritten
    expect(writes).toEqual([ub]);
    expect(ub.data).toEqual(bytes(u2));
    expect(sites.get(p, [x, y], u1, uniformKey(u1))).toBeNull(); // u2 now pending
    expect(sites.get(p, [y, x], u1, uniformKey(u1))).not.toBe(g); // another site
    // Another struct size cannot be written into this buffer.
    sites.submitted();
    const big = { u32: [1, 2, 3, 4, 5] };
    expect(sites.get(p, [x, y], big, uniformKey(big))).toBeNull();
    expect(sites.created).toBe(2);
    expect(sites.rewrites).toBe(1);
    expect(sites.hits).toBe(1);
  });

  it('a forgotten site keeps its uniform buffer alive until the next submit', () => {
    const { device } = fakeDevice();
    const sites = new UniformSites(device);
    const p = fakePipeline();
    const x = fakeBuffer();
    const u = { f32: [0.5] };
    const g = sites.get(p, [x], u, uniformKey(u))!;
    const ub = uniformOf(g).buffer as unknown as FakeBuffer;
    sites.forget(x);
    expect(sites.size).toBe(0);
    expect(ub.destroyed).toBe(false);
    sites.submitted();
    expect(ub.destroyed).toBe(true);
  });

  it('evicts least recently used sites at submit', () => {
    const { device } = fakeDevice();
    const sites = new UniformSites(device, 4);
    const p = fakePipeline();
    const u = { u32: [7] };
    const bufs = Array.from({ length: 6 }, fakeBuffer);
    const groups = bufs.map((b) => sites.get(p, [b], u, uniformKey(u))!);
    expect(sites.size).toBe(6); // nothing evicted while recording
    sites.get(p, [bufs[0]], u, uniformKey(u));
    sites.submitted();
    expect(sites.size).toBe(Math.floor(4 * LOW_WATER));
    expect((uniformOf(groups[1]).buffer as unknown as FakeBuffer).destroyed).toBe(true);
    expect((uniformOf(groups[0]).buffer as unknown as FakeBuffer).destroyed).toBe(false);
    expect(sites.get(p, [bufs[0]], u, uniformKey(u))).toBe(groups[0]);
  });
});
