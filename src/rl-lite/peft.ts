/**
 * Adapters in Hugging Face PEFT's layout, so a run continues with TRL or the paper's trainer and
 * adapters trained there load here: `adapter_config.json` (a LoraConfig as PEFT writes it) and
 * `adapter_model.safetensors` with PEFT's saved names for TinyLLaVA's module tree,
 * `base_model.model.language_model.model.layers.{L}.self_attn.q_proj.lora_A.weight` [r, in] and
 * `….lora_B.weight` [out, r]. Written in f32; read in f32, bf16 or f16. Bytes in, bytes out: the
 * page keeps them in OPFS or offers a download, the CLI a folder.
 */
import type { GpuContext } from '../gpu/context';
import type { TextConfig } from '../model/config';
import { SafetensorsCheckpoint, type StDtype } from '../model/safetensors';
import { encodeSafetensors, type TensorToWrite } from '../model/safetensors-writer';
import { type FileContents, MapWeightSource } from '../model/sources/map';
import { toFloat32 } from '../model/weight-convert';
import { readText, type WeightSource } from '../model/weight-source';
import { LORA_TARGETS, LoraAdapter, type LoraConfig, type LoraTarget, targetShape } from './lora';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/** Where the language model's layers sit in PEFT's saved tree of TinyLlavaForConditionalGeneration. */
const LAYERS_PREFIX = 'base_model.model.language_model.model.layers.';
const FACTOR_NAME =
  /^base_model\.model\.language_model\.model\.layers\.(\d+)\.(\w+\.\w+)\.lora_(A|B)\.weight$/;
const READABLE: StDtype[] = ['F32', 'BF16', 'F16'];

/** PEFT's name of one factor, e.g. `base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_A.weight`. */
export function peftName(layer: number, target: LoraTarget, factor: 'A' | 'B'): string {
  return `${LAYERS_PREFIX}${layer}.${LORA_TARGETS[target]}.lora_${factor}.weight`;
}

/** The module's short name PEFT lists in target_modules (`q_proj`). */
const shortName = (t: LoraTarget) => LORA_TARGETS[t].split('.')[1];
const TARGET_OF_SHORT = new Map(
  (Object.keys(LORA_TARGETS) as LoraTarget[]).map((t) => [shortName(t), t] as const),
);
const TARGET_OF_MODULE = new Map(
  (Object.entries(LORA_TARGETS) as [LoraTarget, string][]).map(([t, m]) => [m, t] as const),
);

/** A bad adapter or checkpoint: the file and, where one is to blame, the key or tensor it names. */
export class AdapterError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly key?: string,
  ) {
    super(message);
    this.name = 'AdapterError';
  }
}

/** adapter_config.json as PEFT 0.13+ writes a LoraConfig (keys this engine has no use for at their defaults). */
export function peftConfig(c: LoraConfig, baseModel: string): Record<string, unknown> {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: baseModel,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: c.alpha,
    lora_dropout: c.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: c.r,
    rank_pattern: {},
    revision: null,
    target_modules: c.targets.map(shortName),
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: c.rslora,
  };
}

/** The adapter's two files. */
export async function encodePeftAdapter(
  lora: LoraAdapter,
  baseModel: string,
): Promise<Map<string, Uint8Array>> {
  const { r } = lora.config;
  const tensors: TensorToWrite[] = [];
  for (const { layer, target, A, B } of await lora.read()) {
    const [out, inn] = targetShape(lora.text, target);
    tensors.push(
      { name: peftName(layer, target, 'A'), dtype: 'F32', shape: [r, inn], data: A },
      { name: peftName(layer, target, 'B'), dtype: 'F32', shape: [out, r], data: B },
    );
  }
  const json = `${JSON.stringify(peftConfig(lora.config, baseModel), null, 2)}\n`;
  return new Map([
    [ADAPTER_CONFIG, new TextEncoder().encode(json)],
    [ADAPTER_WEIGHTS, encodeSafetensors(tensors, { format: 'pt' })],
  ]);
}

/** An adapter's files read and checked against the model, on the host. */
export interface PeftAdapter {
  /** r, alpha, lora_dropout, rsLoRA and the targets (in LORA_TARGETS order) from the files; seed 0. */
  config: LoraConfig;
  baseModel: string;
  /** `${layer}.${target}` → factors in f32. */
  factors: Map<string, { A: Float32Array; B: Float32Array }>;
}

/** Files by path (bytes or picked Files), or any WeightSource (a hub repository over HTTP). */
export type AdapterFiles = ReadonlyMap<string, FileContents> | WeightSource;

export function adapterSource(files: AdapterFiles, label: string): WeightSource {
  return 'read' in files ? files : new MapWeightSource(files, label);
}

/**
 * Reads adapter_config.json and adapter_model.safetensors and checks every key, name, dtype and
 * shape against this decoder. Every targeted projection must be adapted in every layer.
 */
