/**
 * The browser half of `npm run bench:peer`, loaded into a blank page through Vite's dev server. One
 * page runs one backend: our kernels, or onnxruntime-web's WebGPU EP from one of its two bundles. Each
 * case fetches the same inputs (data.ts, made once in Node), checks the backend's output against the
 * CPU reference, then times it with the same method on every backend (see `timeCalls`).
 */
import type * as Ort from 'onnxruntime-web';
import { GpuContext } from '../../../src/gpu/context';
import { acquireDevice } from '../../../src/gpu/device';
import { fromF16Array, toF16Array } from '../../../src/gpu/f16';
import { attentionDecode, createKvCache, kvWrite } from '../../../src/gpu/kernels/attention/kv-cache';
import { matmulQ4 } from '../../../src/gpu/kernels/matmul/matmul-q4';
import { type Q4Host, releaseQ4, uploadQ4 } from '../../../src/gpu/kernels/quant/format';
import {
  type GqaCacheMode,
  type GqaShape,
  gqaModel,
  matmulNBitsModel,
  type PeerDtype,
} from '../../bench/peer/graphs';

export type Backend = 'ours' | 'ort-native' | 'ort-jsep';

/** ORT's two WebGPU backends: the native C++ EP (asyncify build) and the older JS EP (JSEP). */
export const ORT_BUNDLES: Record<Exclude<Backend, 'ours'>, string> = {
  'ort-native': 'ort.webgpu.min.mjs',
  'ort-jsep': 'ort.min.mjs',
};

export interface MatmulCase {
  kind: 'matmul';
  M: number;
  N: number;
  K: number;
}

export interface AttentionCase extends GqaShape {
  kind: 'attention';
}

export type PeerCase = (MatmulCase | AttentionCase) & { id: string; dtype: PeerDtype };

export interface TimingOptions {
  /** Stop sampling after this long (ms), once `minSamples` are in. */
  budgetMs: number;
  minSamples: number;
  maxSamples: number;
  /** Batch calls so one sample takes at least this long (ms). */
  batchMs: number;
}

export interface CaseResult {
  id: string;
  backend: Backend;
  /** Median ms per call; null when the case failed. */
  ms: number | null;
  samples: number;
  /** Largest |out − reference| and the bound it had to meet. */
  maxErr: number;
  tol: number;
  /** How the case ran, where backends differ (e.g. ORT's KV-cache mode). */
  note?: string;
  /** ORT: the execution providers its nodes were placed on, and the adapter of its GPUDevice. */
  placement?: string[];
  adapter?: string;
  error?: string;
}

export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallback: boolean;
  f16: boolean;
  subgroups: boolean;
  timestampQuery: boolean;
}

// ---- inputs and references (made in Node by data.ts, fetched from the bench server) -------------

const ARRAY_TYPES = {
  x: Float32Array,
  packed: Uint32Array,
  scales: Float32Array,
  ortB: Uint8Array,
  ortScales: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  ref: Float32Array,
} as const;
type ArrayName = keyof typeof ARRAY_TYPES;
type Arrays = { [K in ArrayName]: InstanceType<(typeof ARRAY_TYPES)[K]> };

async function fetchArrays<N extends ArrayName>(id: string, names: N[]): Promise<Pick<Arrays, N>> {
  const out = {} as Pick<Arrays, N>;
  for (const name of names) {
    const r = await fetch(`/peer-data/${encodeURIComponent(id)}/${name}`);
    if (!r.ok) throw new Error(`no data ${id}/${name}`);
    out[name] = new ARRAY_TYPES[name](await r.arrayBuffer()) as Arrays[N];
  }
  return out;
}

/**
 * Bound on |out − ref|: f32 sums in another order (≈ √n·ε relative to the output's scale, with a wide
 * margin); with f16 activations the output is rounded to f16 and a backend may accumulate in f16 (1%).
 * A layout or indexing mistake is off by O(peak).
 */
