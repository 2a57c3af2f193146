/**
 * Frozen-tower features by clip, kept in a file beside the clips and keyed by a hash of the tower's
 * weights, so runs with the same tower skip decoding and the tower (rl:demo writes it, rl:probe reads
 * it). Also the checkpoint folder reader both use.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GpuContext } from '../../src/gpu/context';
import type { TinyLlavaVideo } from '../../src/model/tinyllava';
import { PREFIX } from '../../src/model/weight-manifest';
import { visionParamNames } from '../../src/rl-lite/vision';

export interface FeatureCache {
  get(clip: string): { data: Float32Array; shape: number[] } | undefined;
  put(clip: string, data: Float32Array, shape: number[]): void;
  /** Writes the file if anything was put. */
  save(): void;
  readonly file: string;
}

/** The cache in `dir` for the model's tower (empty when none was written for it). */
export async function featureCache(
  ctx: GpuContext,
  model: TinyLlavaVideo,
  dir: string,
): Promise<FeatureCache> {
  const h = createHash('sha256');
  for (const name of visionParamNames(model.config.vision))
    h.update(await ctx.read(model.weights.get(PREFIX.vision + name)));
  const file = join(dir, `features-${h.digest('hex').slice(0, 16)}.json`);
  const entries = new Map<string, { data: Float32Array; shape: number[] }>();
  if (existsSync(file))
    for (const [k, v] of Object.entries(
      JSON.parse(readFileSync(file, 'utf8')) as Record<string, [number[], string]>,
    ))
      entries.set(k, {
        shape: v[0],
        data: new Float32Array(new Uint8Array(Buffer.from(v[1], 'base64')).buffer),
      });
  let dirty = false;
  return {
    file,
    get: (clip) => entries.get(clip),
    put(clip, data, shape) {
      entries.set(clip, { data, shape });
      dirty = true;
    },
    save() {
      if (!dirty) return;
      const o: Record<string, [number[], string]> = {};
      for (const [k, v] of entries)
        o[k] = [v.shape, Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength).toString('base64')];
      writeFileSync(file, JSON.stringify(o));
      dirty = false;
    },
  };
}

/** A checkpoint folder's files by name. */
export function readFolder(dir: string): Map<string, Uint8Array> {
  return new Map(readdirSync(dir).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]));
}
