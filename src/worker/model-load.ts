/**
 * A checkpoint from a ModelSource to a ready model: WeightSource → openCheckpoint (config, every
 * shard's header and the manifest check, before any weight is read) → tokenizer through the same
 * source → weights uploaded tensor by tensor → TinyLlavaVideo (KV cache allocated). Nothing here
 * touches the model that is currently loaded: the service swaps only once this resolves.
 */

import type {
  LoadModelOptions,
  ModelInfo,
  ModelLoadProgress,
  ModelSource,
  WeightFormat,
} from '../engine-client/protocol';
import { EngineError } from '../engine-client/protocol';
import type { GpuContext } from '../gpu/context';
import { readQ4, releaseQ4 } from '../gpu/kernels/quant/format';
import { quantizeQ4 } from '../gpu/kernels/quant/quantize';
import { type OpenedCheckpoint, openCheckpoint } from '../model/checkpoint';
import type { Quantizer } from '../model/convert';
import { ENGINE_Q4, isQuantizable, loadWeights } from '../model/load';
import type { CacheKey } from '../model/model-cache';
import { type ModelPlan, planModel } from '../model/plan';
import { pickedFiles, pickedFolder } from '../model/sources/files';
import { type HttpSourceOptions, HttpWeightSource } from '../model/sources/http';
import { DownloadMeter } from '../model/sources/progress';
import { ReadAhead, readOrder } from '../model/sources/read-ahead';
import { describeModel, hubBaseUrl } from '../model/sources/resolve';
import { TinyLlavaVideo } from '../model/tinyllava';
import { readTokenizer, type TextTokenizer } from '../model/tokenizer';
import { readText, type WeightSource } from '../model/weight-source';
import type { ModelCache } from './model-cache';

/** Above this many quantizable parameters, 'auto' loads 4-bit weights (the 3B model has ~3 billion). */
export const AUTO_Q4_PARAMS = 500_000_000;

export interface LoadedModel {
  /** Distinct per load: keys the visual-token cache. */
  id: number;
  model: TinyLlavaVideo;
  tokenizer: TextTokenizer;
  eosIds: number[];
  info: ModelInfo;
  /** The longest prompt a prefill may take on this adapter (the load plan's); default the context. */
  maxPrompt?: number;
}

/** The source's reader; `http` (retries, cancellation, byte progress) applies to URL and hub sources. */
export function weightSource(source: ModelSource, http: HttpSourceOptions = {}): WeightSource {
  if (source.kind === 'url') {
    // Relative URLs resolve against the worker's location (the UI sends absolute ones).
    const base = new URL(source.baseUrl, globalThis.location?.href).href;
    return new HttpWeightSource(base, http);
  }
  if (source.kind === 'hub') return new HttpWeightSource(hubBaseUrl(source), http);
  if (!source.files?.length)
    throw new EngineError(
      'model-not-found',
      'No files were picked.',
      'Pick the checkpoint folder or its files.',
    );
  return pickedFiles(source.files);
}