function tolerance(c: PeerCase, ref: Float32Array): number {
  let peak = 0;
  for (const v of ref) peak = Math.max(peak, Math.abs(v));
  const rel = c.dtype === 'f16' ? 1e-2 : 2e-6 * Math.sqrt(c.kind === 'matmul' ? c.K : c.S);
  return 1e-6 + rel * Math.max(1, peak);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return m;
}

// ---- timing ------------------------------------------------------------------------------------

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Wall-clock per call, the same on every backend: batches of `call`s ended by waiting for the queue
 * (`sync`), divided by the batch size; the median over batches. Warm-up (compilation, first uploads)
 * is excluded. The batch grows until one takes `batchMs`, so small kernels on fast GPUs are not
 * measured by the wait alone.
 */
async function timeCalls(
  call: () => unknown,
  sync: () => Promise<void>,
  o: TimingOptions,
): Promise<{ ms: number; samples: number }> {
  const w0 = performance.now();
  await call();
  await sync();
  const first = performance.now() - w0;
  // A call slower than the whole budget is timed once more after one more warm-up, not minSamples times.
  const minSamples = first > o.budgetMs ? 1 : o.minSamples;
  if (first < o.budgetMs) {
    await call();
    await sync();
  }
  const samples: number[] = [];
  const start = performance.now();
  let k = 1;
  while (
    samples.length < minSamples ||
    (samples.length < o.maxSamples && performance.now() - start < o.budgetMs)
  ) {
    const t0 = performance.now();
    for (let i = 0; i < k; i++) await call();
    await sync();
    const per = (performance.now() - t0) / k;
    samples.push(per);
    k = Math.max(1, Math.min(256, Math.floor(o.batchMs / Math.max(per, 1e-3))));
  }
  return { ms: median(samples), samples: samples.length };
}

// ---- our kernels -------------------------------------------------------------------------------

let ctx: GpuContext | null = null;

async function ourContext(): Promise<GpuContext> {
  if (!ctx) {
    const { device, summary } = await acquireDevice(navigator.gpu);
    ctx = new GpuContext(device, summary);
  }
  return ctx;
}

export async function adapterReport(): Promise<AdapterReport> {
  const c = await ourContext();
  const s = c.summary;
  return {
    vendor: s.vendor,
    architecture: s.architecture,
    device: s.device,
    description: s.description,
    isFallback: s.isFallback,
    f16: s.f16,
    subgroups: s.subgroups,
    timestampQuery: s.timestampQuery,
  };
}

async function runOurs(c: PeerCase, o: TimingOptions): Promise<CaseResult> {
  const g = await ourContext();
  if (c.dtype === 'f16' && !g.summary.f16) throw new Error('no shader-f16 on this adapter');
  if (c.kind === 'matmul') {
    const { M, N, K } = c;
    const d = await fetchArrays(c.id, ['x', 'packed', 'scales', 'ref']);
    const host: Q4Host = {
      packed: d.packed,
      scales: d.scales,
      N,
      K,
      groupSize: 32,
      scheme: 'sym',
      scaleDtype: 'f16',
    };
    const q = uploadQ4(g, host);
    const x = g.upload(d.x, [M, K], c.dtype);
    try {
      const y = matmulQ4(g, x, q, null);
      const maxErr = maxAbsDiff(await g.read(y), d.ref);
      g.release(y);
      const t = await timeCalls(
        () => g.release(matmulQ4(g, x, q, null)),
        () => g.sync(),
        o,
      );
      return { id: c.id, backend: 'ours', ...t, maxErr, tol: tolerance(c, d.ref) };
    } finally {
      releaseQ4(g, q);
      g.release(x);
      g.pool.trim();
    }
  }
  const { T, S, Hq, Hkv, D } = c;
  const d = await fetchArrays(c.id, ['q', 'k', 'v', 'ref']);
  const kv = createKvCache(g, { B: 1, Smax: S, Hkv, D }, c.dtype);
  const newRows = (a: Float32Array) => a.subarray((S - T) * Hkv * D);
  // The cache starts with all S rows; each call writes the T new rows again (same values) and
  // attends, as a decode step (T = 1) or a prefill chunk (T = S) of the engine does.
  const kc = g.upload(d.k, [1, S, Hkv, D], c.dtype);
  const vc = g.upload(d.v, [1, S, Hkv, D], c.dtype);
  g.copyRegion(kc, 0, kv.k, 0, kc.byteLength);
  g.copyRegion(vc, 0, kv.v, 0, vc.byteLength);
  const kNew = g.upload(newRows(d.k), [1, T, Hkv, D], c.dtype);
  const vNew = g.upload(newRows(d.v), [1, T, Hkv, D], c.dtype);
  const q = g.upload(d.q, [1, T, Hq, D], c.dtype);
  const scale = 1 / Math.sqrt(D);
  const step = () => {
    kvWrite(g, kv, kNew, vNew, S - T);
    return attentionDecode(g, q, kv.k, kv.v, S, scale);
  };
  try {
    const y = step();
    const maxErr = maxAbsDiff(await g.read(y), d.ref);
    g.release(y);
    const t = await timeCalls(
      () => g.release(step()),
      () => g.sync(),
      o,
    );
    return { id: c.id, backend: 'ours', ...t, maxErr, tol: tolerance(c, d.ref) };
  } finally {
    g.release(kc, vc, kNew, vNew, q, kv.k, kv.v);
    g.pool.trim();
  }
}

