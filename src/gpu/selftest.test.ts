import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSelfTest, runSelfTestCase, selfTestCases } from './selftest';
import type { KernelCase } from './selftest-cases';
import { ctx } from './testing/kernel-suite';
import { adapterName } from './testing/node-gpu';

// `npm test` asks for the adapter's name, as Dawn reports it, for its summary line.
const report = process.env.GPU_ADAPTER_REPORT;
if (report) {
  mkdirSync(dirname(report), { recursive: true });
  writeFileSync(report, JSON.stringify({ adapter: adapterName(ctx), f16: ctx.summary.f16 }));
}

describe('kernel self-test', () => {
  const cases = selfTestCases(ctx);

  it('covers every family, with f16 cases exactly when the adapter has shader-f16', () => {
    expect(cases.some((c) => c.dtype === 'f16')).toBe(ctx.summary.f16);
    const names = new Set(cases.map((c) => c.name));
    for (const family of ['matmul gemm', 'matmul gemv', 'rmsnorm', 'softmax', 'attention', 'copy'])
      expect(names).toContain(family);
  });

  it('reports each result with its progress, in order', async () => {
    const picked = [cases[0], cases[cases.length - 1]];
    const seen: string[] = [];
    const results = await runSelfTest(ctx, (r, p) => seen.push(`${r.name} ${p.done}/${p.total}`), picked);
    expect(results.map((r) => r.ok)).toEqual([true, true]);
    expect(seen).toEqual([`${picked[0].name} 1/2`, `${picked[1].name} 2/2`]);
  });

  it('turns a throwing kernel into a failed row, not a rejected run', async () => {
    const broken: KernelCase = {
      ...cases[0],
      name: 'broken',
      run: async () => {
        throw new Error('boom');
      },
    };
    const r = await runSelfTestCase(ctx, broken);
    expect(r).toMatchObject({ name: 'broken', ok: false, error: 'boom' });
  });

  // One test per case (not one long run), so a slow adapter stays within each test's timeout.
  for (const c of cases) {
    it(`${c.name} ${c.variant} ${c.dtype} ${c.shape}`, async () => {
      const r = await runSelfTestCase(ctx, c);
      expect(r.error ?? null, r.error).toBeNull();
      expect(r.ok).toBe(true);
      expect(Number.isFinite(r.maxAbsErr)).toBe(true);
      expect(r.ms).toBeGreaterThan(0);
    });
  }
});
