import { type FormEvent, type ReactNode, useEffect, useId, useState } from 'react';
import {
  type CachedModel,
  DEFAULT_REPO,
  type EngineErrorInfo,
  HUB_ENDPOINT,
  type ModelInfo,
  type ModelLoadProgress,
  modelSourceFor,
} from '../../engine-client';
import { Badge } from '../components/Badge';
import { formatBytes, formatCount, formatMs } from '../format';
import { useApp } from '../store';
import { type CacheCheck, defaultModelUrl } from './model-slice';
import './model.css';

/** Which model is loaded, loading progress, and the two ways to load another (URL, files / folder). */
export function ModelPanel() {
  const adapterReady = useApp((s) => s.adapterPhase === 'ready');
  const model = useApp((s) => s.model);
  const load = useApp((s) => s.modelLoad);
  const error = useApp((s) => s.modelError);
  const loadDefault = useApp((s) => s.loadDefaultModel);

  // The demo model loads by itself once the GPU is ready (it is small: a few MB).
  useEffect(() => {
    if (adapterReady) void loadDefault();
  }, [adapterReady, loadDefault]);

  const state = load ? 'loading' : error ? 'error' : model ? 'ready' : 'idle';
  return (
    <section
      className="card model-panel"
      aria-labelledby="model-title"
      aria-busy={Boolean(load)}
      data-testid="model-panel"
      data-state={state}
    >
      <div className="card-head">
        <h2 id="model-title">Model</h2>
        {model ? (
          <Badge tone="ok">
            <span data-testid="model-name">{model.name}</span>
          </Badge>
        ) : (
          <Badge tone="info">{load ? 'Loading…' : 'None loaded'}</Badge>
        )}
      </div>
      {model && model.source === defaultModelUrl() && !load && (
        <DemoNote parameters={model.parameters} disabled={!adapterReady} />
      )}
      {model ? <ModelFacts info={model} /> : !load && <p className="muted">No model is loaded yet.</p>}
      {load && <LoadProgress label={load.label} progress={load.progress} />}
      {error && <ModelError error={error} stillLoaded={model?.name ?? null} />}
      <LoadControls disabled={!adapterReady} />
      <CachedModels />
    </section>
  );
}

/** The shipped demo model says what it is, and offers the real one with what it costs before it starts. */
function DemoNote({ parameters, disabled }: { parameters: number; disabled: boolean }) {
  const loadModel = useApp((s) => s.loadModel);
  const real = () => {
    const { source, label } = modelSourceFor(DEFAULT_REPO, { endpoint: hubEndpoint() });
    void loadModel(source, label);
  };
  return (
    <div className="callout callout-info" data-testid="demo-model-note">
      <p>
        This is the <strong>demo model</strong>: a {(parameters / 1e6).toPrecision(2)} M-parameter
        TinyLLaVA-Video trained in this project on moving squares, first on worked answers, then by GRPO (as
        the real one was). It says which way a coloured square moves, reasoning first as the real model does.
        On clips it has not seen it is almost always right when one square is in view, and about four times in
        five when there are two (a guess gets 1 in 4). It knows nothing else.
      </p>
      <p className="callout-hint">
        For questions about your own videos load <strong>{DEFAULT_REPO}</strong> from the Hugging Face hub:
        about 7.6 GB to download and about 3 GB of GPU memory once its language model is quantized to 4 bits.
      </p>
      <button
        type="button"
        className="button"
        disabled={disabled}
        onClick={real}
        data-testid="load-real-model"
      >
        Load {DEFAULT_REPO} (7.6 GB)
      </button>
    </div>
  );
}

/** Models kept for offline use in this browser: size, revision, when; deleted on a second click. */
function CachedModels() {
  const cached = useApp((s) => s.cachedModels);
  const refresh = useApp((s) => s.refreshCachedModels);
  const remove = useApp((s) => s.deleteCachedModel);
  const adapterReady = useApp((s) => s.adapterPhase === 'ready');
  const checks = useApp((s) => s.cacheChecks);
  const verify = useApp((s) => s.verifyCachedModel);
  const [confirming, setConfirming] = useState<string | null>(null);
  useEffect(() => {
    if (adapterReady) void refresh();
  }, [adapterReady, refresh]);
  if (!cached || cached.length === 0) return null;
  return (
    <div className="cached-models" data-testid="cached-models">
      <h3>Kept for offline use</h3>
      <ul>
        {cached.map((m) => (
          <li key={`${m.id}@${m.revision}`} data-testid="cached-model">
            <span className="model-source">
              {!m.revision || m.revision === 'main' ? m.id : `${m.id}@${m.revision}`}
            </span>
            <span className="muted">
              {formatBytes(m.bytes)} ·{' '}
              {new Date(m.when).toLocaleDateString('en-GB', {
                day: 'numeric',
                month: 'short',
                year: 'numeric',
              })}
            </span>
            <button
              type="button"
              className="button"
              onClick={() => {
                if (confirming !== m.id) return setConfirming(m.id);
                setConfirming(null);
                void remove(m.id);
              }}
              aria-label={
                confirming === m.id
                  ? `Really delete ${m.id} from this browser`
                  : `Delete ${m.id} from this browser`
              }
              data-testid="cached-model-delete"
            >
              {confirming === m.id ? 'Really delete?' : 'Delete'}
            </button>
            <button
              type="button"
              className="button"
              disabled={checks[m.folder]?.state === 'running'}
              onClick={() => void verify(m.folder)}
              aria-label={`Re-verify ${m.id}: check its files against their hashes`}
              data-testid="cached-model-verify"
            >
              Re-verify
            </button>
            <CacheCheckLine check={checks[m.folder]} model={m} />
          </li>
        ))}
      </ul>
    </div>
  );
}

