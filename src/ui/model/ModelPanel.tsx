import { type FormEvent, type ReactNode, useEffect, useId, useState } from 'react';
import type { EngineErrorInfo, ModelInfo, ModelLoadProgress } from '../../engine-client';
import { Badge } from '../components/Badge';
import { formatBytes, formatCount, formatMs } from '../format';
import { useApp } from '../store';
import { defaultModelUrl } from './model-slice';
import './model.css';

/** Which model is loaded, loading progress, and the two ways to load another (URL, files / folder). */
export function ModelPanel() {
  const adapterReady = useApp((s) => s.adapterPhase === 'ready');
  const model = useApp((s) => s.model);
  const load = useApp((s) => s.modelLoad);
  const error = useApp((s) => s.modelError);
  const loadDefault = useApp((s) => s.loadDefaultModel);

  // The demo model loads by itself once the GPU is ready (it is small: ~30 MB).
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
      {model ? <ModelFacts info={model} /> : !load && <p className="muted">No model is loaded yet.</p>}
      {load && <LoadProgress label={load.label} progress={load.progress} />}
      {error && <ModelError error={error} stillLoaded={model?.name ?? null} />}
      <LoadControls disabled={!adapterReady} />
    </section>
  );
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
  const [url, setUrl] = useState('');
  const urlId = useId();
  const submitUrl = (e: FormEvent) => {
    e.preventDefault();
    const raw = url.trim() || defaultModelUrl();
    let baseUrl: string;
    try {
      baseUrl = new URL(raw, document.baseURI).href;
    } catch {
      baseUrl = raw;
    }
    void loadModel({ kind: 'url', baseUrl }, baseUrl);
  };
  const pick = (files: FileList | null, what: string) => {
    if (files && files.length > 0) void loadModel({ kind: 'files', files: [...files] }, what);
  };
  return (
    <div className="model-load">
      <form className="model-url" onSubmit={submitUrl}>
        <label htmlFor={urlId}>Load from URL</label>
        <div className="model-url-row">
          <input
            id={urlId}
            // type=text: relative URLs (/models/x/) are fine, and type=url would refuse them.
            type="text"
            inputMode="url"
            spellCheck={false}
            className="text-input"
            placeholder={defaultModelUrl()}
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            data-testid="model-url-input"
          />
          <button type="submit" className="button" disabled={disabled} data-testid="model-url-load">
            Load
          </button>
        </div>
        <p className="muted model-note">
          A folder URL holding config.json, the safetensors files and the tokenizer (HTTP Range requests).
        </p>
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
