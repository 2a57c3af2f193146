import { useEffect, useId, useState } from 'react';
import { formatBytes } from '../format';
import { useApp } from '../store';
import { downloadBlob } from './download';
import { holdsGpu } from './finetune-slice';

/** Saved adapters: save the run's, list, rename, delete, download as PEFT files, import such files. */
export function AdaptersSection() {
  const adapters = useApp((s) => s.adapters);
  const active = useApp((s) => s.activeAdapter);
  const error = useApp((s) => s.adapterError);
  const run = useApp((s) => s.run);
  const model = useApp((s) => s.model);
  const hasModel = model !== null;
  const refresh = useApp((s) => s.refreshAdapters);
  const save = useApp((s) => s.saveAdapter);
  const rename = useApp((s) => s.renameAdapter);
  const remove = useApp((s) => s.deleteAdapter);
  const exportAdapter = useApp((s) => s.exportAdapter);
  const importAdapter = useApp((s) => s.importAdapter);
  const [name, setName] = useState('my adapter');
  const [editing, setEditing] = useState<{ id: string; name: string } | null>(null);
  const [confirm, setConfirm] = useState<string | null>(null);
  const id = useId();
  const canSave = run.step > 0 && !holdsGpu(run.state);

  useEffect(() => {
    // Each model load starts from the base weights: list again (the adapter in use resets).
    if (model) void refresh();
  }, [model, refresh]);

  return (
    <section className="card ft-section" aria-labelledby={`${id}-t`} data-testid="ft-adapters">
      <div className="card-head">
        <h3 id={`${id}-t`}>5. Adapters</h3>
        <span className="muted">kept in this browser; PEFT files in and out</span>
      </div>
      <form
        className="ft-row"
        onSubmit={(e) => {
          e.preventDefault();
          if (canSave) void save(name);
        }}
      >
        <label htmlFor={`${id}-n`}>Name</label>
        <input
          id={`${id}-n`}
          className="text-input"
          value={name}
          onChange={(e) => setName(e.target.value)}
          data-testid="ft-adapter-name"
        />
        <button
          type="submit"
          className="button button-primary"
          disabled={!canSave}
          data-testid="ft-adapter-save"
        >
          Save the run’s adapter
        </button>
        <label className="button">
          Import PEFT files…
          <input
            type="file"
            className="visually-hidden"
            multiple
            accept=".json,.safetensors"
            disabled={!hasModel}
            onChange={(e) => {
              const files = [...(e.target.files ?? [])];
              e.target.value = '';
              if (files.length) void importAdapter(files, name);
            }}
            data-testid="ft-adapter-import"
          />
        </label>
      </form>
      {!canSave && <p className="muted">Train (and pause or finish) a run to save its adapter.</p>}
      {error && (
        <div className="callout callout-error" role="alert" data-testid="ft-adapter-error">
          <strong>{error.message}</strong> {error.hint}
        </div>
      )}
      {adapters.length > 0 && (
        <ul className="ft-adapter-list" data-testid="ft-adapter-list">
          {adapters.map((a) => (
            <li key={a.id} data-testid="ft-adapter" data-name={a.name}>
              {editing?.id === a.id ? (
                <form
                  className="ft-row"
                  onSubmit={(e) => {
                    e.preventDefault();
                    void rename(a.id, editing.name);
                    setEditing(null);
                  }}
                >
                  <input
                    aria-label="New name"
                    className="text-input"
                    value={editing.name}
                    onChange={(e) => setEditing({ id: a.id, name: e.target.value })}
                  />
                  <button type="submit" className="button">
                    Rename
                  </button>
                  <button type="button" className="button" onClick={() => setEditing(null)}>
                    Cancel
                  </button>
                </form>
              ) : (
                <div className="ft-adapter-row">
                  <strong>{a.name}</strong>
                  {active === a.id && <span className="badge badge-ok">in use</span>}
                  <span className="muted">
                    {a.baseModel} · r {a.r} · {a.step ? `${a.step} steps · ` : ''}
                    {formatBytes(a.bytes)} · {new Date(a.savedAt).toLocaleString()}
                  </span>
                  <button
                    type="button"
                    className="button"
                    onClick={() => setEditing({ id: a.id, name: a.name })}
                  >
                    Rename
                  </button>
                  <button
                    type="button"
                    className="button"
                    data-testid="ft-adapter-download"
                    onClick={() =>
                      void exportAdapter(a.id).then((files) => {
                        for (const f of files) downloadBlob(new Blob([f.data as BlobPart]), f.name);
                      })
                    }
                  >
                    Download PEFT files
                  </button>
                  <button
                    type="button"
                    className="button"
                    onClick={() => {
                      if (confirm === a.id) {
                        setConfirm(null);
                        void remove(a.id);
                      } else setConfirm(a.id);
                    }}
                    data-testid="ft-adapter-delete"
                  >
                    {confirm === a.id ? 'Really delete?' : 'Delete'}
                  </button>
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
