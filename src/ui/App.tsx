import { useEffect } from 'react';
import { AdapterPanel } from './components/AdapterPanel';
import { DeviceErrorBanner } from './components/DeviceErrorBanner';
import { Header } from './components/Header';
import { SelfTestPanel } from './components/SelfTestPanel';
import { VideoDropZone } from './components/VideoDropZone';
import { useApp } from './store';

export function App() {
  const start = useApp((s) => s.start);
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
        <DeviceErrorBanner />
        <VideoDropZone />
        <div className="panels">
          <AdapterPanel />
          <SelfTestPanel />
        </div>
      </main>
      <footer className="app-footer">
        Everything runs on this device: your video never leaves the browser.
      </footer>
    </div>
  );
}
