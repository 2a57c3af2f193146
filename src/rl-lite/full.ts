/**
 * Full fine-tuning of a small model: every weight of the language model and (by default) of the
 * connector is trained, and optionally the vision tower's. With the tower frozen a clip's vision features are
 * computed once and cached; with it trained, prompts carry the clip's pixels and the features are
 * recomputed every time. The loss's gradient flows from the log-probs through the LLM into its input
 * embeddings: the text rows reach the embedding table, the visual rows go back through the connector
 * (and on through the tower).
 * Letters: T positions, C hidden, Q visual tokens, n completion tokens.
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { concatRows, sliceRows } from '../model/layers';
import type { TinyLlavaVideo } from '../model/tinyllava';
import { ConnectorTrainer } from './connector';
import { sftLoss } from './grpo-loss';
import type { AdamW } from './optimizer';
import type { Param } from './params';
import { Policy, stackInputs } from './policy';
import { VisionTrainer } from './vision';

/**
 * A prompt whose video is given as cached vision features [F, P', Cv] (null: text only), or, when the
 * tower is trained, as its preprocessed pixels [F, 3, S, S] (features then unused).
 */
export interface FeaturePrompt {
  before: number[];
  features: Tensor | null;
  pixels?: Tensor | null;
  after: number[];
}

export interface FullOptions {
  /** Train the vision tower too (prompts then carry pixels). */
  vision?: boolean;
  /**
   * Train the connector (default true). When false its weights are not parameters and, with the tower
   * frozen too, the visual rows' gradient stops at the language model's input.
   */
  connector?: boolean;
}

export class FullTrainer {
  readonly policy: Policy;
  readonly connector: ConnectorTrainer;
  readonly vision: VisionTrainer | null;
  readonly params: Param[];
  private readonly trainConnector: boolean;

  constructor(
    private readonly ctx: GpuContext,
    readonly model: TinyLlavaVideo,
    opts: FullOptions = {},
  ) {
    this.policy = new Policy(ctx, model);
    this.connector = new ConnectorTrainer(ctx, model);
    this.vision = opts.vision ? new VisionTrainer(ctx, model) : null;
    this.trainConnector = opts.connector ?? true;
    this.params = [
      ...this.policy.trainAll(),
      ...(this.trainConnector ? this.connector.params : []),
      ...(this.vision?.params ?? []),
    ];
  }

  /** log p of each target after the prompt (forward only). */
  async logprobs(p: FeaturePrompt, targets: readonly number[]): Promise<Float32Array> {
    const x = this.inputs(p, targets);
    const lp = await this.policy.logprobs(x.x0, x.first, targets, null);
    this.ctx.release(x.x0);
    return lp;
  }

  /**
   * Forward, then the backward of L = Σ_j g_j · logp_j (g = grad(logp) on the host), adding dL/dW to
   * every parameter's gradient. Returns the log-probs.
   */
  async backward(
    p: FeaturePrompt,
    targets: readonly number[],
    grad: (logp: Float32Array) => Float32Array,
  ): Promise<Float32Array> {
    const [lp] = await this.backwardBatch([{ ...p, targets }], (lps) => [grad(lps[0])]);
    return lp;
  }

  /**
   * backward() for several sequences in one pass of the language model: their inputs are padded to
   * the longest (padding rows come last, so causal attention keeps them out of every real row) and
   * stacked [B·T, C]; the text rows' and visual rows' gradients then go back sequence by sequence.
   * On a software adapter the cost is in dispatches, so B sequences cost about what one does.
   */
  async backwardBatch(
    items: readonly (FeaturePrompt & { targets: readonly number[] })[],
    grad: (logp: Float32Array[]) => Float32Array[],
  ): Promise<Float32Array[]> {
    const { ctx, policy } = this;
    const xs = items.map((it) => this.inputs(it, it.targets));
    const stack = stackInputs(
      ctx,
      xs.map((x, b) => ({ ...x, targets: items[b].targets })),
    );
    if (stack.x0 !== xs[0].x0) for (const x of xs) ctx.release(x.x0);
    const { x0, T } = stack;
    const dX0 = ctx.upload(new Float32Array(x0.size), [x0.shape[0], x0.shape[1]], 'f32');
    const logp = await policy.backwardBatch(x0, stack.B, stack.segments, null, grad, dX0);
    for (const [b, p] of items.entries())
      ctx.tidy(() => {
        // dX0's rows for p: [before | visual | after + targets but the last]
        const at = b * T;
        const n = p.before.length;
        const q = xs[b].visualRows;
        if (n) policy.embedBackward(p.before, sliceRows(ctx, dX0, at, at + n));
        if (q && (this.trainConnector || this.vision)) {
          const dVisual = sliceRows(ctx, dX0, at + n, at + n + q);
          const features = this.features(p)!;
          const dFeatures = this.connector.backward(features, dVisual, this.vision !== null);
          if (this.vision && dFeatures) this.vision.backward(p.pixels!, dFeatures);
        }
        const tail = [...p.after, ...p.targets.slice(0, -1)];
        if (tail.length)
          policy.embedBackward(tail, sliceRows(ctx, dX0, at + n + q, at + n + q + tail.length));
      });
    ctx.release(x0, dX0);
    return logp;
  }

  /**
   * One supervised step: cross-entropy on each completion's tokens (per-sequence mean, batch mean),
   * then the optimizer's update. Returns the mean loss. Sequences go through the language model
   * `packed` at a time (backwardBatch).
   */
  async sftStep(
    items: (FeaturePrompt & { completion: number[] })[],
    optimizer: AdamW,
    packed = 1,
  ): Promise<{ loss: number; gradNorm: number; lr: number }> {
    let loss = 0;
    const todo = items.filter((it) => it.completion.length);
    for (let i = 0; i < todo.length; i += packed) {
      const group = todo.slice(i, i + packed).map((it) => ({ ...it, targets: it.completion }));
      await this.backwardBatch(group, (lps) =>
        lps.map((lp) => {
          const l = sftLoss(lp, 1 / (lp.length * items.length));
          loss += l.loss;
          return l.grad;
        }),
      );
    }
    const { gradNorm, lr } = await optimizer.update();
    return { loss, gradNorm, lr };
  }

  /** Writes the trained projections and biases into the inference model (norms, table, connector are shared). */
  syncModel(): void {
    this.policy.mergeInto(this.model, null);
  }

  /** [before | visual | after | targets but the last] embedded, and the row that predicts targets[0]. */
  private inputs(p: FeaturePrompt, targets: readonly number[]) {
    const { ctx, policy } = this;
    return ctx.tidy(() => {
      const parts: Tensor[] = [];
      if (p.before.length) parts.push(policy.embed(p.before));
      const features = this.features(p);
      const visual = features ? this.connector.forward(features) : null; // [Q, C]
      if (visual) parts.push(visual);
      const tail = [...p.after, ...targets.slice(0, -1)];
      if (tail.length) parts.push(policy.embed(tail));
      const x0 = concatRows(ctx, parts);
      const visualRows = visual?.shape[0] ?? 0;
      return { x0, first: p.before.length + visualRows + p.after.length - 1, visualRows };
    });
  }

  /** The prompt's vision features: cached, or the trained tower's output for its pixels. */
  private features(p: FeaturePrompt): Tensor | null {
    if (!this.vision) return p.features;
    if (!p.pixels) return null;
    return this.vision.forward(p.pixels);
  }

  destroy(): void {
    this.vision?.destroy();
    this.connector.destroy();
    this.policy.destroy();
  }
}
