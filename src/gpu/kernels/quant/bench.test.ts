import { describe, expect, it } from 'vitest';
import { ctx } from '../../testing/kernel-suite';
import { adapterName } from '../../testing/node-gpu';
import { benchFusedQ4, benchQ4 } from './bench';

/**
 * A smoke run of benchQ4 and benchFusedQ4 always; the decode shapes of the issue (1×2048×2048,
 * 1×11008×2048) and fused vs separate kernels at the Qwen2.5-3B decode shapes only with Q4_BENCH=1, as
 * they take a while on software adapters:
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
    expect(r.fusedMs).toBeGreaterThan(0);
    expect(r.separateMs).toBeGreaterThan(0);
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
});
