/**
 * Test support: broken copies of a good checkpoint, one per failure the loader must name clearly.
 * Pure byte edits (no DOM, no node:fs), shared by the Node service test and the app e2e, which
 * serves the results with page.route. Headers are re-encoded; tensor data is left where it was
 * (safetensors offsets are relative to the end of the header).
 */
import { INDEX_FILE } from '../safetensors';
import { encodeHeader } from '../safetensors-writer';

export type BadCase =
  | 'missing-tensor'
  | 'wrong-shape'
  | 'wrong-dtype'
  | 'unknown-dtype'
  | 'truncated-shard'
  | 'absurd-header-length'
  | 'header-not-json'
  | 'offsets-past-end'
  | 'unknown-model-type'
  | 'config-not-json'
  | 'config-no-text'
  | 'heads-not-dividing'
  | 'no-tokenizer';

export const BAD_CASES: readonly BadCase[] = [
  'missing-tensor',
  'wrong-shape',
  'wrong-dtype',
  'unknown-dtype',
  'truncated-shard',
  'absurd-header-length',
  'header-not-json',
  'offsets-past-end',
  'unknown-model-type',
  'config-not-json',
  'config-no-text',
  'heads-not-dividing',
  'no-tokenizer',
];

/** The EngineError kind each case gives (the rest are model-invalid). */
export function expectedKind(which: BadCase): 'model-invalid' | 'model-unsupported' {
  return which === 'unknown-model-type' ? 'model-unsupported' : 'model-invalid';
}

/** The tensor each header edit touches (present in every fixture, read by the forward pass). */
export const VICTIM = 'language_model.model.layers.1.mlp.down_proj.weight';

/** What the UI's message must contain for each case. */
export const EXPECTED_MESSAGE: Record<BadCase, RegExp> = {
  'missing-tensor': /missing 1: language_model\.model\.layers\.1\.mlp\.down_proj\.weight/,
  'wrong-shape':
    /wrong shape 1: language_model\.model\.layers\.1\.mlp\.down_proj\.weight is \[\d+, \d+\], expected/,
  'wrong-dtype': /wrong dtype 1: language_model\.model\.layers\.1\.mlp\.down_proj\.weight is I16/,
  'unknown-dtype':
    /model-0000\d-of-0000\d\.safetensors: tensor language_model\.model\.layers\.1\.mlp\.down_proj\.weight: unknown dtype "Q4_K"/,
  'truncated-shard': /model-0000\d-of-0000\d\.safetensors is truncated/,
  'absurd-header-length': /model-0000\d-of-0000\d\.safetensors: header length \d+ is implausible/,
  'header-not-json': /model-0000\d-of-0000\d\.safetensors: header is not valid JSON/,
  'offsets-past-end':
    /model-0000\d-of-0000\d\.safetensors .*tensor language_model\.model\.layers\.1\.mlp\.down_proj\.weight ends at byte \d+/,
  'unknown-model-type': /unsupported model_type "llava_qwen"/,
  'config-not-json': /config\.json is not valid JSON/,
  'config-no-text': /config\.json has no text_config object/,
  'heads-not-dividing': /text_config\.num_attention_heads \d+ does not divide text_config\.hidden_size \d+/,
  'no-tokenizer': /tokenizer: no tokenizer\.json, and vocab\.json \+ merges\.txt are not both present/,
};

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | unknown>;

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

function readHeader(file: Uint8Array): { header: Header; dataStart: number } {
  const n = Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
  return { header: JSON.parse(text(file.subarray(8, 8 + n))) as Header, dataStart: 8 + n };
}

/** `file` with its header replaced by `header` (the tensor data is unchanged: offsets are relative to it). */
function writeHeader(file: Uint8Array, header: Header): Uint8Array {
  const { dataStart } = readHeader(file);
  const head = encodeHeader(header);
  const out = new Uint8Array(head.byteLength + (file.byteLength - dataStart));
  out.set(head);
  out.set(file.subarray(dataStart), head.byteLength);
  return out;
}

