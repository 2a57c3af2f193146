/** Compiles each (WGSL source, entry point, constants) once. */
export class PipelineCache {
  private cache = new Map<string, GPUComputePipeline>();
  constructor(private readonly device: GPUDevice) {}

  get(
    code: string,
    entryPoint: string,
    constants: Record<string, number> = {},
    label = entryPoint,
  ): GPUComputePipeline {
    const key = `${entryPoint}\u0000${JSON.stringify(constants)}\u0000${code}`;
    let p = this.cache.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code, label });
      p = this.device.createComputePipeline({
        label,
        layout: 'auto',
        compute: { module, entryPoint, constants },
      });
      this.cache.set(key, p);
    }
    return p;
  }

  get size(): number {
    return this.cache.size;
  }
}
