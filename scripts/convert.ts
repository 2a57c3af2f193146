/**
 * npm run convert -- <checkpoint dir | hub repo id[@revision] | base URL> <out dir> [--shard-mb 1024] [--force]
 *
 * Writes the engine's converted format (src/model/engine-format.ts): the LLM's and connector's Linear
 * weights and the vocabulary table 4-bit (ENGINE_Q4, quantized on the CPU bit-identically to the GPU's
 * load-time quantizer), the vision tower f16, the rest f32; sharded safetensors with an index, the config
 * and tokenizer files, and engine-manifest.json (format version, source, quantization, each file's size
 * and SHA-256). The app and `--model` load the folder from any path or URL. A hub repo id reads
 * HF_ENDPOINT as the other CLIs do. The folder is written under a temporary name and renamed when
 * complete, so an interrupted run leaves no folder that looks converted.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openCheckpoint } from '../src/model/checkpoint';
import { type ConvertSink, convertCheckpoint } from '../src/model/convert';
import { HttpWeightSource } from '../src/model/sources/http';
import { describeModel, hubBaseUrl, ModelSpecError, resolveModel } from '../src/model/sources/resolve';
import { readTokenizer } from '../src/model/tokenizer';
import { expectLength, readText, type WeightSource, WeightSourceError } from '../src/model/weight-source';

/** A local folder read by byte ranges. */
class FolderSource implements WeightSource {
  readonly label: string;
  private readonly handles = new Map<string, Promise<FileHandle>>();
  constructor(private readonly dir: string) {
    this.label = dir;
  }
  async list() {
    return readdirSync(this.dir).filter((f) => statSync(join(this.dir, f)).isFile());
  }
  async has(path: string) {
    return existsSync(join(this.dir, path)) && statSync(join(this.dir, path)).isFile();
  }
  async size(path: string) {
    if (!(await this.has(path)))
      throw new WeightSourceError('not-found', path, `no ${path} in ${this.label}`);
    return statSync(join(this.dir, path)).size;
  }
  async read(path: string, offset: number, length: number) {
    let h = this.handles.get(path);
    if (!h) {
      h = open(join(this.dir, path), 'r');
      this.handles.set(path, h);
    }
    const out = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await (await h).read(out, got, length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    expectLength(this, path, offset, length, got);
    return out;
  }
  async close() {
    for (const h of this.handles.values()) await (await h).close();
  }
}

function folderSink(dir: string): ConvertSink {
  return {
    async create(path) {
      const h = await open(join(dir, path), 'w');
      return {
        write: async (b) => {
          await h.write(b);
        },
        close: () => h.close(),
      };
    },
  };
}

const fail = (msg: string): never => {
  console.error(`convert: ${msg}`);
  process.exit(2);
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'shard-mb': { type: 'string', default: '1024' },
    force: { type: 'boolean', default: false },
  },
});
if (positionals.length !== 2)
  fail(
    'usage: npm run convert -- <checkpoint dir | repo id[@revision] | URL> <out dir> [--shard-mb 1024] [--force]',
  );
const [spec, outArg] = positionals;
const out = resolve(outArg);
const shardMb = Number(values['shard-mb']);
if (!(shardMb > 0)) fail('--shard-mb must be a positive number');
if (existsSync(out) && readdirSync(out).length > 0 && !values.force)
  fail(`${out} exists and is not empty (--force replaces it)`);

let model: ReturnType<typeof resolveModel>;
try {
  model = resolveModel(spec, {
    endpoint: process.env.HF_ENDPOINT,
    isFolder: (p) => existsSync(p) && statSync(p).isDirectory(),
  });
} catch (e) {
  fail(e instanceof ModelSpecError ? e.message : String(e));
  throw e;
}
if (model.kind === 'folder' && !existsSync(model.path)) fail(`no such folder: ${model.path}`);
const src =
  model.kind === 'folder'
    ? new FolderSource(model.path)
    : new HttpWeightSource(model.kind === 'hub' ? hubBaseUrl(model) : model.base);
const tmp = join(dirname(out), `.${outArg.split('/').filter(Boolean).pop()}.converting-${process.pid}`);
const t0 = performance.now();
try {
  const ckpt = await openCheckpoint(src);
  // A checkpoint the app could not tokenize for is refused now, not when the converted copy loads.
  await readTokenizer(async (name) => ((await src.has(name)) ? readText(src, name) : null)).catch((e) => {
    throw new Error(`${src.label}: tokenizer: ${(e as Error).message}`);
  });
  mkdirSync(tmp, { recursive: true });
  let lastPct = -1;
  const manifest = await convertCheckpoint(ckpt, folderSink(tmp), {
    model: {
      source: describeModel(model),
      ...(model.kind === 'hub'
        ? { repo: model.repo, revision: (src as HttpWeightSource).commit ?? model.revision }
        : {}),
    },
    shardBytes: shardMb * 2 ** 20,
    onProgress: ({ doneBytes, totalBytes }) => {
      const pct = Math.floor((100 * doneBytes) / totalBytes);
      if (pct >= lastPct + 10) {
        lastPct = pct;
        process.stderr.write(`  ${pct}% (${(doneBytes / 2 ** 20).toFixed(1)} MiB written)\n`);
      }
    },
  });
  if (existsSync(out)) rmSync(out, { recursive: true });
  renameSync(tmp, out);
  const shards = Object.entries(manifest.files).filter(([f]) => f.endsWith('.safetensors'));
  const weights = shards.reduce((n, [, f]) => n + f.size, 0);
  const all = Object.values(manifest.files).reduce((n, f) => n + f.size, 0);
  console.log(
    `${describeModel(model)} → ${out}\n` +
      `  ${shards.length} shard(s), ${weights} bytes of weights (${(weights / manifest.sourceWeightBytes).toFixed(3)}× the source's ${manifest.sourceWeightBytes}), ${Object.keys(manifest.files).length + 1} files, ${all} bytes\n` +
      `  ${manifest.quantization.scheme} groups of ${manifest.quantization.groupSize}, ${manifest.quantization.scaleDtype} scales; format ${manifest.format} v${manifest.version}; ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
} catch (e) {
  rmSync(tmp, { recursive: true, force: true });
  fail((e as Error).message);
} finally {
  if (src instanceof FolderSource) await src.close();
  else src.close();
}
