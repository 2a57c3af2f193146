import type { SelfTestResult } from '../../engine-client';
import { formatError, formatMs } from '../format';
import { useApp } from '../store';
import { Badge } from './Badge';

/** Every kernel checked against its CPU reference on this adapter, with a Run button to repeat it. */
export function SelfTestPanel() {
  const adapterPhase = useApp((s) => s.adapterPhase);
  const adapterReady = adapterPhase === 'ready';
  const phase = useApp((s) => s.selfTestPhase);
  const results = useApp((s) => s.results);
  const { done, total } = useApp((s) => s.progress);
  const error = useApp((s) => s.selfTestError);
  const run = useApp((s) => s.runSelfTest);
  const running = phase === 'running';
  const failed = results.filter((r) => !r.ok).length;

  return (
    <section className="card card-wide" aria-labelledby="selftest-title" data-testid="selftest-panel">
      <div className="card-head">
        <h2 id="selftest-title">Kernel self-test</h2>
        <button
          type="button"
          className="button button-primary"
          onClick={() => void run()}
          disabled={!adapterReady || running}
          data-testid="selftest-run"
        >
          {running ? 'Running…' : phase === 'idle' ? 'Run' : 'Run again'}
        </button>
      </div>
      <p className="muted">
        Each GPU kernel runs on random inputs of awkward sizes and is compared with a plain CPU reference.
      </p>

      <div className="progress-row">
        <progress
          className="progress"
          max={total || 1}
          value={phase === 'done' ? total || 1 : done}
          aria-label="Self-test progress"
          aria-valuetext={total ? `${done} of ${total} kernels checked` : 'Not started'}
          data-testid="selftest-progress"
        />
        <span
          className="progress-label"
          role="status"
          aria-live="polite"
          data-testid="selftest-status"
          data-state={phase}
          data-passed={results.length - failed}
          data-failed={failed}
        >
          <StatusText
            phase={adapterPhase === 'error' ? 'unavailable' : phase}
            done={done}
            total={total}
            failed={failed}
            count={results.length}
          />
        </span>
      </div>

      {error && (
        <div className="callout callout-error" role="alert" data-testid="selftest-error">
          <p>{error.message}</p>
          {error.hint && <p className="callout-hint">{error.hint}</p>}
        </div>
      )}

      {results.length > 0 && <ResultsTable results={results} />}
    </section>
  );
}

function StatusText(p: { phase: string; done: number; total: number; failed: number; count: number }) {
  if (p.phase === 'unavailable') return <>Needs a WebGPU adapter</>;
  if (p.phase === 'idle') return <>Waiting for the GPU</>;
  if (p.phase === 'running') return <>{p.total ? `Checking ${p.done} / ${p.total}` : 'Compiling kernels…'}</>;
  if (p.phase === 'error') return <>Stopped</>;
  if (p.failed) return <Badge tone="bad">{`${p.failed} of ${p.count} failed`}</Badge>;
  return <Badge tone="ok">{`All ${p.count} passed`}</Badge>;
}

function ResultsTable({ results }: { results: SelfTestResult[] }) {
  return (
    <div className="table-wrap">
      <table className="results" data-testid="selftest-table">
        <caption className="visually-hidden">Self-test results per kernel, dtype and variant</caption>
        <thead>
          <tr>
            <th scope="col">Kernel</th>
            <th scope="col">dtype</th>
            <th scope="col">Variant</th>
            <th scope="col">Result</th>
            <th scope="col" className="num">
              Max error
            </th>
            <th scope="col" className="num">
              Time
            </th>
          </tr>
        </thead>
        <tbody>
          {results.map((r) => (
            <tr
              key={`${r.name}|${r.dtype}|${r.variant}`}
              data-testid="selftest-row"
              data-ok={r.ok}
              className={r.ok ? undefined : 'row-fail'}
            >
              <th scope="row">
                <span className="kernel-name">{r.name}</span>
                <span className="kernel-shape">{r.shape}</span>
              </th>
              <td>
                <code>{r.dtype}</code>
              </td>
              <td>{r.variant}</td>
              <td>
                {r.ok ? (
                  <Badge tone="ok">Pass</Badge>
                ) : (
                  <Badge tone="bad" title={r.error}>
                    Fail
                  </Badge>
                )}
                {r.error && <div className="row-error">{r.error}</div>}
              </td>
              <td className="num" title={`tolerance: atol ${r.tolerance.atol}, rtol ${r.tolerance.rtol}`}>
                {formatError(r.maxAbsErr)}
              </td>
              <td className="num">{formatMs(r.ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
