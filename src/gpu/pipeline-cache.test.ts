/** Pipeline cache keys (on a fake device) and the shader memo. */
import { afterEach, describe, expect, it } from 'vitest';
import { clearShaderMemo, memoShader, PipelineCache, shaderMemo, shaderMemoSize } from './pipeline-cache';

function fakeDevice() {
  const modules: string[] = [];
  const pipelines: GPUComputePipelineDescriptor[] = [];
  const device = {
    createShaderModule(d: GPUShaderModuleDescriptor) {
      modules.push(d.code);
      return { code: d.code };
    },
    createComputePipeline(d: GPUComputePipelineDescriptor) {
      pipelines.push(d);
      return { id: pipelines.length };
    },
  };
  return { device: device as unknown as GPUDevice, modules, pipelines };
}

describe('PipelineCache', () => {
  it('compiles each (source, entry point, constants) once', () => {
    const { device, pipelines } = fakeDevice();
    const cache = new PipelineCache(device);
    const code = 'fn a() {} fn b() {}';
    const a = cache.get(code, 'a');
    expect(cache.get(code, 'a')).toBe(a);
    // Equal content in another string object hits too.
    expect(cache.get(['fn a() {}', 'fn b() {}'].join(' '), 'a')).toBe(a);
    // No constants and empty constants are the same pipeline.
    expect(cache.get(code, 'a', {})).toBe(a);
    const b = cache.get(code, 'b');
    expect(b).not.toBe(a);
    const c1 = cache.get(code, 'a', { N: 1 });
    const c2 = cache.get(code, 'a', { N: 2 });
    expect(c1).not.toBe(a);
    expect(c2).not.toBe(c1);
    expect(cache.get(code, 'a', { N: 1 })).toBe(c1);
    const other = cache.get(`${code} `, 'a');
    expect(other).not.toBe(a);
    expect(pipelines.length).toBe(5);
    expect(cache.size).toBe(5);
  });

  it('passes entry point and constants to the device', () => {
    const { device, pipelines, modules } = fakeDevice();
    const cache = new PipelineCache(device);
    cache.get('src', 'main', { K: 3 });
    cache.get('src', 'main');
    expect(modules).toEqual(['src', 'src']);
    expect(pipelines.map((p) => [p.compute.entryPoint, p.compute.constants, p.layout])).toEqual([
      ['main', { K: 3 }, 'auto'],
      ['main', {}, 'auto'],
    ]);
  });
});

describe('memoShader', () => {
  afterEach(() => {
    clearShaderMemo();
    shaderMemo.verify = false;
    shaderMemo.capacity = 1024;
  });

  it('builds once per key and returns the same string object', () => {
    let builds = 0;
    const build = () => {
      builds++;
      return `fn f() { let x = ${[1, 2, 3].join(' + ')}; }`;
    };
    const a = memoShader('t|1', build);
    const b = memoShader('t|1', build);
    expect(b).toBe(a);
    expect(builds).toBe(1);
    memoShader('t|2', build);
    expect(builds).toBe(2);
    expect(shaderMemoSize()).toBe(2);
  });

  it('the memoized object hits the pipeline cache', () => {
    const { device, pipelines } = fakeDevice();
    const cache = new PipelineCache(device);
    const src = () => memoShader('k', () => `${'x'.repeat(10000)} fn main() {}`);
    const p = cache.get(src(), 'main');
    for (let i = 0; i < 10; i++) expect(cache.get(src(), 'main')).toBe(p);
    expect(pipelines.length).toBe(1);
  });

  it('verify mode catches a key that misses a parameter', () => {
    shaderMemo.verify = true;
    memoShader('v', () => 'one');
    expect(memoShader('v', () => 'one')).toBe('one');
    expect(() => memoShader('v', () => 'two')).toThrow(/two different sources/);
  });

  it('stays bounded', () => {
    shaderMemo.capacity = 4;
    for (let i = 0; i < 10; i++) memoShader(`c|${i}`, () => `src ${i}`);
    expect(shaderMemoSize()).toBeLessThanOrEqual(4);
    expect(memoShader('c|9', () => 'src 9')).toBe('src 9');
  });
});
