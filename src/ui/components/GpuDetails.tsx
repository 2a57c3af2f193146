import { useApp } from '../store';
import { AdapterPanel } from './AdapterPanel';
import { SelfTestPanel } from './SelfTestPanel';

/** The adapter and the kernel self-test: for people who want them, folded away from the ask flow. */
export function GpuDetails() {
  const adapterPhase = useApp((s) => s.adapterPhase);
  const phase = useApp((s) => s.selfTestPhase);
  const results = useApp((s) => s.results);
  const failed = results.filter((r) => !r.ok).length;
  const status =
    adapterPhase !== 'ready'
      ? ''
      : phase === 'running'
        ? 'checking kernels…'
        : phase === 'done'
          ? failed
            ? `${failed} of ${results.length} kernels failed`
            : `all ${results.length} kernels pass`
          : phase === 'error'
            ? 'the self-test stopped'
            : '';
  return (
    // Opened by itself when there is no usable GPU: then its explanation is the news.
    <details className="gpu-details" open={adapterPhase === 'error' || undefined} data-testid="gpu-details">
      <summary>
        <span className="gpu-details-title">GPU details</span>
        <span className={`muted${failed ? ' gpu-details-bad' : ''}`} data-testid="gpu-details-status">
          {status && ` · ${status}`}
        </span>
      </summary>
      <div className="panels">
        <AdapterPanel />
        <SelfTestPanel />
      </div>
    </details>
  );
}
