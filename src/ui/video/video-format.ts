/** Display helpers for video facts: pure functions. */

/** 83_333 µs → "0:00.083"; 3_725_000_000 µs → "1:02:05.000". */
export function formatTimestamp(us: number): string {
  const totalMs = Math.max(0, Math.round(us / 1000));
  const ms = totalMs % 1000;
  const s = Math.floor(totalMs / 1000) % 60;
  const m = Math.floor(totalMs / 60_000) % 60;
  const h = Math.floor(totalMs / 3_600_000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}.${pad(ms, 3)}` : `${m}:${pad(s)}.${pad(ms, 3)}`;
}

/** 8.7255 → "8.73 s"; 600 → "10:00.000". */
export function formatDuration(seconds: number): string {
  return seconds < 60 ? `${seconds.toFixed(2)} s` : formatTimestamp(seconds * 1e6);
}

export function formatFps(fps: number): string {
  return `${fps.toFixed(fps >= 100 ? 0 : 2)} fps`;
}