export async function readPeftAdapter(
  text: TextConfig,
  files: AdapterFiles,
  label = 'the adapter',
): Promise<PeftAdapter> {
  const src = adapterSource(files, label);
  if (!(await src.has(ADAPTER_CONFIG)))
    throw new AdapterError(
      `no ${ADAPTER_CONFIG} in ${src.label}: is this a PEFT adapter folder?`,
      ADAPTER_CONFIG,
    );
  const parsed = parseConfig(await readText(src, ADAPTER_CONFIG));
  if (!(await src.has(ADAPTER_WEIGHTS)))
    throw new AdapterError(
      `no ${ADAPTER_WEIGHTS} in ${src.label}` +
        ((await src.has('adapter_model.bin'))
          ? ': adapter_model.bin (pickle) is not read here; save with safe_serialization=True'
          : ''),
      ADAPTER_WEIGHTS,
    );
  const weights = await SafetensorsCheckpoint.openFiles(src, [ADAPTER_WEIGHTS]);
  const { r } = parsed;
  const bad = (name: string, why: string) =>
    new AdapterError(`${ADAPTER_WEIGHTS}: ${name}: ${why}`, ADAPTER_WEIGHTS, name);

  // Name → (layer, target, factor); dtype and shape against the model.
  const found = new Map<LoraTarget, Map<number, Set<'A' | 'B'>>>();
  for (const e of weights.tensors.values()) {
    const m = FACTOR_NAME.exec(e.name);
    const target = m ? TARGET_OF_MODULE.get(m[2]) : undefined;
    if (!m || !target)
      throw bad(
        e.name,
        `not a LoRA factor of the language model's projections (expected names like ${peftName(0, 'q', 'A')}, for ${Object.values(LORA_TARGETS).join(', ')})`,
      );
    const layer = Number(m[1]);
    const factor = m[3] as 'A' | 'B';
    if (layer >= text.layers) throw bad(e.name, `layer ${layer}, but the model has ${text.layers} layers`);
    if (!READABLE.includes(e.dtype))
      throw bad(e.name, `dtype ${e.dtype}; LoRA factors load from ${READABLE.join(', ')}`);
    if (e.shape.length !== 2)
      throw bad(e.name, `shape [${e.shape}] has rank ${e.shape.length}; a LoRA factor is 2-D`);
    const [out, inn] = targetShape(text, target);
    const want = factor === 'A' ? [r, inn] : [out, r];
    if (e.shape[0] !== want[0] || e.shape[1] !== want[1])
      throw bad(
        e.name,
        `shape [${e.shape}], expected [${want}] (r = ${r} from ${ADAPTER_CONFIG}; ${shortName(target)} of this model is ${out} × ${inn})`,
      );
    const layers = found.get(target) ?? new Map<number, Set<'A' | 'B'>>();
    found.set(target, layers.set(layer, (layers.get(layer) ?? new Set()).add(factor)));
  }

  // The targets: those with tensors, each in every layer with both factors, and as the config lists them.
  const targets = (Object.keys(LORA_TARGETS) as LoraTarget[]).filter((t) => found.has(t));
  if (!targets.length)
    throw new AdapterError(`${ADAPTER_WEIGHTS} in ${src.label} holds no LoRA factors`, ADAPTER_WEIGHTS);
  for (const t of targets) {
    const layers = found.get(t)!;
    const missing = [];
    for (let l = 0; l < text.layers; l++)
      for (const f of ['A', 'B'] as const) if (!layers.get(l)?.has(f)) missing.push(peftName(l, t, f));
    if (missing.length)
      throw new AdapterError(
        `${ADAPTER_WEIGHTS} adapts ${shortName(t)} but lacks ${missing[0]}` +
          (missing.length > 1 ? ` and ${missing.length - 1} more` : '') +
          ` (each targeted projection needs lora_A and lora_B in all ${text.layers} layers)`,
        ADAPTER_WEIGHTS,
        missing[0],
      );
    if (!parsed.targets(t))
      throw new AdapterError(
        `${ADAPTER_WEIGHTS} holds ${shortName(t)} factors, but ${ADAPTER_CONFIG}'s target_modules does not name ${shortName(t)}`,
        ADAPTER_CONFIG,
        'target_modules',
      );
  }
  for (const name of parsed.listed)
    if (!targets.includes(TARGET_OF_SHORT.get(name)!))
      throw new AdapterError(
        `${ADAPTER_CONFIG}'s target_modules names ${name}, but ${ADAPTER_WEIGHTS} has no ${name} factors`,
        ADAPTER_WEIGHTS,
        name,
      );

  const factors = new Map<string, { A: Float32Array; B: Float32Array }>();
  for (const t of targets)
    for (let l = 0; l < text.layers; l++) {
      const [A, B] = await Promise.all(
        ['A', 'B'].map(async (f) => toFloat32(await weights.load(peftName(l, t, f as 'A' | 'B')))),
      );
      factors.set(`${l}.${t}`, { A, B });
    }
  return {
    config: { r, alpha: parsed.alpha, dropout: parsed.dropout, rslora: parsed.rslora, targets, seed: 0 },
    baseModel: parsed.baseModel,
    factors,
  };
}

