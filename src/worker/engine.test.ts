import { afterAll, describe, expect, it } from 'vitest';
import { create, globals } from 'webgpu';
import { EngineError } from '../engine-client/protocol';
import { createEngine } from './engine';

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
