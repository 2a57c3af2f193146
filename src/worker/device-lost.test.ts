/**
 * A lost device mid-answer, at the engine level on Dawn: the device is destroyed (as a driver reset
 * would lose it) while tokens stream; the engine reports the loss, gets a new device, reloads the model
 * from its offline copy (no request to the server) and answers the same question with the same ids.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, globals } from 'webgpu';
import type { DeviceRecovery, EngineErrorInfo, ModelSource } from '../engine-client/protocol';
import { convertFixture } from '../model/testing/convert';
import { type HubServer, startHubServer } from '../model/testing/hub-server';
import { gpuCommands } from './gpu-commands';
import { modelCommands } from './model-service';
import { EngineSession } from './session';
import { fakeStorage } from './testing/fake-opfs';

const REPO = 'Zhang199/TinyLLaVA-Video-R1';

describe('device lost mid-run', () => {
  let server: HubServer;
  /** Another model, answering each request 300 ms late: a load from it is surely under way at the loss. */
  let slow: HubServer;
  beforeAll(async () => {
    // The converted folder (copied into OPFS as it is): quicker on a software adapter than quantizing.
    const files = (await convertFixture('tiny-b')).files;
    server = await startHubServer({ repo: REPO, files, commit: 'c0ffee'.padEnd(40, '0') });
    slow = await startHubServer({ repo: 'someone/slow', files, latencyMs: 300 });
  });
  afterAll(async () => {
    await server.close();
    await slow.close();
  });

  it('gets a new device, reloads the model from OPFS and answers the same', async () => {
    Object.assign(globalThis, globals);
    const gpu = create([]) as unknown as GPU;
    const session = new EngineSession({ gpu: () => gpu, storage: () => fakeStorage({ quota: 1e9 }).storage });
    const g = gpuCommands(session);
    const model = modelCommands(session);
    const errors: EngineErrorInfo[] = [];
    const recovery: DeviceRecovery[] = [];
    await g.init(
      { disableF16: process.env.GPU_DISABLE_F16 === '1' },
      (e) => errors.push(e),
      (r) => recovery.push(r),
    );
    try {
      const source: ModelSource = { kind: 'hub', repo: REPO, endpoint: server.endpoint };
      const info = await model.loadModel(source);
      expect(info.cached).toBe('written');
      // Text only keeps it short on a software adapter (the page's video path: e2e/device-lost.app.spec.ts).
      const request = {
        question: 'Which way does the bright disc move?',
        visual: 'text' as const,
        sampling: { temperature: 0, maxNewTokens: 6 },
      };
      const before = await model.ask(request);
      const first = session.ctx!;
      const served = server.requests.length;

      let tokens = 0;
      const cut = await model
        .ask({ ...request, sampling: { ...request.sampling, maxNewTokens: 200 } }, (e) => {
          if (e.type === 'token' && ++tokens === 2) first.device.destroy();
        })
        .then((r) => r.stats.newTokens)
        .catch((e: EngineErrorInfo) => e.kind);
      // The answer in flight fails with the loss, saying so.
      expect(cut).toBe('device-lost');

      await expect.poll(() => recovery.at(-1)?.state, { timeout: 60_000 }).toBe('recovered');
      expect(errors.map((e) => e.kind)).toEqual(['device-lost']);
      expect(recovery[0].state).toBe('recovering');
      const done = recovery.at(-1)!;
      expect(done.message).toMatch(/reloaded from the offline copy\. Your video and conversation are kept/);
      expect(done.model).toMatchObject({ name: info.name, cached: 'read' });
      expect(session.ctx).not.toBe(first);
      expect(server.requests.length).toBe(served); // OPFS, not the network
      expect(await model.modelInfo()).toEqual(done.model);
      const after = await model.ask(request);
      expect(after.ids).toEqual(before.ids);

      // Lost while another model loads: that load fails saying so; the last loaded model comes back.
      const loading = model.loadModel({ kind: 'hub', repo: 'someone/slow', endpoint: slow.endpoint });
      await expect.poll(() => slow.requests.length).toBeGreaterThan(0);
      session.ctx!.device.destroy();
      await expect(loading).rejects.toMatchObject({
        kind: 'device-lost',
        message: expect.stringMatching(/lost while loading/),
      });
      await expect
        .poll(() => recovery.filter((r) => r.state === 'recovered').length, { timeout: 60_000 })
        .toBe(2);
      expect(recovery.at(-1)!.model).toMatchObject({ name: info.name, cached: 'read' });
      expect((await model.ask(request)).ids).toEqual(before.ids);
    } finally {
      await g.dispose();
    }
  }, 120_000);
});
