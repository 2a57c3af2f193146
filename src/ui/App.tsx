import { useEffect } from 'react';
import { AdapterPanel } from './components/AdapterPanel';
import { DeviceErrorBanner } from './components/DeviceErrorBanner';
import { Header } from './components/Header';
import { SelfTestPanel } from './components/SelfTestPanel';
import { AskPanel } from './model/AskPanel';
import { ModelPanel } from './model/ModelPanel';
import { useApp } from './store';
import { VideoPanel } from './video/VideoPanel';

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
        <VideoPanel />
        <div className="panels">
          <ModelPanel />
          <AskPanel />
        </div>
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
