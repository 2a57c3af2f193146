/**
 * The page side of `npm run infer` (scripts/infer.ts), loaded by Vite's dev server into headless
 * Chromium: starts the engine worker as the app does, loads the model and the video (or takes
 * preprocessed frames), asks, and reports every step to Node through `window.__inferEvent`.
 * Tensors come back base64-encoded (raw little-endian f32), which crosses to Node far faster than
 * arrays of numbers.
 */
import {
  type AskRequest,
  type AskStats,
  createEngineClient,
  type EngineErrorInfo,
  errorInfo,
  type WeightFormat,
} from '../../../src/engine-client';

export interface InferArgs {
  modelUrl: string;
  weights: WeightFormat;
  video?: { url: string; frames: number };
  frames?: { url: string; shape: [number, number, number, number] };
  question: string;
  options: string[];
  sampling: AskRequest['sampling'];
  dump: boolean;
  /** Ask once (2 tokens) before the measured question, so its stats exclude shader compilation. */
  warmup: boolean;
  /**
   * Time to first token from dropping the video (model already loaded), once per entry: false =
   * sequential (vision at ask time), true = vision streamed while decoding. Each run loads the video
   * afresh and asks for one token; `repeat` runs per entry.
   */
  dropRuns?: { modes: boolean[]; repeat: number };
}

/** One drop-to-first-token run (`dropRuns`). */
export interface DropRun {
  visionAhead: boolean;
  run: number;
  /** videoLoad: open + decode + thumbnails, ms (the video's own timeMs). */
  decodeMs: number;
  /** From calling videoLoad to its answer, as seen by the page, ms. */
  loadMs: number;
  /** From calling videoLoad to the first token event on the page, ms. */
  ttftFromDropMs: number;
  stats: AskStats;
}

export interface InferOutput {
  error?: EngineErrorInfo;
  text?: string;
  ids?: number[];
  dump?: {
    promptIds: [number[], number[]];
    visionFeatures: string | null;
    connectorOutput: string | null;
    logits: string[];
    shapes: { visionFeatures: number[] | null; connectorOutput: number[] | null; logits: number[] };
  };
}

type Send = (type: string, data: unknown) => void;

function base64(a: Float32Array): string {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Drop → first token, per mode; a first unmeasured run (streamed) compiles the shaders. */
async function dropRuns(
  engine: ReturnType<typeof createEngineClient>,
  args: InferArgs,
  send: Send,
): Promise<void> {
  const video = args.video!;
  const { modes, repeat } = args.dropRuns!;
  const blob = await (await fetch(video.url)).blob();
  const runs: [boolean, number][] = [[true, -1]];
  for (let r = 0; r < repeat; r++) for (const m of modes) runs.push([m, r]);
  let job = 0;
  for (const [visionAhead, run] of runs) {
    const t0 = performance.now();
    const r = await engine.videoLoad(
      `drop-${job++}`,
      { kind: 'file', file: blob },
      { method: { kind: 'uniform', n: video.frames }, visionAhead },
    );
    const loadMs = performance.now() - t0;
    if (r.status !== 'loaded')
      throw new Error(`this Chromium cannot decode the video with WebCodecs: ${r.reason}`);
    for (const t of r.video.thumbnails) t.close();
    let first = 0;
    const result = await engine.ask(
      {
        question: args.question,
        options: args.options,
        sampling: { ...args.sampling, maxNewTokens: 1 },
        visual: 'video',
        reuseVisual: false,
      },
      (e) => {
        if (e.type === 'token' && !first) first = performance.now();
      },
    );
    const t1 = performance.now();
    while (!first && performance.now() - t1 < 5000) await new Promise((res) => setTimeout(res, 5));
    const out: DropRun = {
      visionAhead,
      run,
      decodeMs: r.video.timeMs,
      loadMs,
      ttftFromDropMs: (first || t1) - t0,
      stats: result.stats,
    };
    send('drop', out);
  }
}

export async function runInfer(args: InferArgs): Promise<InferOutput> {
  const sent: Promise<unknown>[] = [];
  const binding = (globalThis as unknown as { __inferEvent?: (json: string) => Promise<void> }).__inferEvent;
  const send: Send = (type, data) => {
    if (binding) sent.push(binding(JSON.stringify({ type, data })));
  };
  const engine = createEngineClient();
  try {
    send('adapter', await engine.init());
    send(
      'model',
      await engine.loadModel({ kind: 'url', baseUrl: args.modelUrl }, (p) => send('load', p), {
        weights: args.weights,
      }),
    );

    let pixels: AskRequest['pixels'];
    if (args.frames) {
      const res = await fetch(args.frames.url);
      pixels = { data: new Float32Array(await res.arrayBuffer()), shape: args.frames.shape };
    }
    if (args.video && args.dropRuns) {
      await dropRuns(engine, args, send);
      await Promise.all(sent);
      return {};
    }
    if (args.video) {
      const blob = await (await fetch(args.video.url)).blob();
      const r = await engine.videoLoad(
        'infer',
        { kind: 'file', file: blob },
        { method: { kind: 'uniform', n: args.video.frames } },
        (p) => send('video-progress', p),
      );
      if (r.status !== 'loaded')
        throw new Error(`this Chromium cannot decode the video with WebCodecs: ${r.reason}`);
      const { thumbnails, ...video } = r.video;
      for (const t of thumbnails) t.close();
      send('video', video);
    }

    const request: AskRequest = {
      question: args.question,
      options: args.options,
      sampling: args.sampling,
      pixels,
      visual: args.video ? 'video' : 'text',
      dump: args.dump,
      reuseVisual: false,
    };
    if (args.warmup) {
      const w = await engine.ask({
        ...request,
        dump: false,
        sampling: { ...args.sampling, maxNewTokens: 2 },
      });
      send('warmup', w.stats);
    }
    let tokens = 0;
    const result = await engine.ask(request, (e) => {
      if (e.type === 'token') tokens++;
      send('ask', e);
    });
    // Events travel on their own channel: let the stream finish before the result is reported.
    const t0 = performance.now();
    while (tokens < result.ids.length && performance.now() - t0 < 5000)
      await new Promise((r) => setTimeout(r, 10));
    send('result', { text: result.text, ids: result.ids, done: result.done, stats: result.stats });
    await Promise.all(sent);
    const d = result.dump;
    return {
      text: result.text,
      ids: result.ids,
      dump: d && {
        promptIds: d.promptIds,
        visionFeatures: d.visionFeatures && base64(d.visionFeatures),
        connectorOutput: d.connectorOutput && base64(d.connectorOutput),
        logits: d.logits.map(base64),
        shapes: d.shapes,
      },
    };
  } catch (e) {
    await Promise.allSettled(sent);
    return { error: errorInfo(e) };
  } finally {
    engine.terminate();
  }
}
