import { describe, expect, it } from 'vitest';
import { ctx } from '../../testing/kernel-suite';
import { adapterName } from '../../testing/node-gpu';
import { benchFusedQ4, benchQ4 } from './bench-q4';
import type { GemmFlatTile } from './gemm-q4';

/**
 * A smoke run of benchQ4 and benchFusedQ4 always; the decode shapes of the issue (1×2048×2048,
 * 1×11008×2048), fused vs separate kernels at the Qwen2.5-3B decode shapes, and the flat GEMM's thread
 * tiles at prefill shapes only with Q4_BENCH=1, as they take a while on software adapters:
 *   Q4_BENCH=1 VK_ICD_FILENAMES=… npx vitest run src/gpu/kernels/quant/bench.test.ts
 */
describe('benchQ4', () => {
  it('measures a small GEMV', async () => {
    const r = await benchQ4(ctx, { M: 1, N: 64, K: 256 }, { budgetMs: 0, minSamples: 2 });
    expect(r.ms).toBeGreaterThan(0);
    expect(r.bytes).toBe(64 * 32 * 4 + 64 * 8 * 2 + (256 + 64) * (ctx.actDtype === 'f16' ? 2 : 4));
    expect(r.gflops).toBeCloseTo((2 * 64 * 256) / r.ms / 1e6, 6);
  });

  it('measures a small fused block', async () => {
    const r = await benchFusedQ4(ctx, { M: 1, N: 16, K: 64 }, 'mlp', {
      budgetMs: 0,
      minSamples: 2,
      rounds: 1,
    });
    // A 16×64 block can read as 0 ns on a software adapter's coarse timestamps; a round that never
    // ran would leave Infinity.
    for (const ms of [r.fusedMs, r.separateMs]) {
      expect(Number.isFinite(ms)).toBe(true);
      expect(ms).toBeGreaterThanOrEqual(0);
    }
  });

  // Qwen2.5-3B decode: hidden 2048, intermediate 11008 (RMSNorm → 2048×2048; RMSNorm → gate/up → SiLU·mul).
  it.runIf(process.env.Q4_BENCH === '1')(
    'fused vs separate kernels at the Qwen2.5-3B decode shapes',
    async () => {
      const lines = [`adapter: ${adapterName(ctx)}; act ${ctx.actDtype}; variant ${ctx.variant}`];
      for (const [block, N, label] of [
        ['norm', 2048, 'RMSNorm + 1×2048×2048'],
        ['mlp', 11008, 'RMSNorm + gate/up 1×2×11008×2048 + SiLU·mul'],
      ] as const) {
        const r = await benchFusedQ4(ctx, { M: 1, N, K: 2048 }, block, { budgetMs: 2000, rounds: 3 });
        lines.push(
          `${label.padEnd(45)} fused ${r.fusedMs.toFixed(2).padStart(7)} ms  separate ` +
            `${r.separateMs.toFixed(2).padStart(7)} ms  (${r.method})`,
        );
      }
      console.log(lines.join('\n'));
    },
    600_000,
  );

  it.runIf(process.env.Q4_BENCH === '1')(
    'decode shapes',
    async () => {
      const lines = [`adapter: ${adapterName(ctx)}; act ${ctx.actDtype}; variant ${ctx.variant}`];
      for (const [M, N, K] of [
        [1, 2048, 2048],
        [1, 11008, 2048],
        [8, 2048, 2048],
      ])
        for (const timing of ['timestamp-query', 'wall-clock'] as const) {
          const r = await benchQ4(ctx, { M, N, K }, { timing, budgetMs: 3000 });
          lines.push(
            `${M}×${N}×${K} ${timing.padEnd(15)} ${r.ms.toFixed(2).padStart(8)} ms ` +
              `${r.gbps.toFixed(3)} GB/s ${r.gflops.toFixed(2)} GFLOP/s (${r.samples} samples)`,
          );
        }
      console.log(lines.join('\n'));
    },
    600_000,
  );

  // Wall clock: a timestamp-query duration of so small a kernel can read 0.
  it('measures a small GEMM with a forced flat tile', async () => {
    const flatTile: GemmFlatTile = { tm: 2, tn: 4, wg: 16, form: 'raw' };
    const r = await benchQ4(
      ctx,
      { M: 6, N: 64, K: 256 },
      { variant: 'flat', flatTile, timing: 'wall-clock', budgetMs: 0, minSamples: 2 },
    );
    expect(r.ms).toBeGreaterThan(0);
  });

  // Prefill (M = 64) at Qwen2.5-3B's MLP and attention shapes: the old 4 × 8 'raw' tile against the
  // default (16 × 16 'deq' at M ≥ 32) and a few others, alternating rounds, best median of each.
  it.runIf(process.env.Q4_BENCH === '1')(
    'flat GEMM tiles at prefill shapes',
    async () => {
      const lines = [`adapter: ${adapterName(ctx)}; act ${ctx.actDtype}; variant flat; wall-clock`];
      const tiles: (GemmFlatTile | undefined)[] = [
        { tm: 4, tn: 8, wg: 64, form: 'raw' },
        undefined,
        { tm: 16, tn: 32, wg: 64, form: 'deq' },
        { tm: 8, tn: 32, wg: 64, form: 'deq' },
      ];
      const name = (t?: GemmFlatTile) => (t ? `${t.tm}×${t.tn} ${t.form} wg ${t.wg}` : 'default');
      for (const [M, N, K] of [
        [64, 2048, 2048],
        [64, 11008, 2048],
      ]) {
        const best = tiles.map(() => Number.POSITIVE_INFINITY);
        for (let round = 0; round < 3; round++)
          for (const [i, flatTile] of tiles.entries()) {
            const r = await benchQ4(
              ctx,
              { M, N, K },
              { variant: 'flat', flatTile, timing: 'wall-clock', budgetMs: 1000, minSamples: 2 },
            );
            best[i] = Math.min(best[i], r.ms);
          }
        for (const [i, t] of tiles.entries())
          lines.push(
            `${M}×${N}×${K} ${name(t).padEnd(18)} ${best[i].toFixed(1).padStart(8)} ms ` +
              `${((2 * M * N * K) / best[i] / 1e6).toFixed(2)} GFLOP/s`,
          );
      }
      console.log(lines.join('\n'));
    },
    1_800_000,
  );
});
