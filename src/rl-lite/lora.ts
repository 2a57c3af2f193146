/**
 * LoRA adapters on the language model's projections (PEFT's LoraLayer): y = x·Wᵀ + s·(drop(x)·Aᵀ)·Bᵀ
 * with A [r, in] and B [out, r] in f32, s = alpha / r (or alpha / √r with rsLoRA). A starts as PEFT's
 * kaiming-uniform (U(−1/√in, 1/√in)), B at zero, so a fresh adapter changes nothing. Names follow
 * PEFT's saved tree for the upstream module names (peft.ts writes and reads them).
 *
 * drop is PEFT's lora_dropout, on training passes only (rollouts, the reference and the old policy's
 * log-probs run without it). Its masks are hashed from (seed, step, sequence, iteration, layer,
 * projection), never drawn from a generator, so a resumed run takes the uninterrupted run's next step
 * and a recomputed layer (gradient checkpointing) sees the mask its forward saw.
 */
import type { GpuContext } from '../gpu/context';
import { dropoutKey } from '../gpu/kernels/dropout';
import { rng } from '../gpu/random';
import type { Tensor } from '../gpu/tensor';
import type { TextConfig } from '../model/config';

/** The decoder's projections LoRA can wrap, by their upstream module names. */
export const LORA_TARGETS = {
  q: 'self_attn.q_proj',
  k: 'self_attn.k_proj',
  v: 'self_attn.v_proj',
  o: 'self_attn.o_proj',
  gate: 'mlp.gate_proj',
  up: 'mlp.up_proj',
  down: 'mlp.down_proj',
} as const;

export type LoraTarget = keyof typeof LORA_TARGETS;

const TARGET_INDEX = Object.fromEntries(Object.keys(LORA_TARGETS).map((t, i) => [t, i])) as Record<
  LoraTarget,
  number
>;

/** Which training pass a forward belongs to: its dropout masks are a function of these and the seed. */
export interface DropoutPass {
  /** Optimizer steps taken before this one. */
  step: number;
  /** The sequence's index in the step's batch. */
  sequence: number;
  /** The pass over the batch (GRPO's num_iterations). */
  iteration: number;
}

/** One projection's dropout in one pass: the probability and the mask's key (gpu/kernels/dropout). */
export interface LoraDropout {
  p: number;
  key: number;
}

export interface LoraConfig {
  r: number;
  alpha: number;
  /** Dropout probability on the adapter's input while training (PEFT's lora_dropout), in [0, 1). */
  dropout: number;
  /** Scale alpha/√r instead of alpha/r (rsLoRA). */
  rslora: boolean;
  targets: LoraTarget[];
  /** Seed of A's initialisation and of the dropout masks. */
  seed: number;
}

export const LORA_DEFAULTS: LoraConfig = {
  r: 8,
  alpha: 16,
  dropout: 0,
  rslora: false,
  targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'],
  seed: 0,
};

/** [out, in] of each target for this decoder. */
export function targetShape(cfg: TextConfig, t: LoraTarget): [number, number] {
  const { hidden: C, heads: H, kvHeads: Hkv, headDim: D, mlp: I } = cfg;
  switch (t) {
    case 'q':
      return [H * D, C];
    case 'k':
    case 'v':
      return [Hkv * D, C];
    case 'o':
      return [C, H * D];
    case 'gate':
    case 'up':
      return [I, C];
    case 'down':
      return [C, I];
  }
}

/** PEFT's init of A [r, in]: kaiming-uniform, U(−1/√in, 1/√in). */
function kaimingUniform(r: number, inn: number, rand: () => number): Float32Array {
  const bound = 1 / Math.sqrt(inn);
  const a = new Float32Array(r * inn);
  for (let i = 0; i < a.length; i++) a[i] = (2 * rand() - 1) * bound;
  return a;
}

/** One wrapped projection: its factors and their gradients (f32, accumulated until zeroed). */
export interface LoraPair {
  A: Tensor; // [r, in]
  B: Tensor; // [out, r]
  dA: Tensor;
  dB: Tensor;
}

/** Given values of one pair's factors (a loaded file): A [r, in] and B [out, r], row-major. */
export type LoraFactors = (layer: number, target: LoraTarget) => { A: Float32Array; B: Float32Array };

