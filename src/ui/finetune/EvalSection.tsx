import { useId } from 'react';
import type { EvalResult } from '../../engine-client';
import { useApp } from '../store';
import { holdsGpu } from './finetune-slice';

const pct = (x: number) => `${(100 * x).toFixed(0)} %`;

/** The held-out split answered by the base model and by the run's adapter, side by side. */
export function EvalSection() {
  const evals = useApp((s) => s.evals);
  const evaluate = useApp((s) => s.evaluate);
  const heldOut = useApp((s) => s.dataset.filter((d) => d.heldOut).length);
  const run = useApp((s) => s.run);
  const hasModel = useApp((s) => s.model !== null);
  const id = useId();
  const trained = run.step > 0 && !holdsGpu(run.state);
  const can = hasModel && heldOut > 0 && !holdsGpu(run.state) && evals.running === null;
  const { before, after } = evals;

  return (
    <section className="card ft-section" aria-labelledby={`${id}-t`} data-testid="ft-eval">
      <div className="card-head">
        <h3 id={`${id}-t`}>4. Before / after</h3>
        <span className="muted">
          {heldOut} held-out item{heldOut === 1 ? '' : 's'}, greedy answers
        </span>
      </div>
      <div className="ft-row">
        <button
          type="button"
          className="button"
          disabled={!can}
          onClick={() => void evaluate('before')}
          data-testid="ft-eval-before"
        >
          {evals.running === 'before' ? 'Evaluating…' : 'Evaluate the base model'}
        </button>
        <button
          type="button"
          className="button"
          disabled={!can || !trained}
          onClick={() => void evaluate('after')}
          data-testid="ft-eval-after"
        >
          {evals.running === 'after' ? 'Evaluating…' : 'Evaluate the trained adapter'}
        </button>
      </div>
      {(before || after) && (
        <div className="table-wrap">
          <table className="results ft-eval-table">
            <thead>
              <tr>
                <th scope="col">Item</th>
                <th scope="col">Expected</th>
                <th scope="col">
                  Base {before && `(${pct(before.accuracy)} right, ${pct(before.formatRate)} well-formed)`}
                </th>
                <th scope="col">
                  Adapter {after && `(${pct(after.accuracy)} right, ${pct(after.formatRate)} well-formed)`}
                </th>
              </tr>
            </thead>
            <tbody>
              {rows(before, after).map((r) => (
                <tr key={String(r.id)}>
                  <td>{r.question}</td>
                  <td>
                    <code>{r.solution}</code>
                  </td>
                  <td data-testid="ft-eval-base-answer">{r.before ?? '—'}</td>
                  <td
                    data-testid="ft-eval-adapter-answer"
                    data-problem-id={String(r.id)}
                    data-completion={r.afterRaw?.completion}
                  >
                    {r.after ?? '—'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function rows(before: EvalResult | null, after: EvalResult | null) {
  const ids = (before ?? after)!.answers.map((a) => a.problemId);
  const show = (r: EvalResult | null, i: number) => {
    const a = r?.answers[i];
    return a ? `${a.answer || '(no answer)'}${a.accuracy > 0 ? ' ✓' : ' ✗'}` : null;
  };
  return ids.slice(0, 8).map((id, i) => {
    const a = (before ?? after)!.answers[i];
    return {
      id,
      question: a.question.split('\n')[0],
      solution: a.solution,
      before: show(before, i),
      after: show(after, i),
      afterRaw: after?.answers[i],
    };
  });
}
