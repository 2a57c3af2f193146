import { type DragEvent, type FormEvent, useId, useRef, useState } from 'react';
import type { SampleMethod } from '../../engine-client';
import { Badge } from '../components/Badge';
import { useApp } from '../store';
import { Filmstrip } from './Filmstrip';
import { SampleClips } from './SampleClips';
import { VideoFactsList } from './VideoFactsList';
import { overallProgress, visionLabel } from './video-slice';
import './video.css';

/** Video input (drop, pick, URL), sampling settings, progress with cancel, then filmstrip and facts. */
export function VideoPanel() {
  const video = useApp((s) => s.video);
  const load = useApp((s) => s.videoLoad);
  const error = useApp((s) => s.videoError);
  const state = load ? 'loading' : error ? 'error' : video ? 'ready' : 'idle';
  return (
    <section
      className="card video-panel"
      aria-labelledby="video-title"
      aria-busy={Boolean(load)}
      data-testid="video-panel"
      data-state={state}
    >
      <div className="card-head">
        <h2 id="video-title">Video</h2>
        {video ? (
          <Badge tone="ok">
            <span data-testid="video-name">{video.facts.name}</span>
          </Badge>
        ) : (
          <Badge tone="info">{load ? 'Decoding…' : 'None loaded'}</Badge>
        )}
      </div>
      <DropZone busy={Boolean(load)} />
      <SampleClips disabled={Boolean(load)} />
      <SamplingSettings disabled={Boolean(load)} />
      {load && <LoadProgress />}
      {error && <VideoErrorNotice />}
      {video && (
        <>
          <VisionStatus videoKey={video.key} />
          <Filmstrip video={video} />
          <VideoFactsList video={video} />
        </>
      )}
    </section>
  );
}

function DropZone({ busy }: { busy: boolean }) {
  const loadVideo = useApp((s) => s.loadVideo);
  const [over, setOver] = useState(false);
  const [url, setUrl] = useState('');
  const fileRef = useRef<HTMLInputElement>(null);
  const urlId = useId();

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    const file = e.dataTransfer.files[0];
    if (file) void loadVideo({ kind: 'file', file });
  };
  const onUrl = (e: FormEvent) => {
    e.preventDefault();
    const u = url.trim();
    if (u) void loadVideo({ kind: 'url', url: u });
  };

  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: a drop target only; the button and URL field inside are the keyboard way in
    <div
      className={`dropzone video-drop${over ? ' over' : ''}`}
      data-testid="video-dropzone"
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <svg viewBox="0 0 48 48" className="dropzone-icon" aria-hidden="true">
        <rect x="5" y="10" width="38" height="28" rx="5" />
        <path d="M20 18v12l10-6z" />
      </svg>
      <p className="dropzone-title">Drop a video here</p>
      <p className="dropzone-note">MP4, MOV, WebM or MKV. It is decoded on this device and never uploaded.</p>
      <div className="video-pick">
        <button type="button" className="button" disabled={busy} onClick={() => fileRef.current?.click()}>
          Choose a video…
        </button>
        <input
          ref={fileRef}
          type="file"
          accept="video/*,.mkv,.mov"
          hidden
          data-testid="video-file"
          onChange={(e) => {
            const file = e.currentTarget.files?.[0];
            e.currentTarget.value = '';
            if (file) void loadVideo({ kind: 'file', file });
          }}
        />
        <form className="video-url" onSubmit={onUrl}>
          <label htmlFor={urlId} className="visually-hidden">
            Video URL
          </label>
          <input
            id={urlId}
            className="text-input"
            type="url"
            placeholder="https://… (the server must allow CORS)"
            value={url}
            onChange={(e) => setUrl(e.currentTarget.value)}
            data-testid="video-url"
          />
          <button type="submit" className="button secondary" disabled={busy || !url.trim()}>
            Load URL
          </button>
        </form>
      </div>
    </div>
  );
}

type MethodChoice = '8' | '16' | '32' | 'every';

