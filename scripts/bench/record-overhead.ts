/**
 * CPU cost of recording one decode step of the tiny-a fixture (public/models/tiny-a) in Node (Dawn):
 *   VK_ICD_FILENAMES=<the lavapipe ICD json> npx tsx scripts/bench/record-overhead.ts [--steps 50]
 * Prints per-step dispatches, bind groups / uniform buffers / other buffers created, submits, the
 * milliseconds spent recording each step of `generate` (nothing waits on the GPU there) and of the
 * whole step with its sampling (record + submit + GPU + readback of the id). Counts come from
 * wrapping the device's methods, so the figures mean the same with or without GpuContext's caches.
 * Options: --steps 50, --warmup 5, --greedy (default sampling: temperature 1, top-k 50),
 * --breakdown: also the per-step medians of the time inside `ctx.pipeline`, inside `ctx.dispatch`,
 * and inside Dawn's encoding calls (setPipeline, setBindGroup, dispatchWorkgroups, createCommandEncoder,
 * beginComputePass, queue.writeBuffer) during `model.step`; the timers add a little to every figure.
 * --q4: load the weights 4-bit as the engine does (ENGINE_Q4) instead of in the activation dtype.
 */
import { parseArgs } from 'node:util';
import { adapterName, closeNodeGpu, nodeGpuContext } from '../../src/gpu/testing/node-gpu';
import { generate } from '../../src/model/generate';
import { ENGINE_Q4, loadWeights } from '../../src/model/load';
import { R1_EVAL_SAMPLING, resolveSampling } from '../../src/model/sampling';
import { openFixture } from '../../src/model/testing/goldens';
import { TinyLlavaVideo } from '../../src/model/tinyllava';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '5' },
    greedy: { type: 'boolean', default: false },
    breakdown: { type: 'boolean', default: false },
    q4: { type: 'boolean', default: false },
  },
});
const steps = Number(values.steps);
const warmup = Number(values.warmup);

const ctx = await nodeGpuContext();
const { device } = ctx;
const counts = { dispatches: 0, bindGroups: 0, uniformBuffers: 0, otherBuffers: 0, submits: 0 };

// Count at the device boundary (own properties shadow the prototype's methods).
const createBindGroup = device.createBindGroup.bind(device);
device.createBindGroup = (d) => {
  counts.bindGroups++;
  return createBindGroup(d);
};
const createBuffer = device.createBuffer.bind(device);
device.createBuffer = (d) => {
  if (d.usage & GPUBufferUsage.UNIFORM) counts.uniformBuffers++;
  else counts.otherBuffers++;
  return createBuffer(d);
};
const submit = device.queue.submit.bind(device.queue);
device.queue.submit = (b) => {
  counts.submits++;
  submit(b);
};
const dispatch = ctx.dispatch.bind(ctx);
ctx.dispatch = (d) => {
  counts.dispatches++;
  dispatch(d);
};

// --breakdown: milliseconds per timed function during the current model.step.
const timed = new Map<string, number>();
let timing = false;
function timeMethod(owner: object, name: string, as = name): void {
  const o = owner as Record<string, (...a: unknown[]) => unknown>;
  const f = o[name];
  o[name] = function (this: unknown, ...args: unknown[]) {
    if (!timing) return f.apply(this, args);
    const t = performance.now();
    try {
      return f.apply(this, args);
    } finally {
      timed.set(as, (timed.get(as) ?? 0) + performance.now() - t);
    }
  };
}
if (values.breakdown) {
  timeMethod(ctx, 'pipeline', 'ctx.pipeline');
  timeMethod(ctx, 'dispatch', 'ctx.dispatch (with Dawn)');
  const g = globalThis as unknown as Record<string, { prototype: object }>;
  for (const n of ['setPipeline', 'setBindGroup', 'dispatchWorkgroups'])
    timeMethod(g.GPUComputePassEncoder.prototype, n, `  Dawn ${n}`);
  timeMethod(g.GPUCommandEncoder.prototype, 'beginComputePass', '  Dawn beginComputePass');
  timeMethod(g.GPUDevice.prototype, 'createCommandEncoder', '  Dawn createCommandEncoder');
  timeMethod(g.GPUQueue.prototype, 'writeBuffer', '  Dawn queue.writeBuffer');
}