/** readPeftAdapter, then the adapter on the GPU. */
export async function loadPeftAdapter(
  ctx: GpuContext,
  text: TextConfig,
  files: AdapterFiles,
  label?: string,
): Promise<{ adapter: LoraAdapter; peft: PeftAdapter }> {
  const peft = await readPeftAdapter(text, files, label);
  const adapter = new LoraAdapter(ctx, text, peft.config, (l, t) => peft.factors.get(`${l}.${t}`)!);
  return { adapter, peft };
}

interface ParsedConfig {
  r: number;
  alpha: number;
  rslora: boolean;
  dropout: number;
  baseModel: string;
  /** Short names listed in target_modules (empty for a regex). */
  listed: string[];
  /** Whether target_modules selects this projection (a list names it, or a regex matches its module key). */
  targets(t: LoraTarget): boolean;
}

/** adapter_config.json: a LoRA config for a causal LM with nothing this engine would silently drop. */
function parseConfig(json: string): ParsedConfig {
  const bad = (key: string, why: string) =>
    new AdapterError(`${ADAPTER_CONFIG}: ${key} ${why}`, ADAPTER_CONFIG, key);
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new AdapterError(`${ADAPTER_CONFIG} is not valid JSON (${(e as Error).message})`, ADAPTER_CONFIG);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new AdapterError(`${ADAPTER_CONFIG} is not a JSON object`, ADAPTER_CONFIG);
  const c = raw as Record<string, unknown>;
  if (c.peft_type !== 'LORA')
    throw bad(
      'peft_type',
      `is ${JSON.stringify(c.peft_type)}; only LoRA adapters (peft_type "LORA") load here`,
    );
  if (c.task_type != null && c.task_type !== 'CAUSAL_LM')
    throw bad('task_type', `is ${JSON.stringify(c.task_type)}; expected "CAUSAL_LM"`);
  const r = c.r;
  if (!(Number.isInteger(r) && (r as number) > 0))
    throw bad('r', `is ${JSON.stringify(r)}; expected a positive integer`);
  const alpha = c.lora_alpha ?? 8; // PEFT's default
  if (typeof alpha !== 'number' || !Number.isFinite(alpha))
    throw bad('lora_alpha', `is ${JSON.stringify(alpha)}; expected a number`);
  const dropout = c.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1))
    throw bad('lora_dropout', `is ${JSON.stringify(dropout)}; expected a number in [0, 1)`);
  const rslora = c.use_rslora ?? false;
  if (typeof rslora !== 'boolean')
    throw bad('use_rslora', `is ${JSON.stringify(rslora)}; expected true or false`);
  // What would change the adapter's meaning if ignored.
  const unsupported: [string, (v: unknown) => boolean, string][] = [
    ['bias', (v) => v == null || v === 'none', '"none" (bias terms are not trained here)'],
    ['use_dora', (v) => !v, 'false (DoRA is not implemented)'],
    ['fan_in_fan_out', (v) => !v, 'false (factors stored transposed, as for GPT-2 Conv1D, do not fit Qwen2)'],
    [
      'modules_to_save',
      (v) => v == null || (Array.isArray(v) && !v.length),
      'null (only the LoRA factors load)',
    ],
    ['layers_to_transform', (v) => v == null, 'null (every layer is adapted here)'],
    ['layer_replication', (v) => v == null, 'null'],
    [
      'rank_pattern',
      (v) => v == null || (typeof v === 'object' && !Object.keys(v).length),
      '{} (one rank for every module)',
    ],
    [
      'alpha_pattern',
      (v) => v == null || (typeof v === 'object' && !Object.keys(v).length),
      '{} (one alpha for every module)',
    ],
  ];
  for (const [key, ok, want] of unsupported)
    if (!ok(c[key])) throw bad(key, `is ${JSON.stringify(c[key])}; this engine loads only ${want}`);
  const tm = c.target_modules;
  let listed: string[] = [];
  let targets: (t: LoraTarget) => boolean;
  if (typeof tm === 'string') {
    // PEFT matches a string with re.fullmatch against each module's key.
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${tm})$`);
    } catch (e) {
      throw bad(
        'target_modules',
        `is a regular expression this engine cannot read (${(e as Error).message})`,
      );
    }
    targets = (t) => re.test(`language_model.model.layers.0.${LORA_TARGETS[t]}`);
  } else if (Array.isArray(tm) && tm.every((m) => typeof m === 'string')) {
    for (const m of tm as string[])
      if (!TARGET_OF_SHORT.has(m))
        throw bad(
          'target_modules',
          `names ${JSON.stringify(m)}, which is not one of the language model's projections (${[...TARGET_OF_SHORT.keys()].join(', ')})`,
        );
    listed = tm as string[];
    targets = (t) => listed.includes(shortName(t));
  } else throw bad('target_modules', `is ${JSON.stringify(tm)}; expected a list of module names`);
  const baseModel = typeof c.base_model_name_or_path === 'string' ? c.base_model_name_or_path : '';
  return { r: r as number, alpha, rslora, dropout, baseModel, listed, targets };
}
