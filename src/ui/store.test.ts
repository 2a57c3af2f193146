import { describe, expect, it, vi } from 'vitest';
import type { AdapterSummary, Engine, EngineClient, ModelInfo, SelfTestResult } from '../engine-client';
import { EngineError } from '../engine-client';
import { createAppStore } from './store';

const summary = { vendor: 'v', architecture: 'a' } as AdapterSummary;
const result = (name: string, ok = true): SelfTestResult => ({
  name,
  shape: '',
  dtype: 'f32',
  variant: 'flat',
  ok,
  maxAbsErr: 0,
  tolerance: { atol: 0, rtol: 0 },
  ms: 1,
});

function fakeEngine(init: Engine['init']): EngineClient {
  return {
    init: vi.fn(init),
    selfTest: vi.fn(async (onResult) => {
      const rs = [result('x'), result('y', false)];
      for (const [i, r] of rs.entries()) onResult?.(r, { done: i + 1, total: 2 });
      return rs;
    }),
    dispose: vi.fn(async () => {}),
  } as Partial<EngineClient> as EngineClient; // the GPU commands only: the store's other slices are tested on their own
}

describe('app store', () => {
  it('starts the GPU once and runs the self-test once after', async () => {
    const engine = fakeEngine(async () => summary);
    const store = createAppStore(() => engine);
    await Promise.all([store.getState().start(), store.getState().start()]);
    const s = store.getState();
    expect(engine.init).toHaveBeenCalledTimes(1);
    expect(engine.selfTest).toHaveBeenCalledTimes(1);
    expect(s.adapterPhase).toBe('ready');
    expect(s.adapter).toEqual(summary);
    expect(s.selfTestPhase).toBe('done');
    expect(s.results.map((r) => r.ok)).toEqual([true, false]);
    expect(s.progress).toEqual({ done: 2, total: 2 });
  });

  it('keeps the structured error when there is no WebGPU', async () => {
    const engine = fakeEngine(async () => {
      throw new EngineError('no-webgpu', 'no WebGPU', 'use Chrome');
    });
    const store = createAppStore(() => engine);
    await store.getState().start();
    const s = store.getState();
    expect(s.adapterPhase).toBe('error');
    expect(s.adapterError).toEqual({ kind: 'no-webgpu', message: 'no WebGPU', hint: 'use Chrome' });
    expect(engine.selfTest).not.toHaveBeenCalled();
    await s.runSelfTest(); // ignored without an adapter
    expect(store.getState().selfTestPhase).toBe('idle');
  });

  it('records device errors reported after start', async () => {
    const engine = fakeEngine(async (_, onDeviceError) => {
      queueMicrotask(() => onDeviceError?.({ kind: 'device-lost', message: 'lost', hint: 'reload' }));
      return summary;
    });
    const store = createAppStore(() => engine);
    await store.getState().start();
    expect(store.getState().deviceError?.kind).toBe('device-lost');
  });

  it('follows the recovery from a lost device: the error clears and the reloaded model shows', async () => {
    const model = { name: 'tiny-b', cached: 'read' } as ModelInfo;
    let recover: Parameters<Engine['init']>[2];
    const engine = fakeEngine(async (_, onDeviceError, onRecovery) => {
      recover = onRecovery;
      queueMicrotask(() => onDeviceError?.({ kind: 'device-lost', message: 'lost', hint: '' }));
      return summary;
    });
    const store = createAppStore(() => engine);
    await store.getState().start();
    recover?.({ state: 'recovering', message: 'getting a new device' });
    expect(store.getState()).toMatchObject({
      deviceError: { kind: 'device-lost' },
      deviceRecovery: { state: 'recovering' },
    });
    recover?.({ state: 'recovered', message: 'ready again', model });
    expect(store.getState()).toMatchObject({
      deviceError: null,
      deviceRecovery: { state: 'recovered' },
      model,
    });
  });
});