// ---- onnxruntime-web ---------------------------------------------------------------------------

type OrtModule = typeof Ort;
let ort: OrtModule | null = null;

async function loadOrt(backend: Exclude<Backend, 'ours'>, base: string): Promise<OrtModule> {
  if (ort) return ort;
  hookOrtLog();
  const m = (await import(/* @vite-ignore */ `${base}${ORT_BUNDLES[backend]}`)) as OrtModule;
  const mod = (m as unknown as { default?: OrtModule }).default?.InferenceSession
    ? (m as unknown as { default: OrtModule }).default
    : m;
  // One wasm thread: no SharedArrayBuffer, so no COOP/COEP headers needed. The GPU does the work.
  mod.env.wasm.numThreads = 1;
  mod.env.wasm.wasmPaths = base;
  mod.env.logLevel = 'warning';
  ort = mod;
  return mod;
}

const ORT_TYPE = { f32: 'float32', f16: 'float16' } as const;

/** A GPU tensor on ORT's device holding `data` (f32 values, stored as the case's dtype). */
function gpuTensor(
  o: OrtModule,
  device: GPUDevice,
  data: Float32Array | Int32Array | null,
  dims: number[],
  type: 'float32' | 'float16' | 'int32',
): { t: Ort.Tensor; buffer: GPUBuffer } {
  const n = dims.reduce((a, b) => a * b, 1);
  const bytes = n * (type === 'float16' ? 2 : 4);
  const buffer = device.createBuffer({
    size: Math.ceil(bytes / 16) * 16,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  if (data) {
    const host = type === 'float16' ? toF16Array(data as Float32Array) : data;
    const padded = new Uint8Array(Math.ceil(host.byteLength / 4) * 4);
    padded.set(new Uint8Array(host.buffer, host.byteOffset, host.byteLength));
    device.queue.writeBuffer(buffer, 0, padded);
  }
  return { t: o.Tensor.fromGpuBuffer(buffer, { dataType: type, dims }), buffer };
}

async function readGpu(
  device: GPUDevice,
  buffer: GPUBuffer,
  n: number,
  type: PeerDtype,
): Promise<Float32Array> {
  const bytes = n * (type === 'f16' ? 2 : 4);
  const size = Math.ceil(bytes / 4) * 4;
  const staging = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, 0, staging, 0, size);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const raw = staging.getMappedRange().slice(0, bytes);
  staging.destroy();
  return type === 'f16' ? fromF16Array(new Uint16Array(raw)) : new Float32Array(raw);
}

/** Rearranges [S, H, D] rows into [H, S, D] (ORT's BNSH cache). */
function toBnsh(a: Float32Array, S: number, H: number, D: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let s = 0; s < S; s++)
    for (let h = 0; h < H; h++) out.set(a.subarray((s * H + h) * D, (s * H + h + 1) * D), (h * S + s) * D);
  return out;
}

