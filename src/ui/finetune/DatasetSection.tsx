import { useId, useState } from 'react';
import { useApp } from '../store';
import { downloadBlob } from './download';
import { ItemForm } from './ItemForm';

const COLOURS = ['red', 'green', 'blue', 'yellow'];

/** The dataset: the moving-squares generator, JSONL + clips in and out, and the held-out split. */
export function DatasetSection() {
  const dataset = useApp((s) => s.dataset);
  const busy = useApp((s) => s.datasetBusy);
  const error = useApp((s) => s.datasetError);
  const generate = useApp((s) => s.generateSquares);
  const importDataset = useApp((s) => s.importDataset);
  const exportDataset = useApp((s) => s.exportDataset);
  const toggle = useApp((s) => s.toggleHeldOut);
  const clear = useApp((s) => s.clearDataset);
  const [count, setCount] = useState(4);
  const [heldOut, setHeldOut] = useState(2);
  const [seed, setSeed] = useState(1);
  const [colours, setColours] = useState<string[]>(COLOURS);
  const id = useId();
  const train = dataset.filter((d) => !d.heldOut).length;

  return (
    <section className="card ft-section" aria-labelledby={`${id}-t`} data-testid="ft-dataset">
      <div className="card-head">
        <h3 id={`${id}-t`}>1. Dataset</h3>
        <span
          className="muted"
          data-testid="ft-dataset-count"
          data-train={train}
          data-heldout={dataset.length - train}
        >
          {dataset.length ? `${train} to train on, ${dataset.length - train} held out` : 'empty'}
        </span>
      </div>
      <fieldset className="ft-generator">
        <legend>Moving squares (made here: H.264 clips, 128 px, 24 frames)</legend>
        <p className="muted">
          Each clip shows one or two coloured squares moving left, right, up or down; the question asks which
          way one of them moves.
        </p>
        <div className="ft-grid">
          <label htmlFor={`${id}-n`}>Clips to train on</label>
          <input
            id={`${id}-n`}
            type="number"
            className="text-input"
            min={1}
            max={500}
            value={count}
            onChange={(e) => setCount(Math.max(1, Math.round(Number(e.target.value) || 1)))}
            data-testid="ft-gen-count"
          />
          <label htmlFor={`${id}-h`}>Held-out clips</label>
          <input
            id={`${id}-h`}
            type="number"
            className="text-input"
            min={0}
            max={500}
            value={heldOut}
            onChange={(e) => setHeldOut(Math.max(0, Math.round(Number(e.target.value) || 0)))}
            data-testid="ft-gen-heldout"
          />
          <label htmlFor={`${id}-s`}>Seed</label>
          <input
            id={`${id}-s`}
            type="number"
            className="text-input"
            min={0}
            value={seed}
            onChange={(e) => setSeed(Math.max(0, Math.round(Number(e.target.value) || 0)))}
            data-testid="ft-gen-seed"
          />
        </div>
        <fieldset className="ft-colours">
          <legend className="visually-hidden">Colours</legend>
          {COLOURS.map((c) => (
            <label key={c} className="ft-check">
              <input
                type="checkbox"
                checked={colours.includes(c)}
                onChange={() => setColours((cs) => (cs.includes(c) ? cs.filter((x) => x !== c) : [...cs, c]))}
              />
              {c}
            </label>
          ))}
        </fieldset>
        <button
          type="button"
          className="button button-primary"
          disabled={busy !== null || colours.length === 0}
          onClick={() => void generate(count, heldOut, seed, colours)}
          data-testid="ft-generate"
        >
          Generate
        </button>
      </fieldset>
      <ItemForm />
      <div className="ft-row">
        <label className="button">
          Import JSONL + clips…
          <input
            type="file"
            className="visually-hidden"
            multiple
            accept=".jsonl,.zip,video/*"
            onChange={(e) => {
              const files = [...(e.target.files ?? [])];
              e.target.value = '';
              if (files.length) void importDataset(files);
            }}
            data-testid="ft-import"
          />
        </label>
        <button
          type="button"
          className="button"
          disabled={!dataset.length || busy !== null}
          onClick={() => void exportDataset().then((b) => downloadBlob(b, 'dataset.zip'))}
          data-testid="ft-export"
        >
          Export (zip)
        </button>
        <button type="button" className="button" disabled={!dataset.length || busy !== null} onClick={clear}>
          Clear
        </button>
      </div>
      {busy && (
        <p className="muted" role="status">
          {busy}
        </p>
      )}
      {error && (
        <div className="callout callout-error" role="alert" data-testid="ft-dataset-error">
          <strong>{error.message}</strong> {error.hint}
        </div>
      )}
      {dataset.length > 0 && (
        <details className="ft-items">
          <summary>Items ({dataset.length})</summary>
          <ul>
            {dataset.map((d, i) => (
              <li key={`${d.problem_id}`}>
                <label className="ft-check">
                  <input type="checkbox" checked={d.heldOut} onChange={() => toggle(i)} />
                  held out
                </label>{' '}
                <code>{d.video_filename}</code> — {d.problem.split('\n')[0]} → <code>{d.solution}</code>
              </li>
            ))}
          </ul>
        </details>
      )}
    </section>
  );
}
