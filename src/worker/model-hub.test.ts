/**
 * Loading by hub repo id, on Dawn: the engine's loadModel({kind: 'hub'}) against a local server that
 * serves the tiny-b fixture as the hub does (resolve/ URLs, CDN redirects for the shards, the
 * slow-tokenizer files, no tokenizer.json), with a connection dropped midway through a shard and a
 * 503. The load resumes, reports download progress and retries, and the model answers the golden
 * frames as the PyTorch reference does, exactly as when loaded from picked files.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelLoadProgress } from '../engine-client/protocol';
import { firstMismatch } from '../gpu/compare';
import { ctx } from '../gpu/testing/kernel-suite';
import { fixtureFiles, readGoldenFrames, readGoldenIndex, readGoldenTensor } from '../model/testing/goldens';
import { type HubServer, startHubServer } from '../model/testing/hub-server';
import { modelCommands } from './model-service';
import { EngineSession } from './session';

const REPO = 'Zhang199/TinyLLaVA-Video-R1';
const REL = ctx.actDtype === 'f32' ? 2e-4 : 3e-2;

describe(`load by hub repo id (${ctx.actDtype})`, () => {
  const files = fixtureFiles('tiny-b');
  const shard = 'model-00003-of-00003.safetensors';
  let server: HubServer;
  let dropped = 0;

  beforeAll(async () => {
    server = await startHubServer({
      repo: REPO,
      files,
      fault: (r) => {
        if (!r.cdn || r.method !== 'GET' || r.file !== shard) return undefined;
        if (r.nth === 1) return { status: 503 };
        // The first read past the shard's middle breaks after 64 kB of its body.
        const m = /bytes=(\d+)-(\d+)/.exec(r.range ?? '');
        const half = files.get(shard)!.byteLength / 2;
        if (!dropped && m && Number(m[2]) - Number(m[1]) > 128 * 1024 && Number(m[2]) > half) {
          dropped++;
          return { dropAfterBytes: 64 * 1024 };
        }
        return undefined;
      },
    });
  });
  afterAll(() => server.close());

  it('loads, resumes the broken shard, and answers like the reference', async () => {
    expect(files.has('tokenizer.json')).toBe(false); // tiny-b is in the hub repo's layout
    const session = new EngineSession({ gpu: () => undefined });
    session.ctx = ctx;
    const model = modelCommands(session);
    const events: ModelLoadProgress[] = [];
    const info = await model.loadModel({ kind: 'hub', repo: REPO, endpoint: server.endpoint }, (p) =>
      events.push(p),
    );
    expect(info.name).toBe(REPO);
    expect(info.source).toBe(`${server.endpoint}/${REPO}/resolve/main/`);
    expect(dropped).toBe(1);

    const downloads = events.flatMap((e) => (e.download ? [e.download] : []));
    const last = downloads.at(-1)!;
    expect(last.loadedBytes).toBe(last.totalBytes);
    expect(last.retries).toBe(2); // the 503 and the drop
    expect(downloads.some((d) => d.file === shard && d.fileLoadedBytes < d.fileTotalBytes)).toBe(true);
    expect(downloads.some((d) => d.lastRetry?.reason.match(/503/))).toBe(true);

    const index = readGoldenIndex('tiny-b');
    const r = await model.ask({
      question: 'Which way does the bright disc move?',
      options: ['left to right', 'right to left', 'it does not move', 'up and down'],
      pixels: { data: readGoldenFrames(index), shape: index.frames.shape },
      sampling: { temperature: 0, maxNewTokens: 4 },
      dump: true,
    });
    expect(r.dump!.promptIds).toEqual([index.prompt.part0Ids, index.prompt.part1Ids]);
    const golden = readGoldenTensor('tiny-b', index.tensors.logits);
    const V = index.tensors.logits.shape[1];
    r.dump!.logits.forEach((row, k) => {
      const want = golden.subarray(k * V, (k + 1) * V);
      let scale = 0;
      for (const v of want) scale = Math.max(scale, Math.abs(v));
      expect(firstMismatch(row, want, { atol: REL * scale, rtol: 0 }), `logits ${k}`).toBeNull();
    });
  });
});
