import { BindGroupCache, UniformCache, UniformSites, type Uniforms, uniformKey } from './bind-cache';
import { type BufferLedger, bufferLedger, type GpuMemory } from './buffer-ledger';
import { BufferPool } from './buffer-pool';
import type { AdapterSummary } from './device';
import { f16BitsToF32, toF16Array } from './f16';
import { PipelineCache } from './pipeline-cache';
import type { Profiler } from './profiler';
import { alignBytes, BYTES, type DType, fmt, numel, Tensor } from './tensor';

/** Kernel variant families: 'flat' avoids workgroup barriers (software adapters), 'tiled' uses shared memory. */
export type Variant = 'flat' | 'tiled';

export type { Uniforms } from './bind-cache';

export interface Dispatch {
  pipeline: GPUComputePipeline;
  /** Storage bindings 0..n-1 in order; the uniform buffer, when given, is binding n. */
  bindings: readonly (Tensor | GPUBuffer)[];
  uniforms?: Uniforms;
  workgroups: readonly [number, number?, number?];
  label?: string;
}

/** Running totals of what recording cost; benchmarks diff them around a step. */
export interface GpuStats {
  /** Dispatches recorded (zero-sized ones are skipped and not counted). */
  dispatches: number;
  bindGroupsCreated: number;
  uniformBuffersCreated: number;
  /** Uniform buffers rewritten in place (a dispatch site whose uniforms changed since its last submit). */
  uniformRewrites: number;
  /** Readback (MAP_READ) buffers created; small ones are reused, uploads need none (queue writes). */
  stagingBuffersCreated: number;
  submits: number;
}

/** Readback buffers up to this size are kept for reuse (a decode step reads back one id). */
const READBACK_KEEP_BYTES = 64 * 1024;
const READBACK_KEEP_COUNT = 16;

/**
 * Everything a kernel needs to run: device, pipeline cache, buffer pool, the current command
 * encoder, and which variant suits this adapter. Kernels record into one encoder; `flush` submits.
 * Recording a repeated step creates nothing once warm: bind groups and uniform buffers are cached
 * (bind-cache.ts), uploads are queue writes into buffers no pending command uses, readback buffers
 * are reused; `stats` counts what was created.
 */
export class GpuContext {
  readonly cache: PipelineCache;
  readonly pool: BufferPool;
  variant: Variant;
  profiler: Profiler | null = null;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** Bind groups and uniform buffers reused across steps (see bind-cache.ts). */
  private readonly uniforms: UniformCache;
  private readonly bindGroups: BindGroupCache;
  private readonly sites: UniformSites;
  /** Open `tidy` scopes, innermost last: the buffers each made and still owns. */
  private scopes: Set<GPUBuffer>[] = [];
  /** Idle MAP_READ buffers by size, so a per-step readback allocates nothing. */
  private readbackFree = new Map<number, GPUBuffer[]>();
  private readbackKept = 0;
  /** Every buffer on the device, counted from creation to destroy() (buffer-ledger.ts). */
  private readonly ledger: BufferLedger;
  readonly stats: GpuStats = {
    dispatches: 0,
    bindGroupsCreated: 0,
    uniformBuffersCreated: 0,
    uniformRewrites: 0,
    stagingBuffersCreated: 0,
    submits: 0,
  };

  constructor(
    readonly device: GPUDevice,
    readonly summary: AdapterSummary,
    /** Entries each of the uniform-buffer and bind-group caches keeps (tests use small ones). */
    cacheCapacity = 4096,
  ) {
    // First, so the pool's, caches' and readback buffers are all counted.
    this.ledger = bufferLedger(device);
    this.cache = new PipelineCache(device);
    this.pool = new BufferPool(device);
    this.bindGroups = new BindGroupCache(device, cacheCapacity);
    this.uniforms = new UniformCache(device, cacheCapacity, (b) => this.bindGroups.forget(b));
    this.sites = new UniformSites(device, cacheCapacity);
    this.pool.onDestroy = (b) => {
      this.bindGroups.forget(b);
      this.sites.forget(b);
    };
    this.variant = summary.isSoftware ? 'flat' : 'tiled';
  }

  /** Entries held by the uniform-buffer and bind-group caches. */
  get cacheSizes(): { uniformBuffers: number; bindGroups: number; sites: number } {
    return { uniformBuffers: this.uniforms.size, bindGroups: this.bindGroups.size, sites: this.sites.size };
  }

