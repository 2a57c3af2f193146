import { useEffect } from 'react';
import { DeviceErrorBanner } from './components/DeviceErrorBanner';
import { GpuDetails } from './components/GpuDetails';
import { Header } from './components/Header';
import { UpdateBanner } from './components/UpdateBanner';
import { FinetunePanel } from './finetune/FinetunePanel';
import { AskPanel } from './model/AskPanel';
import { ModelPanel } from './model/ModelPanel';
import { useApp } from './store';
import { VideoPanel } from './video/VideoPanel';

export function App() {
  const start = useApp((s) => s.start);
  const view = useApp((s) => s.view);
  useEffect(() => {
    void start();
  }, [start]);

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Header />
      <main id="main" className="layout">
        <UpdateBanner />
        <DeviceErrorBanner />
        {view === 'finetune' ? (
          <>
            <ModelPanel />
            <FinetunePanel />
          </>
        ) : (
          <>
            <VideoPanel />
            <div className="panels">
              <ModelPanel />
              <AskPanel />
            </div>
          </>
        )}
        <GpuDetails />
      </main>
      <footer className="app-footer">
        Everything runs on this device: your video never leaves the browser.
      </footer>
    </div>
  );
}
