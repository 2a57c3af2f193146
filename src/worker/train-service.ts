/**
 * The fine-tune command group: one run at a time on the loaded model, stepped in the worker (GRPO or
 * SFT, src/rl-lite), with a checkpoint in OPFS every N steps and on pause, so a reload resumes where
 * it stopped (train-store.ts). While a step runs the session is busy: questions and loads wait.
 * Adapters: saved from the run, imported from PEFT files, and merged into the model's weights for the
 * ask flow (adapterUse); every merge goes through one Policy per model, which keeps the base weights.
 */
import type {
  AdapterInfo,
  EvalPoint,
  EvalResult,
  TrainCommands,
  TrainEvent,
  TrainItem,
  TrainRunResult,
  TrainSettings,
  TrainState,
  TrainStepMetrics,
} from '../engine-client/protocol';
import { EngineError, settingsProblems } from '../engine-client/protocol';
import { ADAMW_DEFAULTS } from '../gpu/kernels/adamw';
import { FUSED } from '../model/fuse-weights';
import { isQuantized } from '../model/gpu-weights';
import { parseReasoning } from '../model/reasoning-parser';
import { PREFIX } from '../model/weight-manifest';
import { encodeCheckpoint, resumeTrainer } from '../rl-lite/checkpoint';
import { DatasetError, formatDataset, parseDataset, sftTarget } from '../rl-lite/dataset';
import { GRPO_PAPER, type GrpoItem, Trainer } from '../rl-lite/grpo';
import { LORA_DEFAULTS, LoraAdapter } from '../rl-lite/lora';
import { AdamW } from '../rl-lite/optimizer';
import { AdapterError, encodePeftAdapter, loadPeftAdapter } from '../rl-lite/peft';
import { Policy } from '../rl-lite/policy';
import { isQuotaError } from './model-cache';
import type { LoadedModel } from './model-load';
import type { EngineSession } from './session';
import { type ClipPixels, preparePrompts, webCodecsPixels } from './train-data';
import { estimateRun } from './train-estimate';
import { evaluate } from './train-eval';
import { squaresItems } from './train-squares';
import { type RunManifest, TrainStore } from './train-store';

const BUSY = 'fine-tuning holds the GPU';

interface Run {
  loaded: LoadedModel;
  trainer: Trainer;
  items: TrainItem[];
  prompts: GrpoItem[];
  /** The held-out split, evaluated every settings.eval_every steps. */
  heldOut: TrainItem[];
  heldPrompts: GrpoItem[];
  releasePrompts(): void;
  settings: TrainSettings;
  log: TrainStepMetrics[];
  evals: EvalPoint[];
  state: TrainState;
  pause: boolean;
  stop: boolean;
}

