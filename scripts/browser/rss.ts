/**
 * Resident memory of a harness browser, from /proc (Linux): the browser process found by its marker
 * switch (Harness.marker) and every descendant (GPU, renderer, utility), sampled while work runs.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Resident memory of the browser marked `marker` and all its descendants (GPU, renderer, utility), bytes. */
export function chromiumRss(marker: string): number {
  let total = 0;
  for (const n of chromiumRssByType(marker).values()) total += n;
  return total;
}

/**
 * The same, by Chromium process type (`renderer`: the pages and their workers; `gpu-process`, where
 * a software adapter keeps GPU buffers in RAM; `browser` for the main process; …), bytes.
 */
export function chromiumRssByType(marker: string): Map<string, number> {
  const parent = new Map<number, number>();
  let root = -1;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      if (root < 0 && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(marker)) root = Number(d);
    } catch {
      // the process ended meanwhile
    }
  }
  const byType = new Map<string, number>();
  if (root < 0) return byType;
  const inTree = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 16; p = parent.get(p) ?? 0, hops++)
      if (p === root) return true;
    return false;
  };
  for (const pid of parent.keys()) {
    if (!inTree(pid)) continue;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      const type = /--type=([\w-]+)/.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))?.[1] ?? 'browser';
      if (m) byType.set(type, (byType.get(type) ?? 0) + Number(m[1]) * 1024);
    } catch {
      // ended
    }
  }
  return byType;
}

export async function withRssPeak<T>(marker: string, fn: () => Promise<T>): Promise<[T, number]> {
  let peak = chromiumRss(marker);
  const timer = setInterval(() => {
    peak = Math.max(peak, chromiumRss(marker));
  }, 50);
  try {
    const r = await fn();
    return [r, Math.max(peak, chromiumRss(marker))];
  } finally {
    clearInterval(timer);
  }
}
