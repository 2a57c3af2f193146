import { registerSW } from 'virtual:pwa-register';
import { useEffect, useState } from 'react';

/**
 * Registers the service worker (the installable, offline app) and says when a new version is ready:
 * it takes over only when the user chooses Reload, so nothing in progress is lost.
 */
export function UpdateBanner() {
  const [update, setUpdate] = useState<((reload?: boolean) => Promise<void>) | null>(null);
  useEffect(() => {
    if (!('serviceWorker' in navigator)) return;
    const updateSW = registerSW({ onNeedRefresh: () => setUpdate(() => updateSW) });
  }, []);
  if (!update) return null;
  return (
    <div className="callout callout-info update-banner" role="status" data-testid="update-banner">
      <p>A new version of Video Reasoner is ready.</p>
      <button type="button" className="button button-primary" onClick={() => void update(true)}>
        Reload
      </button>{' '}
      <button type="button" className="button" onClick={() => setUpdate(null)}>
        Later
      </button>
    </div>
  );
}
