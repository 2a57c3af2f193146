/**
 * The page side of `npm run eval` (scripts/eval.ts): the app's own ask pipeline in headless Chromium
 * (engine worker, WebCodecs decode, WebGPU kernels) over every item of a dataset. Loads the model once,
 * then per item loads its video and asks its problem; reports each answer to Node through
 * `window.__evalEvent` as it comes.
 */
import {
  type AskRequest,
  createEngineClient,
  type EngineErrorInfo,
  errorInfo,
  type WeightFormat,
} from '../../../src/engine-client';

export interface EvalArgs {
  modelUrl: string;
  weights: WeightFormat;
  /** Where adapter_config.json and adapter_model.safetensors are served (--adapter), if given. */
  adapterUrl?: string;
  frames: number;
  sampling: AskRequest['sampling'];
  /** One entry per item: the problem text (options included) and where its video is served. */
  items: { index: number; problem: string; videoUrl: string }[];
}

/** One answered item (or its error: a video that does not decode fails that item only). */
export interface EvalAnswer {
  index: number;
  text?: string;
  error?: EngineErrorInfo;
  ms: number;
}

export async function runEval(args: EvalArgs): Promise<{ error?: EngineErrorInfo }> {
  const send = (globalThis as unknown as { __evalEvent: (json: string) => Promise<void> }).__evalEvent;
  const engine = createEngineClient();
  try {
    await send(JSON.stringify({ type: 'adapter', data: await engine.init() }));
    const model = await engine.loadModel({ kind: 'url', baseUrl: args.modelUrl }, undefined, {
      weights: args.weights,
    });
    await send(JSON.stringify({ type: 'model', data: model }));
    if (args.adapterUrl) {
      const files = await Promise.all(
        ['adapter_config.json', 'adapter_model.safetensors'].map(async (name) => {
          const r = await fetch(`${args.adapterUrl}${name}`);
          if (!r.ok) throw new Error(`${name}: HTTP ${r.status}`);
          return { name, data: new Uint8Array(await r.arrayBuffer()) };
        }),
      );
      const adapter = await engine.adapterImport(files, 'eval --adapter');
      await engine.adapterUse(adapter.id);
      await send(JSON.stringify({ type: 'lora', data: adapter }));
    }
    for (const item of args.items) {
      const t0 = performance.now();
      let answer: EvalAnswer;
      try {
        const blob = await (await fetch(item.videoUrl)).blob();
        const r = await engine.videoLoad(
          `eval-${item.index}`,
          { kind: 'file', file: blob },
          { method: { kind: 'uniform', n: args.frames } },
        );
        if (r.status !== 'loaded') throw new Error(`no WebCodecs decoder for this video here: ${r.reason}`);
        for (const t of r.video.thumbnails) t.close();
        const result = await engine.ask({ question: item.problem, sampling: args.sampling, visual: 'video' });
        answer = { index: item.index, text: result.text, ms: performance.now() - t0 };
      } catch (e) {
        answer = { index: item.index, error: errorInfo(e), ms: performance.now() - t0 };
      }
      await send(JSON.stringify({ type: 'answer', data: answer }));
    }
    return {};
  } catch (e) {
    return { error: errorInfo(e) };
  } finally {
    engine.terminate();
  }
}