function shardOf(files: ReadonlyMap<string, Uint8Array>, tensor: string): string {
  const index = JSON.parse(text(files.get(INDEX_FILE)!)) as { weight_map: Record<string, string> };
  const shard = index.weight_map[tensor];
  if (!shard) throw new Error(`${tensor} is not in ${INDEX_FILE}`);
  return shard;
}

function editHeader(
  files: Map<string, Uint8Array>,
  tensor: string,
  edit: (h: Header) => void,
): Map<string, Uint8Array> {
  const shard = shardOf(files, tensor);
  const { header } = readHeader(files.get(shard)!);
  edit(header);
  files.set(shard, writeHeader(files.get(shard)!, header));
  return files;
}

/** A copy of `good` (file name → bytes) broken as `which` says. */
export function badCheckpoint(
  good: ReadonlyMap<string, Uint8Array>,
  which: BadCase,
): Map<string, Uint8Array> {
  const files = new Map(good);
  switch (which) {
    case 'missing-tensor': {
      editHeader(files, VICTIM, (h) => {
        delete h[VICTIM];
      });
      const index = JSON.parse(text(files.get(INDEX_FILE)!)) as { weight_map: Record<string, string> };
      delete index.weight_map[VICTIM];
      files.set(INDEX_FILE, bytes(JSON.stringify(index)));
      return files;
    }
    case 'wrong-shape':
      return editHeader(files, VICTIM, (h) => {
        const e = h[VICTIM] as { shape: number[] };
        e.shape = [...e.shape].reverse(); // same bytes, transposed
      });
    case 'wrong-dtype':
      return editHeader(files, VICTIM, (h) => {
        (h[VICTIM] as { dtype: string }).dtype = 'I16'; // same size as BF16
      });
    case 'truncated-shard': {
      const shard = shardOf(files, VICTIM);
      const f = files.get(shard)!;
      files.set(shard, f.slice(0, Math.floor(f.byteLength * 0.6)));
      return files;
    }
    case 'unknown-dtype':
      return editHeader(files, VICTIM, (h) => {
        (h[VICTIM] as { dtype: string }).dtype = 'Q4_K'; // no safetensors dtype
      });
    case 'absurd-header-length': {
      const shard = shardOf(files, VICTIM);
      const f = files.get(shard)!.slice();
      new DataView(f.buffer).setBigUint64(0, 1n << 62n, true);
      files.set(shard, f);
      return files;
    }
    case 'header-not-json': {
      const shard = shardOf(files, VICTIM);
      const f = files.get(shard)!.slice();
      const n = Number(new DataView(f.buffer).getBigUint64(0, true));
      f.fill(0x20, 8, 8 + n).set(bytes('{"unterminated'), 8); // same length, not JSON
      files.set(shard, f);
      return files;
    }
    case 'offsets-past-end':
      return editHeader(files, VICTIM, (h) => {
        const e = h[VICTIM] as { data_offsets: [number, number] };
        const span = e.data_offsets[1] - e.data_offsets[0];
        e.data_offsets = [1 << 30, (1 << 30) + span]; // same size, a GiB past the data
      });
    case 'unknown-model-type':
      return editConfig(files, (cfg) => {
        cfg.model_type = 'llava_qwen';
      });
    case 'config-not-json':
      files.set('config.json', files.get('config.json')!.slice(0, 40)); // cut mid-object
      return files;
    case 'config-no-text':
      return editConfig(files, (cfg) => {
        delete cfg.text_config;
      });
    case 'heads-not-dividing':
      return editConfig(files, (cfg) => {
        const t = cfg.text_config as {
          hidden_size: number;
          num_attention_heads: number;
          num_key_value_heads: number;
        };
        t.num_attention_heads = t.hidden_size - 1;
        t.num_key_value_heads = 1;
      });
    case 'no-tokenizer':
      for (const f of ['tokenizer.json', 'vocab.json', 'merges.txt']) files.delete(f);
      return files;
  }
}

function editConfig(
  files: Map<string, Uint8Array>,
  edit: (cfg: Record<string, unknown>) => void,
): Map<string, Uint8Array> {
  const cfg = JSON.parse(text(files.get('config.json')!)) as Record<string, unknown>;
  edit(cfg);
  files.set('config.json', bytes(JSON.stringify(cfg, null, 2)));
  return files;
}
