import { expose } from 'comlink';
import { afterEach, describe, expect, it } from 'vitest';
import { connectEngine } from './client';
import type { Engine, SelfTestResult } from './protocol';
import { EngineError, installErrorTransfer } from './protocol';

// The worker boundary without a worker: a fake engine exposed on one end of a MessageChannel.
const summary = { vendor: 'test', architecture: 'fake' } as Awaited<ReturnType<Engine['init']>>;
const result = (name: string): SelfTestResult => ({
  name,
  shape: 'n=1',
  dtype: 'f32',
  variant: '—',
  ok: true,
  maxAbsErr: 0,
  tolerance: { atol: 0, rtol: 0 },
  ms: 1,
});

// Only the GPU commands: the other groups are not called here.
const fake = {
  async init(options, onDeviceError) {
    if (options?.disableF16) throw new EngineError('no-adapter', 'no GPU here', 'try another browser');
    onDeviceError?.({ kind: 'device-lost', message: 'lost', hint: '' });
    return summary;
  },
  async selfTest(onResult) {
    const rs = [result('a'), result('b')];
    for (const [i, r] of rs.entries()) onResult?.(r, { done: i + 1, total: rs.length });
    return rs;
  },
  async dispose() {
    throw new TypeError('plain error');
  },
} as Partial<Engine> as Engine;

const channels: MessageChannel[] = [];
function connect() {
  const ch = new MessageChannel();
  channels.push(ch);
  installErrorTransfer();
  expose(fake, ch.port1);
  return connectEngine(ch.port2);
}
afterEach(() => {
  for (const ch of channels.splice(0)) {
    ch.port1.close();
    ch.port2.close();
  }
});

describe('engine client over comlink', () => {
  it('returns results and calls callbacks on this side', async () => {
    const engine = connect();
    const lost: string[] = [];
    expect(await engine.init({}, (e) => lost.push(e.kind))).toEqual(summary);
    const seen: string[] = [];
    const rs = await engine.selfTest((r, p) => seen.push(`${r.name} ${p.done}/${p.total}`));
    expect(rs.map((r) => r.name)).toEqual(['a', 'b']);
    await expect.poll(() => seen).toEqual(['a 1/2', 'b 2/2']);
    await expect.poll(() => lost).toEqual(['device-lost']);
  });

  it('keeps the kind and hint of engine errors', async () => {
    const engine = connect();
    const err = await engine.init({ disableF16: true }).catch((e) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err).toMatchObject({ kind: 'no-adapter', message: 'no GPU here', hint: 'try another browser' });
  });

  it('turns other errors into internal EngineErrors', async () => {
    const err = await connect()
      .dispose()
      .catch((e) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err).toMatchObject({ kind: 'internal', message: 'plain error' });
  });

  it('rejects every call once the worker crashed', async () => {
    const ch = new MessageChannel();
    channels.push(ch);
    const crashed = Promise.resolve(new EngineError('worker-crashed', 'gone', 'Reload the page.'));
    const engine = connectEngine(ch.port2, crashed);
    await expect(engine.init()).rejects.toMatchObject({ kind: 'worker-crashed' });
  });

  it('is not a thenable', async () => {
    const engine = connect();
    expect((engine as unknown as { then?: unknown }).then).toBeUndefined();
  });
});
