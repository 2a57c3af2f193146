import type { ReactNode } from 'react';
import type { AdapterSummary, EngineErrorInfo } from '../../engine-client';
import { formatBytes, formatCount } from '../format';
import { useApp } from '../store';
import { Badge } from './Badge';

export function AdapterPanel() {
  const phase = useApp((s) => s.adapterPhase);
  const adapter = useApp((s) => s.adapter);
  const error = useApp((s) => s.adapterError);

  return (
    <section
      className="card"
      aria-labelledby="adapter-title"
      aria-busy={phase === 'starting'}
      data-testid="adapter-panel"
    >
      <div className="card-head">
        <h2 id="adapter-title">GPU adapter</h2>
        {adapter && (
          <Badge tone={adapter.isSoftware ? 'warn' : 'ok'}>
            {adapter.isSoftware ? 'Software' : 'Hardware'}
          </Badge>
        )}
      </div>
      {error ? (
        <NoGpu error={error} />
      ) : adapter ? (
        <AdapterDetails a={adapter} />
      ) : (
        <p className="muted" data-testid="adapter-loading">
          Looking for a GPU…
        </p>
      )}
    </section>
  );
}

function NoGpu({ error }: { error: EngineErrorInfo }) {
  const title =
    error.kind === 'no-webgpu' ? 'WebGPU is not available in this browser' : 'No GPU could be started';
  return (
    <div className="callout callout-error" role="alert" data-testid="gpu-error" data-kind={error.kind}>
      <h3>{title}</h3>
      <p>{error.message}</p>
      {error.hint && <p className="callout-hint">{error.hint}</p>}
    </div>
  );
}

function AdapterDetails({ a }: { a: AdapterSummary }) {
  const yesNo = (v: boolean) => <Flag on={v} />;
  const subgroupSizes = a.subgroupMinSize
    ? a.subgroupMinSize === a.subgroupMaxSize
      ? `size ${a.subgroupMinSize}`
      : `sizes ${a.subgroupMinSize}–${a.subgroupMaxSize}`
    : '';
  return (
    <>
      <dl className="facts">
        <Row id="vendor" label="Vendor" value={a.vendor || '—'} />
        <Row id="architecture" label="Architecture" value={a.architecture || '—'} />
        <Row id="description" label="Description" value={a.description || a.device || '—'} />
        <Row
          id="fallback"
          label="Kind"
          value={
            <>
              {a.isSoftware ? 'Software (CPU-emulated)' : 'Hardware'}
              {a.isFallback && <span className="muted"> · fallback adapter</span>}
            </>
          }
        />
        <Row id="f16" label="shader-f16" value={yesNo(a.f16)} />
        <Row
          id="subgroups"
          label="Subgroups"
          value={
            <>
              {yesNo(a.subgroups)}
              {a.subgroups && subgroupSizes && <span className="muted"> · {subgroupSizes}</span>}
            </>
          }
        />
        <Row id="timestamp" label="Timestamp queries" value={yesNo(a.timestampQuery)} />
      </dl>
      <h3 className="subhead">Limits</h3>
      <dl className="facts facts-mono">
        <Row
          id="max-binding"
          label="maxStorageBufferBindingSize"
          value={formatBytes(a.limits.maxStorageBufferBindingSize)}
        />
        <Row id="max-buffer" label="maxBufferSize" value={formatBytes(a.limits.maxBufferSize)} />
        <Row
          id="max-wg-storage"
          label="maxComputeWorkgroupStorageSize"
          value={formatBytes(a.limits.maxComputeWorkgroupStorageSize)}
        />
        <Row
          id="max-invocations"
          label="maxComputeInvocationsPerWorkgroup"
          value={formatCount(a.limits.maxComputeInvocationsPerWorkgroup)}
        />
      </dl>
    </>
  );
}

function Row({ id, label, value }: { id: string; label: string; value: ReactNode }) {
  return (
    <div className="fact" data-testid={`adapter-${id}`}>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}

function Flag({ on }: { on: boolean }) {
  return <span className={on ? 'flag flag-on' : 'flag flag-off'}>{on ? 'Yes' : 'No'}</span>;
}
