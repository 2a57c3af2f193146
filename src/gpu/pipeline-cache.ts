/**
 * Compiles each (WGSL source, entry point, constants) once, and makes the repeat lookup of a decode
 * step cheap. A decode step asks for every pipeline anew (WebGPU has no compute bundles); keying on
 * one string built from the whole source copied and hashed kilobytes per dispatch. Here the source is
 * the key of an outer map by itself: a source string that is the same object as last time (see
 * `memoShader`) hits with its cached hash and a pointer compare. The inner key is the entry point,
 * plus the constants only when there are any.
 */
export class PipelineCache {
  private cache = new Map<string, Map<string, GPUComputePipeline>>();
  private count = 0;
  constructor(private readonly device: GPUDevice) {}

  get(
    code: string,
    entryPoint: string,
    constants?: Record<string, number>,
    label = entryPoint,
  ): GPUComputePipeline {
    let byEntry = this.cache.get(code);
    if (!byEntry) {
      byEntry = new Map();
      this.cache.set(code, byEntry);
    }
    const key = constantsKey(entryPoint, constants);
    let p = byEntry.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code, label });
      p = this.device.createComputePipeline({
        label,
        layout: 'auto',
        compute: { module, entryPoint, constants: constants ?? {} },
      });
      byEntry.set(key, p);
      this.count++;
    }
    return p;
  }

  get size(): number {
    return this.count;
  }
}

/** The entry point alone, or with the constants (JSON: names and values) when there are any. */
function constantsKey(entryPoint: string, constants: Record<string, number> | undefined): string {
  if (!constants) return entryPoint;
  for (const _ in constants) return `${entryPoint}\u0000${JSON.stringify(constants)}`;
  return entryPoint;
}

/**
 * Generated WGSL by a short key naming everything the source depends on, so a kernel called every
 * decode step neither rebuilds its source (template literals, unrolled loops) nor hands the pipeline
 * cache a new string object to hash. The key must determine the source: include every parameter of
 * the builder (objects via JSON.stringify, which keeps field names). Sources are device-independent,
 * so the memo is per module; it is bounded by clearing when full (distinct kernels are few).
 */
export const shaderMemo = {
  /** Entries kept before the memo is cleared. */
  capacity: 1024,
  /** Tests: rebuild on every hit and throw when the source differs (a key missing a parameter). */
  verify: false,
  hits: 0,
  builds: 0,
};

const memo = new Map<string, string>();

export function memoShader(key: string, build: () => string): string {
  const hit = memo.get(key);
  if (hit !== undefined) {
    shaderMemo.hits++;
    if (shaderMemo.verify && build() !== hit)
      throw new Error(`memoShader: key '${key}' maps to two different sources`);
    return hit;
  }
  const code = build();
  shaderMemo.builds++;
  if (memo.size >= shaderMemo.capacity) memo.clear();
  memo.set(key, code);
  return code;
}

/** Drops every memoized source (tests). */
export function clearShaderMemo(): void {
  memo.clear();
}

/** Memoized sources held (tests). */
export function shaderMemoSize(): number {
  return memo.size;
}