  /** Live GPU buffers on this device and their bytes: all of them, pooled-free ones included. */
  get memory(): GpuMemory {
    return { bytes: this.ledger.bytes, buffers: this.ledger.buffers };
  }

  /** The activation dtype this adapter runs: f16 when shader-f16 is present. */
  get actDtype(): DType {
    return this.summary.f16 ? 'f16' : 'f32';
  }

  get maxWorkgroupsPerDim(): number {
    return this.summary.limits.maxComputeWorkgroupsPerDimension;
  }

  pipeline(code: string, entryPoint: string, constants?: Record<string, number>): GPUComputePipeline {
    return this.cache.get(code, entryPoint, constants);
  }

  // ---- tensors -------------------------------------------------------------------------------

  /** A new tensor (contents undefined), owned by the innermost open `tidy` if any, else the caller. */
  empty(shape: readonly number[], dtype: DType, label?: string): Tensor {
    return this.track(
      new Tensor(this.pool.acquire(alignBytes(numel(shape) * BYTES[dtype]), label), shape, dtype),
    );
  }

  /**
   * Uploads host data; a Float32Array uploaded as 'f16' is rounded to f16 on the way. Owned like
   * `empty`'s tensors.
   */
  upload(data: Float32Array | Uint16Array | Uint32Array, shape: readonly number[], dtype: DType): Tensor {
    if (data.length !== numel(shape))
      throw new Error(`upload: ${data.length} values for shape ${fmt(shape)}`);
    let bytes: ArrayBufferView;
    if (dtype === 'f16') bytes = data instanceof Uint16Array ? data : toF16Array(data);
    else if (dtype === 'f32') bytes = data instanceof Float32Array ? data : new Float32Array(data);
    else bytes = data instanceof Uint32Array ? data : new Uint32Array(data);
    // queue.writeBuffer lands before commands recorded but not yet submitted; with such commands
    // pending, the pool hands out a buffer none of them can reference (not released since the last
    // submit), so the upload needs neither a staging buffer nor a copy in the command stream.
    const t = new Tensor(
      this.pool.acquire(alignBytes(numel(shape) * BYTES[dtype]), undefined, this.encoder !== null),
      shape,
      dtype,
    );
    this.writeBytes(t.buffer, bytes);
    return this.track(t);
  }

  /** Writes host bytes into a buffer no pending command references. */
  private writeBytes(buffer: GPUBuffer, bytes: ArrayBufferView): void {
    const size = Math.ceil(bytes.byteLength / 4) * 4; // copies and writes need multiples of 4
    if (size === bytes.byteLength) {
      this.device.queue.writeBuffer(buffer, 0, bytes.buffer, bytes.byteOffset, size);
      return;
    }
    const padded = new Uint8Array(size);
    padded.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.device.queue.writeBuffer(buffer, 0, padded);
  }

  /** Reads a tensor back as f32 (f16 widened). Flushes pending work first. */
  async read(t: Tensor): Promise<Float32Array> {
    const raw = await this.readRaw(t);
    if (t.dtype === 'f32') return new Float32Array(raw, 0, t.size);
    if (t.dtype === 'f16') {
      const h = new Uint16Array(raw, 0, t.size);
      const out = new Float32Array(t.size);
      for (let i = 0; i < t.size; i++) out[i] = f16BitsToF32(h[i]);
      return out;
    }
    return Float32Array.from(new Uint32Array(raw, 0, t.size));
  }

  async readU32(t: Tensor): Promise<Uint32Array> {
    return new Uint32Array(await this.readRaw(t), 0, Math.ceil(t.byteLength / 4));
  }

  private async readRaw(t: Tensor): Promise<ArrayBuffer> {
    const size = alignBytes(t.byteLength);
    const staging = this.takeReadback(size);
    const enc = this.takeEncoder();
    enc.copyBufferToBuffer(t.buffer, 0, staging, 0, size);
    this.submit(enc);
    await staging.mapAsync(GPUMapMode.READ);
    const copy = staging.getMappedRange().slice(0);
    staging.unmap();
    this.giveReadback(staging);
    return copy;
  }

