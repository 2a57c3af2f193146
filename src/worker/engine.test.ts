import { afterAll, describe, expect, it } from 'vitest';
import { create, globals } from 'webgpu';
import { EngineError } from '../engine-client/protocol';
import { createEngine } from './engine';
import { gpuCommands } from './gpu-commands';
import { EngineSession } from './session';

// The in-thread engine on Dawn (whatever adapter VK_ICD_FILENAMES selects).
Object.assign(globalThis, globals);
let gpu: GPU | null = create([]) as unknown as GPU;
const engine = createEngine({ gpu: () => gpu ?? undefined });
afterAll(async () => {
  await engine.dispose();
  gpu = null;
});

describe('engine (in-thread)', () => {
  it('refuses GPU commands before init', async () => {
    await expect(engine.selfTest()).rejects.toMatchObject({ kind: 'not-ready' });
  });

  it('init describes the adapter, once', async () => {
    const a = await engine.init();
    expect(a.vendor || a.architecture || a.description).toBeTruthy();
    expect(a.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(await engine.init()).toEqual(a);
  });

  it('without WebGPU, init fails with no-webgpu and names the browsers', async () => {
    const none = createEngine({ gpu: () => undefined });
    const err = await none.init().catch((e) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err.kind).toBe('no-webgpu');
    expect(err.hint).toMatch(/Chrome/);
  });
});

describe('memory', () => {
  it('is zero before init, then counts live buffers once the pool gives its free ones back', async () => {
    const session = new EngineSession({ gpu: () => gpu ?? undefined });
    const commands = gpuCommands(session);
    expect(await commands.memory()).toEqual({ gpuBytes: 0, gpuBuffers: 0, pooledBytes: 0 });
    await commands.init();
    const ctx = session.gpu();
    const base = await commands.memory();
    const kept = ctx.upload(new Float32Array(1000), [1000], 'f32');
    const freed = ctx.upload(new Float32Array(3000), [3000], 'f32');
    ctx.release(freed); // into the pool's free list: still a live buffer until given back
    const m = await commands.memory();
    expect(m.pooledBytes).toBeGreaterThanOrEqual(3000 * 4);
    expect(m.gpuBuffers).toBe(base.gpuBuffers + 1);
    expect(m.gpuBytes).toBeGreaterThanOrEqual(base.gpuBytes + 1000 * 4);
    ctx.release(kept);
    expect((await commands.memory()).gpuBuffers).toBe(base.gpuBuffers);
    await commands.dispose();
  });
});
