/**
 * Node-only test helper: reads the model goldens written by scripts/reference/make_goldens.py
 * (test-data/goldens/model/<fixture>/) and the fixed frames, and opens the fixture checkpoint from
 * public/models/<fixture>/ (run `npm run fixtures` first). Not for the app bundle (uses node:fs).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type OpenedCheckpoint, openCheckpoint } from '../checkpoint';
import { MapWeightSource } from '../sources/map';

export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

export interface GoldenTensor {
  file: string;
  dtype: 'f32';
  shape: number[];
  sha256: string;
}

export interface GoldenIndex {
  fixture: string;
  generatorVersion: number;
  fixtureFiles: Record<string, string>;
  frames: { file: string; shape: [number, number, number, number]; encoding: string; sha256: string };
  prompt: { file: string; part0Ids: number[]; part1Ids: number[] };
  sequence: { promptLength: number; visualStart: number; visualTokens: number };
  decode: { steps: number; rule: string; greedyIds: number[]; margins: number[] };
  tensors: {
    visionFeatures: GoldenTensor;
    connectorOutput: GoldenTensor;
    logits: GoldenTensor;
    finalHidden: GoldenTensor;
  };
  checkpointTensorsNotRead: string[];
}

export const FIXTURE_NAMES = ['tiny-a', 'tiny-b'] as const;

export const goldenDir = (fixture: string) => join(REPO_ROOT, 'test-data/goldens/model', fixture);
export const fixtureDir = (fixture: string) => join(REPO_ROOT, 'public/models', fixture);

export function readGoldenIndex(fixture: string): GoldenIndex {
  return JSON.parse(readFileSync(join(goldenDir(fixture), 'index.json'), 'utf8')) as GoldenIndex;
}

/** One golden tensor as Float32Array (little-endian host). */
export function readGoldenTensor(fixture: string, t: GoldenTensor): Float32Array {
  const b = readFileSync(join(goldenDir(fixture), t.file));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** The frames as model input [F, 3, S, S]: x = (v / 255 − 0.5) / 0.5, each step in float32. */
export function normalizeFrames(u8: Uint8Array): Float32Array {
  const out = new Float32Array(u8.length);
  for (let i = 0; i < u8.length; i++) out[i] = Math.fround(Math.fround(u8[i] / 255) - 0.5) / 0.5;
  return out;
}

export function readGoldenFrames(index: GoldenIndex): Float32Array {
  return normalizeFrames(new Uint8Array(readFileSync(join(REPO_ROOT, index.frames.file))));
}

/**
 * The fixture checkpoint's files from public/models (config, generation config, shards, index,
 * tokenizer: the ones its fixture.json stamp lists), whole in memory: they are small.
 */
export function fixtureFiles(fixture: string): Map<string, Uint8Array> {
  const dir = fixtureDir(fixture);
  if (!existsSync(join(dir, 'fixture.json')))
    throw new Error(`fixture ${fixture} not generated: run \`npm run fixtures\` (writes ${dir})`);
  const stamp = JSON.parse(readFileSync(join(dir, 'fixture.json'), 'utf8')) as {
    files: Record<string, unknown>;
  };
  return new Map(Object.keys(stamp.files).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]));
}

/** Files as the user would pick them (the engine's ModelSource kind 'files'). */
export function asPickedFiles(files: ReadonlyMap<string, Uint8Array>): File[] {
  return [...files].map(([name, b]) => new File([b as Uint8Array<ArrayBuffer>], name));
}

/** The fixture checkpoint, opened from memory. */
export async function openFixture(fixture: string): Promise<OpenedCheckpoint> {
  return openCheckpoint(new MapWeightSource(fixtureFiles(fixture), fixtureDir(fixture)));
}