export function sourceName(source: ModelSource): string {
  if (source.kind === 'hub')
    return describeModel({
      kind: 'hub',
      repo: source.repo,
      revision: source.revision ?? 'main',
      endpoint: '',
    });
  if (source.kind === 'url') {
    const parts = source.baseUrl.split(/[?#]/)[0].split('/').filter(Boolean);
    // A hub-style resolve URL (…/<ns>/<name>/resolve/<rev>/) is named after its repo.
    const r = parts.length - 2;
    if (r >= 3 && parts[r] === 'resolve') {
      const rev = decodeURIComponent(parts[r + 1]);
      return `${parts[r - 2]}/${parts[r - 1]}${rev === 'main' ? '' : `@${rev}`}`;
    }
    return decodeURIComponent(parts[parts.length - 1] ?? source.baseUrl);
  }
  return pickedFolder(source.files) ?? 'picked files';
}

/** The offline cache's key of a hub or URL source (picked files are local already: none). */
export function cacheKeyOf(source: ModelSource): CacheKey | undefined {
  if (source.kind === 'hub') return { id: source.repo, revision: source.revision ?? 'main' };
  if (source.kind === 'url')
    return { id: new URL(source.baseUrl, globalThis.location?.href).href, revision: '' };
  return undefined;
}

/**
 * Loads a model. With a `cache` (OPFS), a hub or URL model that loads 4-bit is read from its offline
 * copy when there is one (no network), and otherwise converted into the cache as it downloads and then
 * loaded from there, so the first and every later load read the same 4-bit files.
 */
export async function loadCheckpoint(
  ctx: GpuContext,
  source: ModelSource,
  id: number,
  onProgress?: (p: ModelLoadProgress) => void,
  signal?: AbortSignal,
  format: WeightFormat = 'auto',
  cache?: ModelCache | null,
  fit: FitOptions = {},
): Promise<LoadedModel> {
  const t0 = performance.now();
  let last: ModelLoadProgress = { phase: 'open', loadedBytes: 0, totalBytes: 0 };
  const report = (p: ModelLoadProgress) => {
    last = p;
    onProgress?.(p);
  };
  // Download progress joins the latest phase event; the meter counts weight bytes once planned.
  const meter = new DownloadMeter((download) => onProgress?.({ ...last, download }));
  const src = weightSource(source, {
    signal,
    onBytes: (path, n) => meter.add(path, n),
    onRetry: (r) => meter.retried(r),
  });
  const http = src instanceof HttpWeightSource;
  // Over HTTP a few shards download at a time, ahead of the conversion or upload.
  const read: WeightSource = http ? new ReadAhead(src) : src;
  const key = cache && format !== 'full' ? cacheKeyOf(source) : undefined;
  try {
    if (cache && key && (await cache.usable())) {
      const hit = await cache.open(key);
      if (hit) {
        const io = { src: hit.src, onProgress: report, meter, http: false, t0, fit };
        return await loadFrom(ctx, source, id, io, signal, 'q4', undefined, 'read');
      }
      report({ phase: 'open', loadedBytes: 0, totalBytes: 0 });
      const ckpt = await openCheckpoint(read);
      signal?.throwIfAborted();
      // Refused before a byte of weights is downloaded when the adapter cannot hold it.
      planFor(ctx, ckpt, wantsQ4(ckpt, format), fit);
      const cacheProgress = (loadedBytes: number, totalBytes: number) =>
        report({ phase: 'cache', loadedBytes, totalBytes, download: meter.snapshot() });
      if (ckpt.converted) {
        // Already converted (a self-hosted `npm run convert` folder): copied into the cache as it is.
        meter.plan(new Map(Object.entries(ckpt.converted.manifest.files).map(([f, e]) => [f, e.size])));
        const stored = await cache.storeConverted(key, ckpt, cacheProgress, signal);
        const io = { src: stored.src, onProgress: report, meter, http: false, t0, fit };
        return await loadFrom(ctx, source, id, io, signal, 'q4', undefined, 'written');
      }
      if (wantsQ4(ckpt, format)) {
        meter.plan(filePlan(ckpt));
        planReads(read, ckpt); // after the meter's plan, so bytes read ahead are counted
        const commit = src instanceof HttpWeightSource ? src.commit : undefined;
        const stored = await cache.store(
          key,
          ckpt,
          {
            source: sourceName(source),
            ...(source.kind === 'hub' ? { repo: source.repo, revision: commit ?? key.revision } : {}),
          },
          cacheProgress,
          signal,
          gpuQuantizer(ctx),
        );
        const io = { src: stored.src, onProgress: report, meter, http: false, t0, fit };
        return await loadFrom(ctx, source, id, io, signal, 'q4', undefined, 'written');
      }
      return await loadFrom(
        ctx,
        source,
        id,
        { src: read, onProgress: report, meter, http, t0, fit },
        signal,
        format,
        ckpt,
      );
    }
    return await loadFrom(
      ctx,
      source,
      id,
      { src: read, onProgress: report, meter, http, t0, fit },
      signal,
      format,
    );
  } finally {
    if (read instanceof ReadAhead) read.stop();
    if (http) src.close();
  }
}

/** Tells a read-ahead source what the upload or conversion will read, in the order it will. */
function planReads(src: WeightSource, ckpt: OpenedCheckpoint): void {
  if (src instanceof ReadAhead) src.plan(readOrder(ckpt.usedEntries(), (e) => e));
}

/** The converter's quantizer on the GPU: the load-time kernel, read back (bit-identical to the CPU's). */
function gpuQuantizer(ctx: GpuContext): Quantizer {
  return async (w, N, K, q) => {
    const plain = ctx.upload(w, [N, K], 'f32');
    const q4 = quantizeQ4(ctx, plain, q);
    ctx.release(plain);
    try {
      return await readQ4(ctx, q4);
    } finally {
      releaseQ4(ctx, q4);
    }
  };
}

/** Whether the Linear weights load 4-bit: asked for, or 'auto' and the model is large. */
function wantsQ4(ckpt: OpenedCheckpoint, format: WeightFormat): boolean {
  const quantizable = ckpt.report.used
    .filter((t) => isQuantizable(t.name, t.shape))
    .reduce((n, t) => n + numel(t.shape), 0);
  // A converted folder (engine-format.ts) is 4-bit whatever the format asked.
  return !!ckpt.converted || format === 'q4' || (format === 'auto' && quantizable > AUTO_Q4_PARAMS);
}

/** What the upload reads of each file: the download's plan. */
function filePlan(ckpt: OpenedCheckpoint): Map<string, number> {
  const plan = new Map<string, number>();
  for (const e of ckpt.usedEntries()) plan.set(e.file, (plan.get(e.file) ?? 0) + (e.end - e.start));
  return plan;
}

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Lower limits and a GPU memory budget the plan is held to (LoadModelOptions). */
export type FitOptions = Pick<LoadModelOptions, 'limits' | 'gpuMemoryBudget'>;

/** The checkpoint's plan on this adapter (or the lower limits asked for); throws a refusal. */
function planFor(ctx: GpuContext, ckpt: OpenedCheckpoint, q4: boolean, fit: FitOptions): ModelPlan {
  const stored = ckpt.converted?.manifest.quantization;
  const quantize = stored ? { ...stored } : q4 ? ENGINE_Q4 : null;
  const own = ctx.summary.limits;
  const asked = fit.limits ?? own;
  return planModel({
    config: ckpt.config,
    tensors: ckpt.report.used,
    dtype: ctx.actDtype === 'f16' ? 'f16' : 'f32',
    quantize,
    quantizeTables: stored ? stored.tables : !!quantize,
    converted: !!stored,
    limits: {
      maxStorageBufferBindingSize: Math.min(
        own.maxStorageBufferBindingSize,
        asked.maxStorageBufferBindingSize,
      ),
      maxBufferSize: Math.min(own.maxBufferSize, asked.maxBufferSize),
    },
    ...(fit.gpuMemoryBudget ? { memoryBudget: fit.gpuMemoryBudget } : {}),
  });
}

/** One load's source and reporting: the progress callback, the download meter (HTTP sources). */
interface LoadIo {
  src: WeightSource;
  onProgress: (p: ModelLoadProgress) => void;
  meter: DownloadMeter;
  http: boolean;
  t0: number;
  fit: FitOptions;
}

async function loadFrom(
  ctx: GpuContext,
  source: ModelSource,
  id: number,
  { src, onProgress, meter, http, t0, fit }: LoadIo,
  signal: AbortSignal | undefined,
  format: WeightFormat,
  opened?: OpenedCheckpoint,
  cached?: ModelInfo['cached'],
): Promise<LoadedModel> {
  onProgress({ phase: 'open', loadedBytes: 0, totalBytes: 0 });
  // The offline copy was checked when it was written: sizes only, not every hash again.
  const ckpt = opened ?? (await openCheckpoint(src, { trusted: cached !== undefined }));
  signal?.throwIfAborted();

  onProgress({ phase: 'tokenizer', loadedBytes: 0, totalBytes: 0 });
  const tokenizer = await readTokenizer(async (name) => ((await src.has(name)) ? readText(src, name) : null));
  const vocab = ckpt.config.text.vocab;
  const eosIds = ckpt.generation.eosTokenIds.length ? ckpt.generation.eosTokenIds : [tokenizer.endOfTextId];
  const outside = eosIds.filter((e) => e >= vocab);
  if (tokenizer.size > vocab || outside.length)
    throw new EngineError(
      'model-invalid',
      `${src.label}: the tokenizer (${tokenizer.size} ids, eos ${eosIds.join(', ')}) does not fit the model's vocabulary of ${vocab}`,
      'The tokenizer files belong to another model: use the Qwen2.5 tokenizer the checkpoint was trained with.',
    );
  signal?.throwIfAborted();

  const quantized = wantsQ4(ckpt, format);
  const fitted = planFor(ctx, ckpt, quantized, fit);
  const plan = filePlan(ckpt);
  meter.plan(plan);
  planReads(src, ckpt); // after the meter's plan, so bytes read ahead are counted
  const download = () => (http ? { download: meter.snapshot() } : {});
  onProgress({ phase: 'upload', loadedBytes: 0, totalBytes: sum(plan.values()), ...download() });
  const weights = await loadWeights(
    ctx,
    ckpt,
    (p) =>
      onProgress({
        phase: 'upload',
        loadedBytes: p.loadedBytes,
        totalBytes: p.totalBytes,
        tensor: p.tensor,
        ...download(),
      }),
    {
      signal,
      quantize: quantized ? ENGINE_Q4 : null,
      limits: { maxStorageBufferBindingSize: fitted.binding, maxBufferSize: fitted.binding },
    },
  );
  let model: TinyLlavaVideo;
  try {
    const config = { ...ckpt.config, maxLength: fitted.maxLength };
    model = new TinyLlavaVideo(ctx, config, weights, fitted.framesPerPass);
    signal?.throwIfAborted();
  } catch (e) {
    ctx.flush();
    weights.destroy();
    throw e;
  }
  const kvBytes = model.llm.cacheBytes;
  const parameters = ckpt.report.used.reduce((n, t) => n + numel(t.shape), 0);
  const { vision: v, connector: c, text: t } = ckpt.config;
  const info: ModelInfo = {
    name: sourceName(source),
    source: src.label,
    modelType: ckpt.config.modelType,
    dtype: ctx.actDtype === 'f16' ? 'f16' : 'f32',
    quantized,
    parameters,
    bytesOnGpu: weights.totalBytes + kvBytes,
    loadMs: performance.now() - t0,
    config: {
      llm: ckpt.config.llmName,
      vision: {
        imageSize: v.imageSize,
        patchSize: v.patchSize,
        hidden: v.hidden,
        layers: v.layers,
        tokensPerFrame: v.tokensPerFrame,
      },
      connector: { type: c.type, group: c.group, numQueries: c.numQueries, layers: c.layers },
      text: { hidden: t.hidden, layers: t.layers, heads: t.heads, kvHeads: t.kvHeads, vocab: t.vocab },
      maxLength: fitted.maxLength,
    },
    eosTokenIds: eosIds,
    ...(cached ? { cached } : {}),
    fit: {
      maxLength: fitted.maxLength,
      maxPrompt: fitted.maxPrompt,
      framesPerPass: fitted.framesPerPass,
      tables: fitted.tables.map((t) => ({ name: t.name, parts: t.parts })),
      estimatedBytes: fitted.bytes.total,
      notes: fitted.notes,
    },
  };
  return { id, model, tokenizer, eosIds, info, maxPrompt: fitted.maxPrompt };
}

const sum = (v: Iterable<number>) => {
  let n = 0;
  for (const x of v) n += x;
  return n;
};