const ckpt = await openFixture('tiny-a');
const loadOpts = values.q4 ? { quantize: ENGINE_Q4 } : {};
const model = new TinyLlavaVideo(ctx, ckpt.config, await loadWeights(ctx, ckpt, undefined, loadOpts), 2);
const opts = values.greedy ? { ...R1_EVAL_SAMPLING, temperature: 0 } : R1_EVAL_SAMPLING;
const sampling = resolveSampling(opts);

// generate's own loop, never stopping early: the prompt, `warmup` steps, then `steps` timed steps.
const recordMs: number[] = [];
const recordCpuMs: number[] = [];
const starts: number[] = [];
const breakdown = new Map<string, number[]>();
let stats0: Record<string, number> | null = null;
let recorded = 0;
await generate(
  model,
  null,
  {
    before: [1, 2, 3, 4],
    after: [5, 6, 7],
    visual: null,
    sampling: { ...opts, seed: 1, maxNewTokens: warmup + steps + 1 },
    eosIds: [],
  },
  {
    recordStep: (step) => {
      if (recorded++ < warmup) return step();
      if (recorded === warmup + 1) {
        for (const k of Object.keys(counts) as (keyof typeof counts)[]) counts[k] = 0;
        // ctx.stats is optional here so the script also runs against an older GpuContext (before/after runs).
        stats0 = ctx.stats ? { ...(ctx.stats as unknown as Record<string, number>) } : null;
      }
      // Wall time suffers from other processes on a shared machine: report the median too, and the
      // process CPU time of recording (the GPU is idle then: the previous step's readback completed).
      timed.clear();
      timing = values.breakdown ?? false;
      const a = performance.now();
      starts.push(a);
      const c = process.cpuUsage();
      const logits = step();
      const cpu = process.cpuUsage(c);
      timing = false;
      for (const [k, v] of timed) breakdown.set(k, [...(breakdown.get(k) ?? []), v]);
      recordMs.push(performance.now() - a);
      recordCpuMs.push((cpu.user + cpu.system) / 1000);
      return logits;
    },
  },
);
starts.push(performance.now());
// Each step: its recording, then (inside generate) the sampling readback, until the next step starts.
const stepMs = starts.slice(1).map((t, i) => t - starts[i]);
if (model.llm.length > model.llm.maxLength) throw new Error('too many steps for maxLength');
const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
const median = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1];
const ms = (x: number[]) => `${mean(x).toFixed(3)} (median ${median(x).toFixed(3)})`;

const per = (n: number) => (n / steps).toFixed(2);
console.log(`adapter: ${adapterName(ctx)} (${ctx.actDtype}, ${ctx.variant}); sampling ${sampling.mode}`);
console.log(`steps: ${steps} (after ${warmup} warm-up)`);
console.log(`dispatches/step:             ${per(counts.dispatches)}`);
console.log(`bind groups created/step:    ${per(counts.bindGroups)}`);
console.log(`uniform buffers created/step: ${per(counts.uniformBuffers)}`);
console.log(`other buffers created/step:  ${per(counts.otherBuffers)}`);
console.log(`submits/step:                ${per(counts.submits)}`);
console.log(`record ms/step (model.step):  ${ms(recordMs)}`);
console.log(`record CPU ms/step:           ${ms(recordCpuMs)}`);
console.log(`step ms (+ sampleToHost):     ${ms(stepMs)}`);
// ctx.* first, then the Dawn calls (indented: most run inside ctx.dispatch; writeBuffer also in uploads).
const order = (k: string) => `${k.startsWith(' ') ? 1 : 0}${k.trim()}`;
for (const [k, v] of [...breakdown].sort(([p], [q]) => order(p).localeCompare(order(q))))
  console.log(`${`${k} ms/step:`.padEnd(38)} ${ms(v)}`);
if (stats0 && ctx.stats) {
  const s = ctx.stats as unknown as Record<string, number>;
  const diff = Object.entries(s).map(
    ([k, v]) => `${k} ${per(v - (stats0 as unknown as Record<string, number>)[k])}`,
  );
  console.log(`ctx.stats/step: ${diff.join(', ')}`);
}
model.destroy();
closeNodeGpu(ctx);