/** What a re-verify found: progress, all good, or the bad files with a way to download again. */
function CacheCheckLine({ check, model }: { check: CacheCheck | undefined; model: CachedModel }) {
  const remove = useApp((s) => s.deleteCachedModel);
  const loadModel = useApp((s) => s.loadModel);
  if (!check) return null;
  if (check.state === 'running')
    return (
      <p className="muted cache-check" role="status" data-testid="cache-check">
        Checking… {check.total ? `${Math.floor((100 * check.done) / check.total)} %` : ''}
      </p>
    );
  if (check.state === 'error')
    return (
      <p className="cache-check" role="alert" data-testid="cache-check">
        Could not check: {check.error.message}
      </p>
    );
  const r = check.result;
  if (r.ok)
    return (
      <p className="cache-check" role="status" data-testid="cache-check">
        Every file matches its manifest ({formatBytes(r.checkedBytes)} checked).
      </p>
    );
  const again = async () => {
    const spec = model.revision && model.revision !== 'main' ? `${model.id}@${model.revision}` : model.id;
    const { source, label } = modelSourceFor(spec, { endpoint: hubEndpoint(), base: document.baseURI });
    await remove(model.id);
    await loadModel(source, label);
  };
  return (
    <div className="cache-check" role="alert" data-testid="cache-check">
      <p>
        This copy is damaged:{' '}
        {r.problems.map((p) => (p.file ? `${p.file}: ${p.problem}` : p.problem)).join('; ')}. Delete it, or
        download it again.
      </p>
      <button
        type="button"
        className="button"
        onClick={() => void again()}
        data-testid="cache-check-redownload"
      >
        Delete and download again
      </button>
    </div>
  );
}

/** The hub endpoint the model field uses (a mirror or a self-hosted hub), kept across visits. */
const ENDPOINT_KEY = 'video-reasoner.hub-endpoint';
function hubEndpoint(): string {
  try {
    return localStorage.getItem(ENDPOINT_KEY) || HUB_ENDPOINT;
  } catch {
    return HUB_ENDPOINT;
  }
}

function ModelFacts({ info }: { info: ModelInfo }) {
  const c = info.config;
  return (
    <dl className="facts" data-testid="model-facts">
      <Fact id="source" label="Source" value={<span className="model-source">{info.source}</span>} />
      <Fact id="params" label="Parameters" value={formatCount(info.parameters)} />
      <Fact
        id="gpu-bytes"
        label="On the GPU"
        value={`${formatBytes(info.bytesOnGpu)} (${info.dtype}${info.quantized ? ', language model 4-bit' : ''})`}
      />
      <Fact
        id="vision"
        label="Vision"
        value={`${c.vision.imageSize} px · ${c.vision.layers} layers · ${c.vision.hidden} wide`}
      />
      <Fact
        id="connector"
        label="Connector"
        value={`${c.connector.numQueries} tokens (${c.connector.group} groups)`}
      />
      <Fact
        id="llm"
        label="Language model"
        value={`${c.llm || 'Qwen2'} · ${c.text.layers} layers · ${c.text.hidden} wide`}
      />
      <Fact id="load-time" label="Loaded in" value={formatMs(info.loadMs)} />
      {info.fit?.notes.length ? (
        <Fact
          id="fit"
          label="Fitted to this GPU"
          value={
            <ul className="fit-notes">
              {info.fit.notes.map((n) => (
                <li key={n}>{n}</li>
              ))}
            </ul>
          }
        />
      ) : null}
    </dl>
  );
}

