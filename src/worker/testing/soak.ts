/**
 * The soak: one engine (model service, vision hub, fine-tune service over an in-memory OPFS) on one
 * GPU context, driven through many questions, video swaps and GRPO steps, with the device's live GPU
 * buffers (GpuContext.memory: every buffer, counted at createBuffer) and the JS heap (after a forced
 * collection) sampled after each. `npm run soak` runs the counts; the CI test a small version.
 * Node has no VideoFrame or WebCodecs: frames here are synthetic pixels uploaded by the vision hub's
 * preprocessing hook, and clips for fine-tuning are raw RGBA (the page's decode path is the e2e's).
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { demoFiles } from '../../../scripts/rl/demo-model';
import type { AskRequest, TrainSettings } from '../../engine-client/protocol';
import { DEFAULT_TRAIN_SETTINGS } from '../../engine-client/protocol';
import type { GpuContext } from '../../gpu/context';
import type { FrameSource } from '../../gpu/frames-to-tensor';
import type { FramePreprocess } from '../../model/preprocess';
import { seededRandom } from '../../rl-lite/tasks/moving-squares';
import { modelCommands } from '../model-service';
import type { VideoFrames } from '../model-video';
import { EngineSession } from '../session';
import { trainCommands } from '../train-service';
import { VisionHub } from '../video-vision';
import { fakeStorage } from './fake-opfs';
import { clipPixels, squaresItems } from './squares-data';

export interface Sample {
  /**
   * Live GPU buffers' bytes and count after this iteration, the buffer pool's free ones given back
   * first: what the engine holds. (The free ones are scratch whose amount depends on the last step's
   * lengths; the model trims them after each phase anyway.)
   */
  gpuBytes: number;
  gpuBuffers: number;
  /** Bytes that were in the pool's free lists at the sample. */
  pooledBytes: number;
  /** JS heap in use after a forced collection. */
  heapBytes: number;
}

export interface PhaseResult {
  name: 'questions' | 'swaps' | 'grpo';
  samples: Sample[];
  ms: number;
}

export interface Verdict {
  /** Iterations compared at each end: min(50, half the run). */
  window: number;
  /** Most GPU bytes / buffers in the last window minus the most in the first (≤ 0: no growth). */
  gpuBytesGrowth: number;
  gpuBuffersGrowth: number;
  /** Median heap of the last window minus that of the first. */
  heapGrowth: number;
  /** What the heap may grow by: the larger of 4 MiB and 5 % of the first window's median. */
  heapAllowance: number;
  ok: boolean;
}

/**
 * No growth: the most GPU bytes and buffers live after any of the last `window` iterations do not
 * exceed the most after any of the first (a leak of one buffer per iteration fails this); the JS heap's
 * median over the last window is within the allowance of the first's (collection is not exact).
 */
export function verdict(samples: Sample[]): Verdict {
  const window = Math.min(50, Math.floor(samples.length / 2));
  if (window < 1) throw new Error('verdict: at least 2 samples');
  const first = samples.slice(0, window);
  const last = samples.slice(-window);
  const max = (s: Sample[], k: keyof Sample) => Math.max(...s.map((x) => x[k]));
  const median = (s: Sample[]) => {
    const v = s.map((x) => x.heapBytes).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)];
  };
  const gpuBytesGrowth = max(last, 'gpuBytes') - max(first, 'gpuBytes');
  const gpuBuffersGrowth = max(last, 'gpuBuffers') - max(first, 'gpuBuffers');
  const heapGrowth = median(last) - median(first);
  const heapAllowance = Math.max(4 * 2 ** 20, 0.05 * median(first));
  return {
    window,
    gpuBytesGrowth,
    gpuBuffersGrowth,
    heapGrowth,
    heapAllowance,
    ok: gpuBytesGrowth <= 0 && gpuBuffersGrowth <= 0 && heapGrowth <= heapAllowance,
  };
}

/** A forced full collection (exposed at run time, so neither vitest nor tsx needs a flag). */
function collector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

export interface SoakOptions {
  questions: number;
  swaps: number;
  grpoSteps: number;
  /** The model the questions and swaps run on (a checkpoint folder's files). */
  modelFiles: File[];
  /** Frames per video (the page samples 16). */
  frames?: number;
  /** New tokens per answer. */
  maxNewTokens?: number;
  log?: (line: string) => void;
}

/** Synthetic frames: pixel values depend on the video and the slot, so each swap sees new content. */
interface SynthFrame {
  video: number;
  slot: number;
  close(): void;
}

const synthPreprocess: FramePreprocess = async (c, f, out, row) => {
  const { video, slot } = f as unknown as SynthFrame;
  const plane = out.size / out.shape[0];
  const px = new Float32Array(plane);
  for (let i = 0; i < plane; i++) px[i] = Math.sin(0.001 * i * (video + 1) + slot) * 0.9;
  const t = c.upload(px, [plane], out.dtype);
  c.copyRegion(t, 0, out, row * t.byteLength, t.byteLength);
  c.release(t);
};

const WORDS =
  'what where which does the ball square move left right up down colour red blue first last frame video'.split(
    ' ',
  );

