/** Conversion in memory for tests: a sink that keeps files as bytes, and a converted fixture. */
import { type ConvertSink, convertCheckpoint } from '../convert';
import { openFixture } from './goldens';

/** Files written to memory. */
export function memorySink(files: Map<string, Uint8Array>): ConvertSink {
  return {
    async create(path) {
      const parts: Uint8Array[] = [];
      return {
        async write(b) {
          parts.push(b.slice());
        },
        async close() {
          const n = parts.reduce((a, p) => a + p.byteLength, 0);
          const out = new Uint8Array(n);
          let at = 0;
          for (const p of parts) {
            out.set(p, at);
            at += p.byteLength;
          }
          files.set(path, out);
        },
      };
    },
  };
}

export async function convertFixture(fixture: string, shardBytes?: number) {
  const ckpt = await openFixture(fixture);
  const files = new Map<string, Uint8Array>();
  const manifest = await convertCheckpoint(ckpt, memorySink(files), {
    model: { source: fixture },
    ...(shardBytes ? { shardBytes } : {}),
  });
  return { ckpt, files, manifest };
}