export class LoraAdapter {
  /** layers[l][target]: the pair wrapping that projection, if targeted. */
  readonly layers: Partial<Record<LoraTarget, LoraPair>>[];
  readonly scale: number;

  /** PEFT's initialisation from config.seed, or the given factors (checked against the shapes). */
  constructor(
    private readonly ctx: GpuContext,
    readonly text: TextConfig,
    readonly config: LoraConfig,
    factors?: LoraFactors,
  ) {
    const { r, alpha, dropout, rslora, targets } = config;
    if (!(Number.isInteger(r) && r > 0)) throw new Error(`LoRA rank ${r}: a positive integer`);
    if (!(dropout >= 0 && dropout < 1)) throw new Error(`LoRA dropout ${dropout}: a number in [0, 1)`);
    if (dropout > 0 && !(Number.isInteger(config.seed) && config.seed >= 0))
      throw new Error(`LoRA seed ${config.seed}: a whole number ≥ 0 (it keys the dropout masks)`);
    for (const t of targets)
      if (!(t in LORA_TARGETS))
        throw new Error(`LoRA target '${t}' is not one of ${Object.keys(LORA_TARGETS).join(', ')}`);
    this.scale = rslora ? alpha / Math.sqrt(r) : alpha / r;
    const rand = rng(config.seed);
    this.layers = Array.from({ length: text.layers }, (_, l) => {
      const pairs: Partial<Record<LoraTarget, LoraPair>> = {};
      for (const t of targets) {
        const [out, inn] = targetShape(text, t);
        const { A, B } = factors?.(l, t) ?? {
          A: kaimingUniform(r, inn, rand),
          B: new Float32Array(out * r),
        };
        if (A.length !== r * inn || B.length !== out * r)
          throw new Error(
            `LoRA layer ${l} ${t}: factors of ${A.length} and ${B.length} values, expected [${r}, ${inn}] and [${out}, ${r}]`,
          );
        pairs[t] = {
          A: ctx.upload(A, [r, inn], 'f32'),
          B: ctx.upload(B, [out, r], 'f32'),
          dA: ctx.upload(new Float32Array(r * inn), [r, inn], 'f32'),
          dB: ctx.upload(new Float32Array(out * r), [out, r], 'f32'),
        };
      }
      return pairs;
    });
  }

  /** The dropout of `target`'s adapter input in `layer` on this training pass; null: none (p 0, or no pass). */
  dropoutOf(pass: DropoutPass | undefined, layer: number, target: LoraTarget): LoraDropout | null {
    const p = this.config.dropout;
    if (!pass || p === 0) return null;
    return {
      p,
      key: dropoutKey(
        this.config.seed,
        pass.step,
        pass.sequence,
        pass.iteration,
        layer,
        TARGET_INDEX[target],
      ),
    };
  }

  /** Every pair with its layer and target, in a fixed order (optimizer state, files). */
  *pairs(): Generator<{ layer: number; target: LoraTarget; pair: LoraPair }> {
    for (const [layer, pairs] of this.layers.entries())
      for (const target of this.config.targets) yield { layer, target, pair: pairs[target]! };
  }

  /** The factors' values, read back, in pairs() order (files, checkpoints). */
  async read(): Promise<{ layer: number; target: LoraTarget; A: Float32Array; B: Float32Array }[]> {
    const out = [];
    for (const { layer, target, pair } of this.pairs())
      out.push({ layer, target, A: await this.ctx.read(pair.A), B: await this.ctx.read(pair.B) });
    return out;
  }

  /** Sets every gradient to zero (before accumulating a batch). */
  zeroGrads(): void {
    this.ctx.flush(); // queue writes land before commands recorded but not yet submitted
    for (const { pair } of this.pairs())
      for (const g of [pair.dA, pair.dB])
        this.ctx.device.queue.writeBuffer(g.buffer, 0, new Float32Array(g.size));
  }

  get parameterCount(): number {
    let n = 0;
    for (const { pair } of this.pairs()) n += pair.A.size + pair.B.size;
    return n;
  }

  destroy(): void {
    for (const { pair } of this.pairs())
      for (const t of [pair.A, pair.B, pair.dA, pair.dB]) t.buffer.destroy();
  }
}