function Fact({ id, label, value }: { id: string; label: string; value: ReactNode }) {
  return (
    <div className="fact" data-testid={`model-${id}`}>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}

const PHASE_TEXT: Record<ModelLoadProgress['phase'], string> = {
  open: 'Checking config and weight headers',
  tokenizer: 'Reading the tokenizer',
  upload: 'Uploading weights to the GPU',
  cache: 'Downloading and converting into the offline copy',
};

function LoadProgress({ label, progress }: { label: string; progress: ModelLoadProgress | null }) {
  const total = progress?.totalBytes ?? 0;
  const done = progress?.loadedBytes ?? 0;
  const text = progress
    ? `${PHASE_TEXT[progress.phase]}${total ? ` · ${formatBytes(done)} of ${formatBytes(total)}` : ''}`
    : 'Starting';
  return (
    <div className="model-loading" data-testid="model-loading">
      <p className="model-loading-label">
        Loading <span className="model-source">{label}</span>
      </p>
      <div className="progress-row">
        <progress
          className="progress"
          max={total || 1}
          value={progress?.phase === 'upload' ? done : undefined}
          aria-label="Model loading progress"
          aria-valuetext={text}
          data-testid="model-progress"
        />
        <span className="progress-label" role="status" aria-live="polite" data-testid="model-progress-label">
          {text}
        </span>
      </div>
    </div>
  );
}

function ModelError({ error, stillLoaded }: { error: EngineErrorInfo; stillLoaded: string | null }) {
  return (
    <div className="callout callout-error" role="alert" data-testid="model-error" data-kind={error.kind}>
      <h3>{errorTitle(error)}</h3>
      <p data-testid="model-error-message">{error.message}</p>
      {error.hint && <p className="callout-hint">{error.hint}</p>}
      {stillLoaded && (
        <p className="callout-hint" data-testid="model-error-kept">
          {`${stillLoaded} is still loaded and answers questions.`}
        </p>
      )}
    </div>
  );
}

function errorTitle(e: EngineErrorInfo): string {
  switch (e.kind) {
    case 'model-not-found':
      return 'Checkpoint not found';
    case 'model-invalid':
      return 'This checkpoint cannot be used';
    case 'model-unsupported':
      return 'Unsupported model';
    case 'network':
      return 'Could not download the checkpoint';
    case 'out-of-memory':
      return 'Not enough GPU memory';
    default:
      return 'The model could not be loaded';
  }
}

function LoadControls({ disabled }: { disabled: boolean }) {
  const loadModel = useApp((s) => s.loadModel);
  const [spec, setSpec] = useState('');
  const [endpoint, setEndpoint] = useState(hubEndpoint);
  const [specError, setSpecError] = useState<string | null>(null);
  const specId = useId();
  const endpointId = useId();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    try {
      const { source, label } = modelSourceFor(spec.trim() || defaultModelUrl(), {
        endpoint,
        base: document.baseURI,
      });
      setSpecError(null);
      try {
        localStorage.setItem(ENDPOINT_KEY, endpoint.trim());
      } catch {
        // storage off (private mode): the setting lasts for this page only
      }
      void loadModel(source, label);
    } catch (err) {
      setSpecError((err as Error).message);
    }
  };
  const pick = (files: FileList | null, what: string) => {
    if (files && files.length > 0) void loadModel({ kind: 'files', files: [...files] }, what);
  };
  return (
    <div className="model-load">
      <form className="model-url" onSubmit={submit}>
        <label htmlFor={specId}>Load a model</label>
        <div className="model-url-row">
          <input
            id={specId}
            // type=text: repo ids and relative URLs (/models/x/) are fine; type=url would refuse them.
            type="text"
            spellCheck={false}
            autoCapitalize="off"
            className="text-input"
            placeholder={`e.g. ${DEFAULT_REPO}`}
            value={spec}
            onChange={(e) => setSpec(e.target.value)}
            aria-invalid={specError ? true : undefined}
            aria-describedby={`${specId}-note`}
            data-testid="model-url-input"
          />
          <button type="submit" className="button" disabled={disabled} data-testid="model-url-load">
            Load
          </button>
        </div>
        {specError && (
          <p className="field-error" role="alert" data-testid="model-spec-error">
            {specError}
          </p>
        )}
        <p className="muted model-note" id={`${specId}-note`}>
          A Hugging Face repo id such as {DEFAULT_REPO} (add @revision for a branch, tag or commit), or the
          URL of a folder holding config.json, the safetensors files and the tokenizer. Empty: the demo model.
        </p>
        <details className="model-endpoint">
          <summary>Hub endpoint</summary>
          <label htmlFor={endpointId}>Where repo ids are fetched from (a mirror or a self-hosted hub)</label>
          <input
            id={endpointId}
            type="text"
            inputMode="url"
            spellCheck={false}
            className="text-input"
            placeholder={HUB_ENDPOINT}
            value={endpoint}
            onChange={(e) => setEndpoint(e.target.value)}
            data-testid="hub-endpoint-input"
          />
        </details>
      </form>
      <div className="model-pick">
        <label className={`button file-button${disabled ? ' is-disabled' : ''}`}>
          Pick folder…
          <input
            type="file"
            className="visually-hidden"
            disabled={disabled}
            // webkitdirectory is not in React's attribute types: set it as a plain attribute.
            {...{ webkitdirectory: '', directory: '' }}
            multiple
            onChange={(e) => {
              pick(e.target.files, 'the picked folder');
              e.target.value = '';
            }}
            data-testid="model-folder-input"
          />
        </label>
        <label className={`button file-button${disabled ? ' is-disabled' : ''}`}>
          Pick files…
          <input
            type="file"
            className="visually-hidden"
            disabled={disabled}
            multiple
            onChange={(e) => {
              pick(e.target.files, `${e.target.files?.length ?? 0} picked files`);
              e.target.value = '';
            }}
            data-testid="model-files-input"
          />
        </label>
      </div>
    </div>
  );
}
