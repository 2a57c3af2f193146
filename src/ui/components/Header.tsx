import { useEffect } from 'react';
import { useApp } from '../store';
import { applyTheme, useTheme } from '../theme';

export function Header() {
  const theme = useTheme((s) => s.theme);
  const toggle = useTheme((s) => s.toggle);
  useEffect(() => applyTheme(theme), [theme]);
  const next = theme === 'dark' ? 'light' : 'dark';
  const view = useApp((s) => s.view);
  const setView = useApp((s) => s.setView);

  return (
    <header className="app-header">
      <div className="brand">
        <svg className="brand-mark" viewBox="0 0 32 32" aria-hidden="true">
          <rect x="2" y="6" width="20" height="20" rx="5" />
          <path d="M23 12.5 30 8v16l-7-4.5z" />
          <circle cx="12" cy="16" r="3.5" className="brand-eye" />
        </svg>
        <div>
          <h1 className="brand-name">Video Reasoner</h1>
          <p className="brand-tagline">
            Ask questions about a video. The model runs on your GPU, in this tab.
          </p>
        </div>
      </div>
      <nav className="view-nav" aria-label="Views">
        <button
          type="button"
          className="button"
          aria-current={view === 'ask' ? 'page' : undefined}
          onClick={() => setView('ask')}
          data-testid="nav-ask"
        >
          Ask
        </button>
        <button
          type="button"
          className="button"
          aria-current={view === 'finetune' ? 'page' : undefined}
          onClick={() => setView('finetune')}
          data-testid="nav-finetune"
        >
          Fine-tune
        </button>
      </nav>
      <button
        type="button"
        className="icon-button"
        onClick={toggle}
        aria-label={`Switch to ${next} theme`}
        title={`Switch to ${next} theme`}
        data-testid="theme-toggle"
        data-theme-current={theme}
      >
        {theme === 'dark' ? <SunIcon /> : <MoonIcon />}
      </button>
    </header>
  );
}

function SunIcon() {
  return (
    <svg viewBox="0 0 24 24" aria-hidden="true" className="icon">
      <circle cx="12" cy="12" r="4.5" />
      <path d="M12 2v2.5M12 19.5V22M2 12h2.5M19.5 12H22M4.9 4.9l1.8 1.8M17.3 17.3l1.8 1.8M4.9 19.1l1.8-1.8M17.3 6.7l1.8-1.8" />
    </svg>
  );
}

function MoonIcon() {
  return (
    <svg viewBox="0 0 24 24" aria-hidden="true" className="icon">
      <path d="M20 14.5A8.5 8.5 0 0 1 9.5 4a8.5 8.5 0 1 0 10.5 10.5z" />
    </svg>
  );
}