/** The KV-cache mode each ORT backend runs GQA in (graphs.ts GqaCacheMode: the best each supports). */
export const GQA_CACHE: Record<Exclude<Backend, 'ours'>, GqaCacheMode> = {
  'ort-native': 'shared',
  'ort-jsep': 'concat',
};

interface OrtIo {
  feeds: Record<string, Ort.Tensor>;
  fetches: Record<string, Ort.Tensor>;
  /** The output checked against the reference. */
  out: GPUBuffer;
}

type MakeTensor = (data: Float32Array | null, dims: number[]) => { t: Ort.Tensor; buffer: GPUBuffer };

function matmulIo(c: PeerCase & MatmulCase, x: Float32Array, mk: MakeTensor): OrtIo {
  const y = mk(null, [c.M, c.N]);
  return { feeds: { A: mk(x, [c.M, c.K]).t }, fetches: { Y: y.t }, out: y.buffer };
}

function gqaIo(
  m: OrtModule,
  c: PeerCase & AttentionCase,
  d: { q: Float32Array; k: Float32Array; v: Float32Array },
  mode: GqaCacheMode,
  mk: MakeTensor,
): OrtIo {
  const { T, S, Hq, Hkv, D } = c;
  const rows = (a: Float32Array) => a.subarray((S - T) * Hkv * D);
  const y = mk(null, [1, T, Hq * D]);
  const feeds: Record<string, Ort.Tensor> = {
    query: mk(d.q, [1, T, Hq * D]).t,
    key: mk(rows(d.k), [1, T, Hkv * D]).t,
    value: mk(rows(d.v), [1, T, Hkv * D]).t,
    // Host tensors: total_sequence_length is a CPU input of the op; seqlens_k is 4 bytes.
    seqlens_k: new m.Tensor('int32', Int32Array.of(S - 1), [1]),
    total_sequence_length: new m.Tensor('int32', Int32Array.of(S), [1]),
  };
  const cacheDims = [1, Hkv, S, D];
  if (S > T && mode === 'shared') {
    const pk = mk(toBnsh(d.k, S, Hkv, D), cacheDims);
    const pv = mk(toBnsh(d.v, S, Hkv, D), cacheDims);
    feeds.past_key = pk.t;
    feeds.past_value = pv.t;
    // The same GPU buffers again as outputs: ORT sees past and present share memory.
    const dataType = ORT_TYPE[c.dtype];
    const fetches = {
      output: y.t,
      present_key: m.Tensor.fromGpuBuffer(pk.buffer, { dataType, dims: cacheDims }),
      present_value: m.Tensor.fromGpuBuffer(pv.buffer, { dataType, dims: cacheDims }),
    };
    return { feeds, fetches, out: y.buffer };
  }
  if (S > T) {
    const P = S - T;
    const past = (a: Float32Array) => toBnsh(a.subarray(0, P * Hkv * D), P, Hkv, D);
    feeds.past_key = mk(past(d.k), [1, Hkv, P, D]).t;
    feeds.past_value = mk(past(d.v), [1, Hkv, P, D]).t;
    // present is not fetched: ORT's shape inference sizes it as the past ([.., S − T, ..]) and rejects a
    // pre-allocated [.., S, ..]; the kernel still writes it, into ORT's own buffers.
    return { feeds, fetches: { output: y.t }, out: y.buffer };
  }
  return {
    feeds,
    fetches: { output: y.t, present_key: mk(null, cacheDims).t, present_value: mk(null, cacheDims).t },
    out: y.buffer,
  };
}

/** Runs log only errors (the session was created with verbose logging, see createSession). */
const QUIET = { logSeverityLevel: 3 } as const;

/** Placement lines ORT printed while the current session was being created. */
let placementLines: string[] = [];

/**
 * ORT's wasm binds console.error/warn when it loads, so the hook goes in before the import and stays:
 * it keeps the "… placed on [EP]" lines and drops the rest of the verbose session-creation log.
 */
