import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runSelfTest, type SelfTestProgress, type SelfTestResult, selfTestCases } from './selftest';
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
  let results: SelfTestResult[] = [];
  const progress: SelfTestProgress[] = [];

  beforeAll(async () => {
    results = await runSelfTest(ctx, (_, p) => progress.push(p));
  });

  it('covers every family, with f16 cases exactly when the adapter has shader-f16', () => {
    expect(results.length).toBe(cases.length);
    expect(cases.some((c) => c.dtype === 'f16')).toBe(ctx.summary.f16);
    for (const family of ['matmul gemm', 'matmul gemv', 'rmsnorm', 'softmax', 'copy'])
      expect(results.map((r) => r.name)).toContain(family);
  });

  it('reports progress once per case, in order', () => {
    expect(progress).toEqual(cases.map((_, i) => ({ done: i + 1, total: cases.length })));
  });

  cases.forEach((c, i) => {
    it(`${c.name} ${c.variant} ${c.dtype} ${c.shape}`, () => {
      const r = results[i];
      expect(r.error ?? null, r.error).toBeNull();
      expect(r.ok).toBe(true);
      expect(Number.isFinite(r.maxAbsErr)).toBe(true);
      expect(r.ms).toBeGreaterThan(0);
    });
  });
});
