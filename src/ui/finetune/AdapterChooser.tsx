import { useEffect, useId } from 'react';
import { useApp } from '../store';
import { holdsGpu } from './finetune-slice';

/** In the ask flow: answer with the base model or base + a saved adapter; says when training holds the GPU. */
export function AdapterChooser() {
  const adapters = useApp((s) => s.adapters);
  const active = useApp((s) => s.activeAdapter);
  const use = useApp((s) => s.useAdapter);
  const refresh = useApp((s) => s.refreshAdapters);
  const model = useApp((s) => s.model);
  const hasModel = model !== null;
  const training = useApp((s) => holdsGpu(s.run.state));
  const setView = useApp((s) => s.setView);
  const id = useId();

  useEffect(() => {
    // Each model load starts from the base weights: list again (the adapter in use resets).
    if (model) void refresh();
  }, [model, refresh]);

  return (
    <div className="ft-chooser">
      {training && (
        <p className="callout callout-info" role="status" data-testid="ask-training-note">
          Fine-tuning holds the GPU: questions wait until the run is paused or stopped.{' '}
          <button type="button" className="link-button" onClick={() => setView('finetune')}>
            Go to Fine-tune
          </button>
        </p>
      )}
      {adapters.length > 0 && (
        <div className="ft-row">
          <label htmlFor={id}>Answer with</label>
          <select
            id={id}
            className="text-input"
            value={active ?? ''}
            disabled={training || !hasModel}
            onChange={(e) => void use(e.target.value || null)}
            data-testid="ask-adapter"
          >
            <option value="">the base model</option>
            {adapters.map((a) => (
              <option key={a.id} value={a.id}>
                base + {a.name}
              </option>
            ))}
          </select>
        </div>
      )}
    </div>
  );
}