function hookOrtLog(): void {
  for (const name of ['error', 'warn', 'log'] as const) {
    const f = console[name].bind(console);
    console[name] = (...a: unknown[]) => {
      const text = a.map(String).join(' ');
      if (/placed on \[/.test(text)) placementLines.push(text);
      else if (!/\[[VI]:onnxruntime/.test(text)) f(...a);
    };
  }
}

/**
 * Creates the session with verbose logging to learn where ORT placed the nodes: a node its WebGPU EP
 * lacks silently runs on the CPU EP, and timing that would compare the wrong thing.
 */
async function createSession(
  m: OrtModule,
  model: Uint8Array,
): Promise<{ session: Ort.InferenceSession; placement: string[] }> {
  placementLines = [];
  const session = await m.InferenceSession.create(model, {
    executionProviders: ['webgpu'],
    preferredOutputLocation: 'gpu-buffer',
    logSeverityLevel: 0,
    logVerbosityLevel: 0,
  });
  const eps = placementLines.flatMap((l) => [...l.matchAll(/placed on \[([^\]]+)\]/g)].map((x) => x[1]));
  return { session, placement: [...new Set(eps)] };
}

async function runOrt(
  backend: Exclude<Backend, 'ours'>,
  base: string,
  c: PeerCase,
  o: TimingOptions,
): Promise<CaseResult> {
  const m = await loadOrt(backend, base);
  const mode = GQA_CACHE[backend];
  const md = c.kind === 'matmul' ? await fetchArrays(c.id, ['x', 'ortB', 'ortScales', 'ref']) : null;
  const ad = c.kind === 'attention' ? await fetchArrays(c.id, ['q', 'k', 'v', 'ref']) : null;
  const model =
    c.kind === 'matmul' && md
      ? matmulNBitsModel({ N: c.N, K: c.K, B: md.ortB, scales: md.ortScales }, c.M, c.dtype)
      : gqaModel(c as AttentionCase, c.dtype, mode);
  const { session, placement } = await createSession(m, model);
  const owned: GPUBuffer[] = [];
  try {
    const off = placement.filter((ep) => ep !== 'WebGpuExecutionProvider' && ep !== 'JsExecutionProvider');
    if (!placement.length) throw new Error('ORT did not report where it placed the nodes');
    if (off.length) throw new Error(`node(s) placed on ${off.join(', ')}, not on WebGPU`);
    // ORT's device exists once its first WebGPU session does; inputs must live on it.
    const device = (await m.env.webgpu.device) as GPUDevice;
    const mk: MakeTensor = (data, dims) => {
      const r = gpuTensor(m, device, data, dims, ORT_TYPE[c.dtype]);
      owned.push(r.buffer);
      return r;
    };
    const io =
      c.kind === 'matmul' && md
        ? matmulIo(c, md.x, mk)
        : gqaIo(m, c as AttentionCase & PeerCase, ad!, mode, mk);
    const ref = (md ?? ad)!.ref;
    const run = () => session.run(io.feeds, io.fetches, QUIET);
    await run();
    const maxErr = maxAbsDiff(await readGpu(device, io.out, ref.length, c.dtype), ref);
    const t = await timeCalls(run, () => device.queue.onSubmittedWorkDone(), o);
    const note = c.kind === 'attention' && c.S > c.T ? `KV cache ${mode}` : undefined;
    const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    const adapter = info
      ? [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ')
      : '?';
    return {
      id: c.id,
      backend,
      ...t,
      maxErr,
      tol: tolerance(c, ref),
      placement,
      adapter,
      ...(note ? { note } : {}),
    };
  } finally {
    await session.release();
    for (const b of owned) b.destroy();
  }
}

/** Runs one case on this page's backend; failures come back as results with an error. */
export async function runCase(
  backend: Backend,
  c: PeerCase,
  o: TimingOptions,
  ortBase = '/ort/',
): Promise<CaseResult> {
  try {
    return backend === 'ours' ? await runOurs(c, o) : await runOrt(backend, ortBase, c, o);
  } catch (e) {
    return {
      id: c.id,
      backend,
      ms: null,
      samples: 0,
      maxErr: Number.NaN,
      tol: Number.NaN,
      error: String((e as Error)?.message ?? e),
    };
  }
}
