import { useApp } from '../store';

/**
 * The GPU device was lost or raised an error after start: say so above everything else, and follow
 * the engine's recovery (a new device, the model reloaded) until it is done or has failed.
 */
export function DeviceErrorBanner() {
  const error = useApp((s) => s.deviceError);
  const recovery = useApp((s) => s.deviceRecovery);
  if (recovery?.state === 'recovered' && !error)
    return (
      <div className="banner banner-info" role="status" data-testid="device-recovered">
        {recovery.message}
      </div>
    );
  if (!error && !recovery) return null;
  const failed = recovery?.state === 'failed' ? recovery.error : null;
  return (
    <div className="banner banner-error" role="alert" data-testid="device-error">
      <strong>{error?.message ?? recovery?.message}</strong>
      {recovery?.state === 'recovering' ? (
        <span> {recovery.message}</span>
      ) : failed ? (
        <span>
          {' '}
          {recovery?.message} {failed.message} {failed.hint}
        </span>
      ) : (
        error?.hint && <span> {error.hint}</span>
      )}
    </div>
  );
}