  private takeReadback(size: number): GPUBuffer {
    const kept = this.readbackFree.get(size)?.pop();
    if (kept) {
      this.readbackKept--;
      return kept;
    }
    this.stats.stagingBuffersCreated++;
    return this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  private giveReadback(b: GPUBuffer): void {
    if (b.size > READBACK_KEEP_BYTES || this.readbackKept >= READBACK_KEEP_COUNT) {
      b.destroy();
      return;
    }
    const list = this.readbackFree.get(b.size) ?? [];
    list.push(b);
    this.readbackFree.set(b.size, list);
    this.readbackKept++;
  }

  /** Records a buffer-to-buffer copy (slices, concatenation) in order with the dispatches around it. */
  copyRegion(
    src: Tensor | GPUBuffer,
    srcByte: number,
    dst: Tensor | GPUBuffer,
    dstByte: number,
    bytes: number,
  ): void {
    if ((srcByte | dstByte | bytes) % 4)
      throw new Error(
        `copyRegion: offsets and size must be multiples of 4 (${srcByte}, ${dstByte}, ${bytes})`,
      );
    if (bytes === 0) return;
    this.endPass();
    this.encoder ??= this.device.createCommandEncoder();
    const s = src instanceof Tensor ? src.buffer : src;
    const d = dst instanceof Tensor ? dst.buffer : dst;
    this.encoder.copyBufferToBuffer(s, srcByte, d, dstByte, bytes);
  }

  /**
   * Returns tensors' buffers to the pool now. Allowed inside a `tidy` (to free memory early); the scope
   * then does not release them again. A view shares its tensor's buffer: release one of them once.
   */
  release(...ts: Tensor[]): void {
    for (const t of ts) {
      this.untrack(t.buffer);
      this.pool.release(t.buffer);
    }
  }

  // ---- scopes --------------------------------------------------------------------------------

  /**
   * Runs `fn` as a scope (tfjs's tidy): every tensor `empty` or `upload` makes inside it, kernels'
   * outputs included, is released when it ends — normally or by a throw — except the tensors in what
   * `fn` returns (a Tensor, or arrays / plain objects holding Tensors, nested) and those passed to
   * `keep`. Returned tensors move to the enclosing scope, or to the caller outside any scope.
   *
   *     const logits = ctx.tidy(() => lmHead(norm(forward(embed(ids))))); // intermediates released
   *
   * Ownership is by buffer, so a view returned or kept keeps its buffer, and one released early is not
   * released again. Tensors made outside every scope are the caller's, as without scopes; tensors of
   * an outer scope used or returned inside stay the outer scope's. `fn` must be synchronous (recording
   * is; await readbacks outside): a returned Promise throws, as would an `await` inside, which would
   * let other code's tensors land in this scope.
   *
   * Release order does not matter for reuse: the pool hands out the oldest free buffer of a size, so
   * a repeated step gets the same buffers (and cached bind groups) either way.
   */
  tidy<R>(fn: () => R): R {
    const own = new Set<GPUBuffer>();
    this.scopes.push(own);
    try {
      const result = fn();
      if (isThenable(result))
        throw new Error('tidy: the function returned a Promise; scopes are synchronous (await outside)');
      const parent = this.scopes.length > 1 ? this.scopes[this.scopes.length - 2] : null;
      forEachTensor(result, (t) => {
        if (own.delete(t.buffer)) parent?.add(t.buffer);
        else if (this.pool.isFree(t.buffer)) throw new Error('tidy: returned a released tensor');
      });
      return result;
    } finally {
      this.scopes.pop();
      for (const b of own) this.pool.release(b);
    }
  }

  /**
   * Lets tensors outlive every open scope (a KV cache, a cached table, an output kept across calls):
   * the caller owns them as if made outside any scope. Takes what `tidy` may return; returns it.
   */
  keep<R>(tensors: R): R {
    forEachTensor(tensors, (t) => this.untrack(t.buffer));
    return tensors;
  }

  /** Open scopes: how deep `tidy` calls are nested here (0 outside any). */
  get scopeDepth(): number {
    return this.scopes.length;
  }

  private track(t: Tensor): Tensor {
    if (this.scopes.length) this.scopes[this.scopes.length - 1].add(t.buffer);
    return t;
  }

  private untrack(b: GPUBuffer): void {
    for (let i = this.scopes.length - 1; i >= 0; i--) if (this.scopes[i].delete(b)) return;
  }

  // ---- recording -----------------------------------------------------------------------------

  dispatch(d: Dispatch): void {
    const [x, y = 1, z = 1] = d.workgroups;
    const lim = this.maxWorkgroupsPerDim;
    if (x > lim || y > lim || z > lim)
      throw new Error(`${d.label ?? 'dispatch'}: ${x}×${y}×${z} workgroups exceeds ${lim}`);
    if (x === 0 || y === 0 || z === 0) return;
    const buffers = d.bindings.map((b) => (b instanceof Tensor ? b.buffer : b));
    let bindGroup: GPUBindGroup | null = null;
    if (d.uniforms) {
      // The site's own bind group, its uniforms rewritten if they changed; when the pending recording
      // already used the site with other uniforms, a content-keyed (immutable, shared) uniform buffer.
      const key = uniformKey(d.uniforms);
      bindGroup = this.sites.get(d.pipeline, buffers, d.uniforms, key);
      if (!bindGroup) buffers.push(this.uniforms.get(d.uniforms, key));
    }
    bindGroup ??= this.bindGroups.get(d.pipeline, buffers);
    const st = this.stats;
    st.dispatches++;
    st.bindGroupsCreated = this.bindGroups.created + this.sites.created;
    st.uniformBuffersCreated = this.uniforms.created + this.sites.created;
    st.uniformRewrites = this.sites.rewrites;
    const pass = this.currentPass(d.label);
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (this.profiler) this.endPass();
  }

  private takeEncoder(): GPUCommandEncoder {
    this.endPass();
    const enc = this.encoder ?? this.device.createCommandEncoder();
    this.encoder = null;
    return enc;
  }

  private currentPass(label?: string): GPUComputePassEncoder {
    if (this.pass) return this.pass;
    this.encoder ??= this.device.createCommandEncoder();
    const timestampWrites = this.profiler?.next(label ?? 'kernel');
    this.pass = this.encoder.beginComputePass(timestampWrites ? { timestampWrites, label } : { label });
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  private submit(enc: GPUCommandEncoder): void {
    this.device.queue.submit([enc.finish()]);
    this.stats.submits++;
    this.pool.submitted();
    // Nothing is recorded-but-unsubmitted now: the only moment evicted uniform buffers may be destroyed.
    this.uniforms.evict();
    this.bindGroups.evict();
    this.sites.submitted();
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (this.encoder || this.pass) this.submit(this.takeEncoder());
  }

  /** Submits and waits for the GPU to finish. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  /** Resolves profiler queries recorded since the last call. */
  async collectProfile(): Promise<void> {
    if (!this.profiler) return;
    await this.profiler.collect(this.takeEncoder());
  }

  destroy(): void {
    this.flush();
    this.pool.trim();
    this.uniforms.clear();
    this.bindGroups.clear();
    this.sites.clear();
    for (const list of this.readbackFree.values()) for (const b of list) b.destroy();
    this.readbackFree.clear();
    this.readbackKept = 0;
    this.profiler?.destroy();
  }
}

const isThenable = (x: unknown): boolean =>
  typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function';

/** Calls `f` on every Tensor in `x`: a Tensor, or arrays and plain objects holding them (nested). */
function forEachTensor(x: unknown, f: (t: Tensor) => void): void {
  if (x instanceof Tensor) f(x);
  else if (Array.isArray(x)) for (const v of x) forEachTensor(v, f);
  else if (typeof x === 'object' && x !== null) {
    const proto = Object.getPrototypeOf(x);
    if (proto === Object.prototype || proto === null) for (const v of Object.values(x)) forEachTensor(v, f);
  }
}

/** WGSL header declaring type aliases, e.g. `{ T: 'f16', W: 'f32' }`; enables f16 when any is f16. */
export function wgslTypes(aliases: Record<string, DType>): string {
  const lines = Object.entries(aliases).map(([name, d]) => {
    if (d === 'u32') throw new Error(`no WGSL float alias for ${d}`);
    return `alias ${name} = ${d};`;
  });
  const f16 = Object.values(aliases).includes('f16');
  return `${f16 ? 'enable f16;\n' : ''}${lines.join('\n')}\n`;
}

/** Splits a workgroup count into x·y ≤ limit per dimension; kernels rebuild the linear id. */
export function grid(workgroups: number, limit = 65535): [number, number] {
  if (workgroups <= limit) return [workgroups, 1];
  const y = Math.ceil(workgroups / limit);
  return [Math.ceil(workgroups / y), y];
}