/** Questions of varying length (so prompts, KV caches and answers vary), reproducibly. */
function question(i: number): AskRequest {
  const r = seededRandom(1000 + i);
  const n = 3 + Math.floor(r() * 24);
  const words = Array.from({ length: n }, () => WORDS[Math.floor(r() * WORDS.length)]);
  return { question: `${words.join(' ')}?`, sampling: { temperature: 0.7, seed: i } };
}

/** Runs the three phases on `ctx` and returns their samples. */
export async function runSoak(ctx: GpuContext, o: SoakOptions): Promise<PhaseResult[]> {
  const gc = collector();
  const log = o.log ?? (() => {});
  const frames = o.frames ?? 16;
  const maxNewTokens = o.maxNewTokens ?? 8;
  const { storage } = fakeStorage({ quota: 1e9 });
  const session = new EngineSession({ gpu: () => undefined, storage: () => storage });
  session.ctx = ctx;
  const hub = new VisionHub(() => ctx, synthPreprocess);
  let video: VideoFrames | null = null;
  const model = modelCommands(session, () => video, hub);
  const train = trainCommands(session, clipPixels(ctx));

  /** Called where nothing recorded is pending a submit (after a step's readbacks). */
  const sampleNow = (): Sample => {
    ctx.flush();
    const before = ctx.memory.bytes;
    ctx.pool.trim();
    gc();
    return {
      gpuBytes: ctx.memory.bytes,
      gpuBuffers: ctx.memory.buffers,
      pooledBytes: before - ctx.memory.bytes,
      heapBytes: process.memoryUsage().heapUsed,
    };
  };
  const sample = async (): Promise<Sample> => {
    await ctx.sync();
    return sampleNow();
  };
  /** A new video, as the video service swaps one in: the old one's vision job cancelled, the new one's run. */
  const swapTo = (key: number) => {
    if (video) hub.cancelVideo(key - 1);
    const fs = Array.from({ length: frames }, (_, slot) => ({ video: key, slot, close() {} }) as SynthFrame);
    const now = { key, frames: fs as unknown as FrameSource[] };
    video = { ...now, decodeMs: 0 };
    hub.currentVideo = () => now;
    hub.runAll(key, now.frames);
  };
  const results: PhaseResult[] = [];
  const phase = async (name: PhaseResult['name'], n: number, step: (i: number) => Promise<void>) => {
    const samples: Sample[] = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      await step(i);
      samples.push(await sample());
      if ((i + 1) % 10 === 0 || i + 1 === n) {
        const s = samples[i];
        log(
          `${name} ${i + 1}/${n}: GPU ${(s.gpuBytes / 2 ** 20).toFixed(2)} MiB in ${s.gpuBuffers} buffers, heap ${(s.heapBytes / 2 ** 20).toFixed(1)} MiB`,
        );
      }
    }
    results.push({ name, samples, ms: performance.now() - t0 });
  };

  await model.loadModel({ kind: 'files', files: o.modelFiles });
  swapTo(1);
  if (o.questions > 0)
    await phase('questions', o.questions, async (i) => {
      const r = await model.ask({ ...question(i), sampling: { ...question(i).sampling, maxNewTokens } });
      if (!(r.stats.newTokens > 0)) throw new Error(`question ${i + 1} produced no tokens`);
    });
  if (o.swaps > 0)
    await phase('swaps', o.swaps, async (i) => {
      swapTo(2 + i);
      const r = await model.ask({ question: 'What moves?', sampling: { temperature: 0, maxNewTokens: 2 } });
      if (!r.stats.stages.visionAhead)
        throw new Error(`swap ${i + 1}: the question did not use the new video`);
    });

  if (o.grpoSteps > 0) {
    // The demo's architecture in plain weights, as the fine-tune view trains it.
    const files = [...demoFiles(new Map(), 64)].map(([n, d]) => new File([d as BlobPart], n));
    await model.loadModel({ kind: 'files', files }, undefined, { weights: 'full' });
    const settings: TrainSettings = {
      ...DEFAULT_TRAIN_SETTINGS,
      steps: o.grpoSteps,
      num_generations: 2,
      max_completion_length: 8,
      frames: 4,
      learning_rate: 1e-3,
      eval_every: 0,
      checkpoint_every: 10,
    };
    const items = squaresItems(4, 7);
    // Sampled when each step's event is emitted: its work is recorded and its tensors released by then.
    const samples: Sample[] = [];
    const t0 = performance.now();
    await train.trainStart(items, settings, (e) => {
      if (e.type !== 'step') return;
      const s = sampleNow();
      samples.push(s);
      const k = samples.length;
      if (k % 10 === 0 || k === o.grpoSteps)
        log(
          `grpo ${k}/${o.grpoSteps}: GPU ${(s.gpuBytes / 2 ** 20).toFixed(2)} MiB in ${s.gpuBuffers} buffers, heap ${(s.heapBytes / 2 ** 20).toFixed(1)} MiB, reward ${e.metrics.reward.toFixed(2)}`,
        );
    });
    results.push({ name: 'grpo', samples, ms: performance.now() - t0 });
  }
  return results;
}
