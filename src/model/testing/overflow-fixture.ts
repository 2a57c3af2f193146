/**
 * Node-only test helper: the f16-overflow fixture — tiny-a with the weight edits that
 * scripts/reference/make_overflow_goldens.py lists in test-data/goldens/model/tiny-a-overflow/index.json
 * (one residual channel grows past f16's 65504), built in memory from public/models/tiny-a, and its
 * goldens (sampled logits of the float32 PyTorch reference).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type OpenedCheckpoint, openCheckpoint } from '../checkpoint';
import { readShardHeader } from '../safetensors';
import { MapWeightSource } from '../sources/map';
import { bf16ToF32, f32ToBf16 } from '../weight-convert';
import { fixtureDir, fixtureFiles, goldenDir } from './goldens';

/** value written to tensor rows [r0, r1) × columns [c0, c1), the tensor seen as [numel / last, last]. */
export interface WeightEdit {
  tensor: string;
  rows: [number, number];
  cols: [number, number];
  value: number;
}

export interface OverflowGolden {
  fixture: string;
  fixtureFiles: Record<string, string>;
  edits: WeightEdit[];
  channel: number;
  residualPeak: number;
  promptIds: number[];
  decode: {
    steps: number;
    greedyIds: number[];
    margins: number[];
    top: { ids: number[]; logits: number[] }[];
  };
  logits: { file: string; shape: [number, number]; stride: number };
}

export const OVERFLOW_GOLDEN = 'tiny-a-overflow';

export function readOverflowGolden(): { index: OverflowGolden; logits: Float32Array } {
  const dir = goldenDir(OVERFLOW_GOLDEN);
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as OverflowGolden;
  const b = readFileSync(join(dir, index.logits.file));
  return { index, logits: new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)) };
}

/** The fixture's files with the edits written into its bf16 tensors (checked against the goldens' hashes). */
export async function openOverflowFixture(index: OverflowGolden): Promise<OpenedCheckpoint> {
  const files = fixtureFiles(index.fixture);
  for (const [f, sha] of Object.entries(index.fixtureFiles)) {
    const got = createHash('sha256')
      .update(files.get(f) ?? new Uint8Array())
      .digest('hex');
    if (got !== sha)
      throw new Error(
        `${f} of ${index.fixture} differs from the one the goldens were made from: regenerate them`,
      );
  }
  const src = new MapWeightSource(files);
  const shards = [...files.keys()].filter((f) => f.endsWith('.safetensors'));
  const entries = (await Promise.all(shards.map((f) => readShardHeader(src, f)))).flatMap((h) => h.entries);
  for (const e of index.edits) {
    const t = entries.find((x) => x.name === e.tensor);
    if (t?.dtype !== 'BF16') throw new Error(`overflow fixture: no bf16 tensor ${e.tensor}`);
    const bytes = files.get(t.file)!;
    const cols = t.shape[t.shape.length - 1];
    const bits = f32ToBf16([e.value]);
    if (bf16ToF32(bits)[0] !== e.value) throw new Error(`overflow fixture: ${e.value} is not exact in bf16`);
    const view = new DataView(bytes.buffer, bytes.byteOffset + t.start, t.end - t.start);
    for (let r = e.rows[0]; r < e.rows[1]; r++)
      for (let c = e.cols[0]; c < e.cols[1]; c++) view.setUint16((r * cols + c) * 2, bits[0], true);
  }
  return openCheckpoint(new MapWeightSource(files, `${fixtureDir(index.fixture)} (overflow edits)`));
}