function SamplingSettings({ disabled }: { disabled: boolean }) {
  const settings = useApp((s) => s.videoSettings);
  const setSettings = useApp((s) => s.setVideoSettings);
  const m = settings.method;
  const choice: MethodChoice = m.kind === 'uniform' ? (String(m.n) as MethodChoice) : 'every';
  const seconds = m.kind === 'every-seconds' ? m.seconds : 1;
  const setMethod = (method: SampleMethod) => setSettings({ method });
  const id = useId();
  return (
    <fieldset className="video-settings" disabled={disabled}>
      <legend>Frames to sample</legend>
      <select
        id={`${id}-method`}
        aria-label="Frames to sample"
        value={choice}
        data-testid="video-method"
        onChange={(e) => {
          const v = e.currentTarget.value as MethodChoice;
          setMethod(
            v === 'every'
              ? { kind: 'every-seconds', seconds, maxFrames: 64 }
              : { kind: 'uniform', n: Number(v) },
          );
        }}
      >
        <option value="8">8, uniform</option>
        <option value="16">16, uniform (the model's default)</option>
        <option value="32">32, uniform</option>
        <option value="every">one every k seconds</option>
      </select>
      {choice === 'every' && (
        <label className="video-every">
          k ={' '}
          <input
            type="number"
            min={0.1}
            step={0.1}
            value={seconds}
            onChange={(e) => {
              const k = Number(e.currentTarget.value);
              if (k > 0) setMethod({ kind: 'every-seconds', seconds: k, maxFrames: 64 });
            }}
          />{' '}
          s (at most 64 frames)
        </label>
      )}
      <details className="video-advanced">
        <summary>Advanced</summary>
        <label>
          Decoders{' '}
          <select
            value={settings.decoders}
            data-testid="video-decoders"
            onChange={(e) => setSettings({ decoders: Number(e.currentTarget.value) })}
          >
            <option value={1}>1</option>
            <option value={2}>2</option>
            <option value={4}>4</option>
          </select>
        </label>
        <label>
          <input
            type="checkbox"
            checked={settings.forceElement}
            data-testid="video-force-element"
            onChange={(e) => setSettings({ forceElement: e.currentTarget.checked })}
          />{' '}
          Use the &lt;video&gt; element instead of WebCodecs (slower; to compare)
        </label>
      </details>
    </fieldset>
  );
}

const PHASE_LABEL = {
  open: 'Reading the container',
  decode: 'Decoding sampled frames',
  element: 'Capturing frames with the <video> element',
  thumbnails: 'Making the filmstrip',
} as const;

function LoadProgress() {
  const load = useApp((s) => s.videoLoad)!;
  const cancel = useApp((s) => s.cancelVideo);
  const pct = Math.round(overallProgress(load.progress) * 100);
  const vision = useApp((s) => (load.videoKey === null ? undefined : s.vision[load.videoKey]));
  const visionText = visionLabel(vision);
  return (
    <div className="video-progress" data-testid="video-progress">
      <div className="video-progress-row">
        <span className="muted">
          {load.progress ? PHASE_LABEL[load.progress.phase] : 'Opening'} — {load.label}
        </span>
        <button
          type="button"
          className="button secondary"
          onClick={() => void cancel()}
          data-testid="video-cancel"
        >
          Cancel
        </button>
      </div>
      <progress max={100} value={pct} aria-label="Decoding progress">
        {pct}%
      </progress>
      {visionText && (
        <p className="muted video-vision" data-testid="video-vision" data-state={vision?.state}>
          {visionText}
        </p>
      )}
      {load.fallbackReason && (
        <p className="video-note" data-testid="video-fallback-note">
          Using the &lt;video&gt; element fallback: {load.fallbackReason}.
        </p>
      )}
    </div>
  );
}

/** The vision tower's work on the loaded video (streamed while decoding, or after a model load). */
function VisionStatus({ videoKey }: { videoKey: number }) {
  const p = useApp((s) => s.vision[videoKey]);
  const text = visionLabel(p);
  if (!p || !text) return null;
  return (
    <p
      className="muted video-vision"
      data-testid="video-vision"
      data-state={p.state}
      title={`preprocess ${Math.round(p.preprocessMs)} ms, vision tower ${Math.round(p.visionMs)} ms`}
    >
      {text}
    </p>
  );
}

function VideoErrorNotice() {
  const error = useApp((s) => s.videoError)!;
  const dismiss = useApp((s) => s.dismissVideoError);
  const stillLoaded = useApp((s) => s.video?.facts.name ?? null);
  return (
    <div className="notice bad video-error" role="alert" data-testid="video-error" data-kind={error.kind}>
      <p className="video-error-message">{error.message}</p>
      {error.hint && <p className="video-error-hint">{error.hint}</p>}
      {stillLoaded && <p className="muted">Still loaded: {stillLoaded}.</p>}
      <button type="button" className="button secondary" onClick={dismiss}>
        Dismiss
      </button>
    </div>
  );
}
