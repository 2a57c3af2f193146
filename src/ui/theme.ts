import { create } from 'zustand';

export type Theme = 'light' | 'dark';

const KEY = 'video-reasoner.theme';
const media = () => globalThis.matchMedia?.('(prefers-color-scheme: dark)');

function storedTheme(): Theme | null {
  try {
    const t = localStorage.getItem(KEY);
    return t === 'light' || t === 'dark' ? t : null;
  } catch {
    return null; // storage blocked (private mode, sandboxed iframe)
  }
}

const systemTheme = (): Theme => (media()?.matches ? 'dark' : 'light');

interface ThemeState {
  theme: Theme;
  /** true once the user picked a theme; until then the system preference is followed. */
  chosen: boolean;
  toggle(): void;
}

export const useTheme = create<ThemeState>()((set, get) => ({
  theme: storedTheme() ?? systemTheme(),
  chosen: storedTheme() !== null,
  toggle() {
    const theme: Theme = get().theme === 'dark' ? 'light' : 'dark';
    try {
      localStorage.setItem(KEY, theme);
    } catch {
      // not persisted; the choice still holds for this visit
    }
    set({ theme, chosen: true });
  },
}));

media()?.addEventListener('change', (e) => {
  if (!useTheme.getState().chosen) useTheme.setState({ theme: e.matches ? 'dark' : 'light' });
});

/** Keeps <html data-theme> in step with the store (CSS variables switch on it). */
export function applyTheme(theme: Theme): void {
  document.documentElement.dataset.theme = theme;
  document.documentElement.style.colorScheme = theme;
}
