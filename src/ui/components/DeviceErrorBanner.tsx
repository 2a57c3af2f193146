import { useApp } from '../store';

/** The GPU device was lost or raised an error after start: say so above everything else. */
export function DeviceErrorBanner() {
  const error = useApp((s) => s.deviceError);
  if (!error) return null;
  return (
    <div className="banner banner-error" role="alert" data-testid="device-error">
      <strong>{error.message}</strong>
      {error.hint && <span> {error.hint}</span>}
    </div>
  );
}