export function trainCommands(session: EngineSession, pixelsOf: ClipPixels = webCodecsPixels): TrainCommands {
  const storage = session.env.storage?.();
  const store = storage ? new TrainStore(storage) : null;
  let run: Run | null = null;
  let stepping: Promise<TrainRunResult> | null = null;
  /** The policy (base weights kept) of the loaded model, and the adapter merged for questions. */
  let policy: { modelId: number; policy: Policy } | null = null;
  let active: { modelId: number; id: string; lora: LoraAdapter } | null = null;

  /** Frees an adapter once the commands recorded with it are submitted. */
  function drop(lora: LoraAdapter): void {
    session.gpu().flush();
    lora.destroy();
  }

  function model(): LoadedModel {
    const loaded = session.loaded;
    if (!loaded)
      throw new EngineError('no-model', 'No model is loaded.', 'Load a model first (the model panel).');
    return loaded;
  }

  function policyOf(loaded: LoadedModel): Policy {
    if (policy?.modelId === loaded.id) return policy.policy;
    policy?.policy.destroy();
    if (active && active.modelId !== loaded.id) {
      drop(active.lora);
      active = null;
    }
    try {
      policy = { modelId: loaded.id, policy: new Policy(session.gpu(), loaded.model) };
    } catch (e) {
      policy = null;
      throw new EngineError(
        'model-unsupported',
        `This model cannot be fine-tuned here: ${(e as Error).message}.`,
        'Fine-tuning trains a LoRA adapter over the loaded weights (plain or 4-bit); load the model again, or another one.',
      );
    }
    return policy.policy;
  }

  /** Puts the ask flow's adapter (or the base) back into the model's weights. */
  function restoreWeights(loaded: LoadedModel): void {
    if (session.loaded !== loaded) return; // replaced meanwhile: the new model is unmerged
    const lora = active?.modelId === loaded.id ? active.lora : null;
    policyOf(loaded).mergeInto(loaded.model, lora);
  }

  function needStore(): TrainStore {
    if (!store)
      throw new EngineError(
        'storage-full',
        'This browser keeps no storage for this page (OPFS), so runs and adapters cannot be saved.',
        'Use a normal (not private) window.',
      );
    return store;
  }

  function newTrainer(loaded: LoadedModel, s: TrainSettings): Trainer {
    const ctx = session.gpu();
    const p = policyOf(loaded);
    const grpo = {
      ...GRPO_PAPER,
      num_generations: s.num_generations,
      beta: s.beta,
      loss_type: s.loss_type,
      scale_rewards: s.scale_rewards,
      max_completion_length: s.max_completion_length,
      temperature: s.temperature,
      seed: s.seed,
    };
    const lora = new LoraAdapter(ctx, loaded.model.config.text, {
      ...LORA_DEFAULTS,
      r: s.r,
      alpha: s.lora_alpha,
      dropout: s.lora_dropout ?? 0, // a checkpoint saved before the setting existed
      seed: s.seed,
    });
    const opt = new AdamW(ctx, lora, {
      ...ADAMW_DEFAULTS,
      lr: s.learning_rate,
      weightDecay: 0,
      maxGradNorm: 1,
      schedule: 'constant',
      warmupRatio: 0,
      totalSteps: s.steps,
    });
    return new Trainer(ctx, loaded.model, loaded.tokenizer, loaded.eosIds, p, lora, opt, grpo);
  }

  async function checkpoint(r: Run, emit: (e: TrainEvent) => void): Promise<void> {
    if (!store) return;
    const files = await encodeCheckpoint(r.trainer, { baseModel: r.loaded.info.name });
    const step = r.trainer.optimizer.step;
    try {
      await store.saveCheckpoint(step, files, r.log, r.evals);
    } catch (e) {
      if (!isQuotaError(e)) throw e;
      const kept = (await store.run())?.latest?.step;
      throw new EngineError(
        'storage-full',
        `Browser storage is full: the checkpoint of step ${step} could not be saved; ${kept ? `the checkpoint of step ${kept} is kept` : 'no earlier checkpoint was saved'}.`,
        'Free browser storage (delete saved adapters, cached models or other site data), then Resume.',
      );
    }
    emit({ type: 'checkpoint', step });
  }

  async function oneStep(
    r: Run,
  ): Promise<{ metrics: TrainStepMetrics; completions: TrainEvent & { type: 'step' } }> {
    const { trainer, settings: s, prompts, items } = r;
    const B = s.per_device_train_batch_size;
    const at = trainer.optimizer.step;
    const pick = Array.from({ length: B }, (_, i) => (at * B + i) % prompts.length);
    const t0 = performance.now();
    let metrics: TrainStepMetrics;
    let completions: (TrainEvent & { type: 'step' })['completions'] = [];
    if (s.mode === 'sft') {
      const { tokenizer, eosIds } = r.loaded;
      const res = await trainer.sftStep(
        pick.map((i) => ({
          ...prompts[i],
          completion: [...tokenizer.encode(sftTarget(items[i] as never)), eosIds[0]],
        })),
      );
      metrics = {
        step: trainer.optimizer.step,
        loss: res.loss,
        reward: 0,
        rewardStd: 0,
        accuracy: 0,
        formatRate: 0,
        kl: 0,
        completionLength: 0,
        gradNorm: res.gradNorm,
        lr: res.lr,
        stepMs: 0,
        ms: { rollout: 0, reward: 0, backward: 0, optimizer: 0 },
      };
    } else {
      const res = await trainer.grpoStep(pick.map((i) => prompts[i]));
      metrics = {
        step: res.step,
        loss: res.loss,
        reward: res.rewardMean,
        rewardStd: res.rewardStd,
        accuracy: res.accuracy,
        formatRate: res.formatRate,
        kl: res.kl,
        completionLength: res.completionLength,
        gradNorm: res.gradNorm,
        lr: res.lr,
        stepMs: 0,
        ms: res.ms,
      };
      const G = s.num_generations;
      completions = res.completions.map((c, j) => {
        const done = parseReasoning(c.text);
        return {
          problemId: items[pick[Math.floor(j / G)]].problem_id,
          text: c.text,
          think: done.thinkText,
          answer: done.answerText || done.answer,
          reward: c.reward,
          accuracy: c.accuracy,
          format: c.format,
          advantage: c.advantage,
        };
      });
    }
    metrics.stepMs = performance.now() - t0;
    return { metrics, completions: { type: 'step', metrics, completions } };
  }

  /** Greedy answers on the held-out split with the base (null) or the run's adapter merged. */
  async function heldOutEval(r: Run, emit: (e: TrainEvent) => void, lora: LoraAdapter | null): Promise<void> {
    if (!r.settings.eval_every || !r.heldPrompts.length) return;
    policyOf(r.loaded).mergeInto(r.loaded.model, lora);
    const result = await evaluate(r.loaded, r.heldPrompts, r.heldOut, r.settings.max_completion_length);
    const step = r.trainer.optimizer.step;
    r.evals = [
      ...r.evals.filter((p) => p.step < step),
      { step, accuracy: result.accuracy, formatRate: result.formatRate },
    ];
    emit({
      type: 'eval',
      step: r.trainer.optimizer.step,
      result: { ...result, adapter: lora ? 'training' : 'base' },
    });
  }

  /** Steps until the run ends, pauses or stops; the session is busy meanwhile. */
  async function loop(r: Run, emit: (e: TrainEvent) => void): Promise<TrainRunResult> {
    const total = r.settings.steps;
    const state = (st: TrainState, message?: string) => {
      r.state = st;
      emit({ type: 'state', state: st, step: r.trainer.optimizer.step, totalSteps: total, message });
    };
    const device = session.gpu().device;
    session.busy = BUSY;
    try {
      await session.askDone;
      state('running');
      if (r.trainer.optimizer.step === 0) await heldOutEval(r, emit, null);
      while (r.trainer.optimizer.step < total) {
        if (session.loaded !== r.loaded) throw new Error('the model was replaced');
        if (r.stop) break;
        if (r.pause) {
          await checkpoint(r, emit);
          r.pause = false;
          state('paused');
          return { state: 'paused', step: r.trainer.optimizer.step };
        }
        const { metrics, completions } = await oneStep(r);
        r.log.push(metrics);
        emit(completions);
        // Evaluated before the checkpoint, so the checkpoint's history holds this evaluation.
        if (
          metrics.step % (r.settings.eval_every || Number.POSITIVE_INFINITY) === 0 ||
          metrics.step === total
        )
          await heldOutEval(r, emit, r.trainer.lora);
        if (metrics.step % r.settings.checkpoint_every === 0 || metrics.step === total)
          await checkpoint(r, emit);
      }
      const end: TrainState = r.stop ? 'stopped' : 'done';
      r.stop = false;
      state(end);
      return { state: end, step: r.trainer.optimizer.step };
    } catch (e) {
      if (e instanceof EngineError) {
        state('error', e.message);
        throw e;
      }
      // A lost device fails the step's next GPU call; its lost promise settles about then.
      const lost = await Promise.race([
        device.lost.then(() => true),
        new Promise<boolean>((ok) => setTimeout(() => ok(false), 250)),
      ]);
      if (lost) {
        const err = new EngineError(
          'device-lost',
          `The GPU device was lost at step ${r.trainer.optimizer.step + 1}; the run stopped.`,
          'A new device is being set up and the model reloaded; Resume continues from the last checkpoint when the page says it is ready.',
        );
        state('error', err.message);
        throw err;
      }
      state('error', (e as Error).message);
      throw new EngineError(
        'internal',
        `Fine-tuning failed at step ${r.trainer.optimizer.step + 1}: ${(e as Error).message}`,
        'The last checkpoint is kept: Resume continues from it.',
      );
    } finally {
      restoreWeights(r.loaded);
      session.busy = null;
    }
  }

  function drive(r: Run, emit: (e: TrainEvent) => void): Promise<TrainRunResult> {
    const p = loop(r, emit);
    stepping = p;
    return p.finally(() => {
      if (stepping === p) stepping = null;
    });
  }

  function endRun(): void {
    if (!run) return;
    run.releasePrompts();
    drop(run.trainer.lora);
    run = null;
  }

  async function prepare(
    loaded: LoadedModel,
    items: TrainItem[],
    settings: TrainSettings,
    emit: (e: TrainEvent) => void,
  ) {
    emit({ type: 'state', state: 'preparing', step: 0, totalSteps: settings.steps });
    session.busy = BUSY;
    try {
      await session.askDone;
      return await preparePrompts(
        session.gpu(),
        loaded.model,
        loaded.tokenizer,
        items,
        settings.frames,
        pixelsOf,
        (done, total) => emit({ type: 'prepare', done, total }),
      );
    } finally {
      session.busy = null;
    }
  }

  function checkFree(): void {
    if (stepping || session.busy)
      throw new EngineError('busy', 'A fine-tuning run is already running.', 'Pause or stop it first.');
  }

  return {
    trainSquares: squaresItems,

    async trainParseDataset(text, source) {
      try {
        return parseDataset(text, source) as Omit<TrainItem, 'video'>[];
      } catch (e) {
        if (e instanceof DatasetError)
          throw new EngineError('bad-request', e.message, 'Fix that line and import again.');
        throw e;
      }
    },

    async trainFormatDataset(items) {
      return formatDataset(items);
    },

    async trainStart(items, settings, onEvent, heldOut = []) {
      const emit = (e: TrainEvent) => onEvent?.(e);
      const loaded = model();
      checkFree();
      const problems = settingsProblems(settings);
      if (problems.length) throw new EngineError('bad-request', `Settings: ${problems.join('; ')}.`, '');
      if (!items.length)
        throw new EngineError(
          'bad-request',
          'The training set is empty.',
          'Generate or import some items first.',
        );
      policyOf(loaded);
      endRun();
      if (store) {
        const manifest: RunManifest = {
          settings,
          baseModel: loaded.info.name,
          items: items.map(({ video: _v, ...it }) => it),
          heldOut: heldOut.map(({ video: _v, ...it }) => it),
          createdAt: new Date().toISOString(),
        };
        await store.newRun(
          manifest,
          [...items, ...heldOut].map((it) => it.video),
        );
      }
      const { prompts: all, release } = await prepare(loaded, [...items, ...heldOut], settings, emit);
      run = {
        loaded,
        trainer: newTrainer(loaded, settings),
        items,
        prompts: all.slice(0, items.length),
        heldOut,
        heldPrompts: all.slice(items.length),
        releasePrompts: release,
        settings,
        log: [],
        evals: [],
        state: 'running',
        pause: false,
        stop: false,
      };
      return drive(run, emit);
    },

    async trainPause() {
      if (run && stepping) run.pause = true;
    },

    async trainStop() {
      if (run && stepping) run.stop = true;
      else if (run && run.state === 'paused') {
        run.state = 'stopped';
      }
    },

    async trainResume(onEvent) {
      const emit = (e: TrainEvent) => onEvent?.(e);
      checkFree();
      const loaded = model();
      if (run && run.state === 'paused' && run.loaded === loaded) return drive(run, emit);
      // After a reload: the run kept in OPFS, from its last checkpoint.
      const saved = await needStore().run();
      if (!saved)
        throw new EngineError('bad-request', 'There is no saved run to resume.', 'Start a new run.');
      const { manifest, latest } = saved;
      if (manifest.baseModel !== loaded.info.name)
        throw new EngineError(
          'bad-request',
          `The saved run trains ${manifest.baseModel}, but ${loaded.info.name} is loaded.`,
          `Load ${manifest.baseModel} first, or discard the saved run.`,
        );
      const { items, heldOut } = await needStore().runItems(manifest);
      endRun();
      const { prompts: all, release } = await prepare(
        loaded,
        [...items, ...heldOut],
        manifest.settings,
        emit,
      );
      let trainer: Trainer;
      let log: TrainStepMetrics[] = [];
      let evals: EvalPoint[] = [];
      try {
        if (latest) {
          const ck = await needStore().checkpoint(latest);
          log = ck.log;
          evals = ck.evals;
          trainer = await resumeTrainer(
            {
              ctx: session.gpu(),
              model: loaded.model,
              tokenizer: loaded.tokenizer,
              eosIds: loaded.eosIds,
              policy: policyOf(loaded),
            },
            ck.files,
            `the checkpoint of step ${latest.step}`,
          );
        } else trainer = newTrainer(loaded, manifest.settings);
      } catch (e) {
        release();
        if (e instanceof AdapterError)
          throw new EngineError(
            'model-invalid',
            `The saved checkpoint cannot be read: ${e.message}`,
            'Discard the saved run.',
          );
        throw e;
      }
      run = {
        loaded,
        trainer,
        items,
        prompts: all.slice(0, items.length),
        heldOut,
        heldPrompts: all.slice(items.length),
        releasePrompts: release,
        settings: manifest.settings,
        log,
        evals,
        state: 'running',
        pause: false,
        stop: false,
      };
      return drive(run, emit);
    },

    async trainSaved() {
      if (!store) return null;
      const saved = await store.run().catch(() => null);
      if (!saved) return null;
      const { manifest, latest } = saved;
      const ck = latest ? await store.checkpoint(latest).catch(() => null) : null;
      return {
        step: latest?.step ?? 0,
        totalSteps: manifest.settings.steps,
        settings: manifest.settings,
        baseModel: manifest.baseModel,
        items: manifest.items.length,
        log: ck?.log ?? [],
        evals: ck?.evals ?? [],
        savedAt: latest?.savedAt ?? manifest.createdAt,
      };
    },

    async trainSavedItems() {
      const saved = store ? await store.run().catch(() => null) : null;
      if (!saved || !store) return [];
      const { items, heldOut } = await store.runItems(saved.manifest);
      return [
        ...items.map((item) => ({ item, heldOut: false })),
        ...heldOut.map((item) => ({ item, heldOut: true })),
      ];
    },

    async trainDiscard() {
      checkFree();
      endRun();
      await store?.discardRun();
    },

    async trainEstimate(settings) {
      const loaded = model();
      // The policy's copy of the decoder layers in the loaded form: every projection when plain, the
      // fused q/k/v and gate/up (split) when 4-bit (o and down are then the model's own).
      const layers = `${PREFIX.text}model.layers.`;
      const { weights } = loaded.model;
      const q4 = isQuantized(weights.linear(`${layers}0.mlp.down_proj.weight`));
      const fused = [`${FUSED.qkv.name}.weight`, `${FUSED.gateUp.name}.weight`];
      const base = weights.bytesWhere(
        (n) => n.startsWith(layers) && (!q4 || fused.some((f) => n.endsWith(f))),
      );
      return estimateRun(session.gpu(), loaded.model.config, settings, base);
    },

    async trainEvaluate(items, adapter, maxNewTokens = 96) {
      const loaded = model();
      checkFree();
      session.checkIdle('Evaluation');
      const ctx = session.gpu();
      const p = policyOf(loaded);
      let lora: LoraAdapter | null = null;
      let own: LoraAdapter | null = null;
      if (adapter === 'training') {
        if (!run)
          throw new EngineError('bad-request', 'No run has trained an adapter yet.', 'Start a run first.');
        lora = run.trainer.lora;
      } else if (adapter !== 'base') {
        own = (
          await loadPeftAdapter(
            ctx,
            loaded.model.config.text,
            await needStore().adapterFiles(adapter),
            adapter,
          )
        ).adapter;
        lora = own;
      }
      session.busy = 'an evaluation is running';
      try {
        await session.askDone;
        p.mergeInto(loaded.model, lora);
        const { prompts, release } = await preparePrompts(
          ctx,
          loaded.model,
          loaded.tokenizer,
          items,
          run?.settings.frames ?? 16,
          pixelsOf,
        );
        try {
          const r: EvalResult = await evaluate(loaded, prompts, items, maxNewTokens);
          return { ...r, adapter };
        } finally {
          release();
        }
      } finally {
        if (own) drop(own);
        restoreWeights(loaded);
        session.busy = null;
      }
    },

    async adapterSave(name) {
      if (!run)
        throw new EngineError('bad-request', 'No run has trained an adapter yet.', 'Start a run first.');
      if (stepping) throw new EngineError('busy', 'The run is stepping.', 'Pause it first, then save.');
      const clean = name.trim();
      if (!clean) throw new EngineError('bad-request', 'The adapter needs a name.', 'Type a name.');
      const { lora } = run.trainer;
      const files = await encodePeftAdapter(lora, run.loaded.info.name);
      return needStore().saveAdapter(
        `a${Date.now().toString(36)}`,
        {
          name: clean,
          baseModel: run.loaded.info.name,
          r: lora.config.r,
          alpha: lora.config.alpha,
          targets: [...lora.config.targets],
          settings: run.settings,
          step: run.trainer.optimizer.step,
          savedAt: new Date().toISOString(),
        },
        files,
      );
    },

    async adapterList() {
      return store ? store.listAdapters() : [];
    },

    async adapterRename(id, name) {
      if (!name.trim()) throw new EngineError('bad-request', 'The adapter needs a name.', 'Type a name.');
      return needStore().renameAdapter(id, name.trim());
    },

    async adapterDelete(id) {
      if (active?.id === id) {
        session.checkIdle('Deleting the adapter in use');
        const loaded = session.loaded;
        drop(active.lora);
        active = null;
        if (loaded) restoreWeights(loaded);
      }
      await needStore().deleteAdapter(id);
    },

    async adapterExport(id) {
      const files = await needStore().adapterFiles(id);
      return Promise.all(
        [...files].map(async ([name, f]) => ({ name, data: new Uint8Array(await f.arrayBuffer()) })),
      );
    },

    async adapterImport(files, name) {
      const loaded = model();
      const map = new Map(files.map((f) => [f.name.split('/').pop()!, f.data]));
      let peft: Awaited<ReturnType<typeof loadPeftAdapter>>;
      try {
        peft = await loadPeftAdapter(session.gpu(), loaded.model.config.text, map, 'the picked files');
      } catch (e) {
        throw new EngineError(
          'model-invalid',
          `These adapter files do not fit ${loaded.info.name}: ${(e as Error).message}`,
          'Pick adapter_config.json and adapter_model.safetensors of an adapter for this model.',
        );
      }
      try {
        const out = await encodePeftAdapter(peft.adapter, peft.peft.baseModel || loaded.info.name);
        return await needStore().saveAdapter(
          `a${Date.now().toString(36)}`,
          {
            name: name.trim() || 'imported adapter',
            baseModel: peft.peft.baseModel || loaded.info.name,
            r: peft.peft.config.r,
            alpha: peft.peft.config.alpha,
            targets: [...peft.peft.config.targets],
            savedAt: new Date().toISOString(),
          },
          out,
        );
      } finally {
        drop(peft.adapter);
      }
    },

    async adapterUse(id) {
      const loaded = model();
      session.checkIdle('Switching the adapter');
      const p = policyOf(loaded);
      let next: LoraAdapter | null = null;
      if (id !== null) {
        const info: AdapterInfo | null = await needStore().adapter(id);
        if (!info) throw new EngineError('bad-request', `No saved adapter ${id}.`, 'Pick one from the list.');
        next = (
          await loadPeftAdapter(
            session.gpu(),
            loaded.model.config.text,
            await needStore().adapterFiles(id),
            info.name,
          )
        ).adapter;
      }
      await session.askDone;
      if (active) drop(active.lora);
      active = next && id !== null ? { modelId: loaded.id, id, lora: next } : null;
      p.mergeInto(loaded.model, next);
    },

    async adapterActive() {
      return active && active.modelId === session.loaded?.id ? active.id : null;
    },
  };
}
