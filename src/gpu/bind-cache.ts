/**
 * Caches that make recording a repeated sequence of dispatches (a decode step) allocate nothing:
 * uniform buffers keyed by their bytes, and bind groups keyed by the identities of the pipeline and of
 * every bound buffer. Both are LRU-bounded; eviction happens only in `evict()`, which the context
 * calls right after a submit, when no recorded-but-unsubmitted command can reference an evicted buffer
 * (destroying a buffer that submitted work still uses is valid WebGPU: the free waits for the GPU).
 * A hit only stamps its entry (no map reordering on the hot path); `evict()` sorts by stamp once the
 * size passes capacity and drops the oldest down to `LOW_WATER` of it, so sorting is rare.
 */

/** Fraction of capacity left after an eviction. */
export const LOW_WATER = 0.75;

/** Keys of the least recently used entries to drop so that `LOW_WATER·capacity` remain; none when within capacity. */
function lruVictims<K>(entries: Map<K, { used: number }>, capacity: number): K[] {
  if (entries.size <= capacity) return [];
  const byAge = [...entries].sort((a, b) => a[1].used - b[1].used);
  return byAge.slice(0, entries.size - Math.floor(capacity * LOW_WATER)).map(([k]) => k);
}

export interface Uniforms {
  u32?: readonly number[];
  f32?: readonly number[];
}

/** Uniform structs are padded to 16 bytes (all u32 fields first, then f32 fields). */
export function uniformWords(u: Uniforms): number {
  const n = (u.u32?.length ?? 0) + (u.f32?.length ?? 0);
  return Math.max(4, Math.ceil(n / 4) * 4);
}

const f32Scratch = new Float32Array(1);
const f32Bits = new Uint32Array(f32Scratch.buffer);

/**
 * The exact bytes of the uniform buffer as a string of 32-bit words: u32 values as Uint32Array
 * stores them (ToUint32), f32 values by their bit pattern (so -0 ≠ 0, and rounding to f32 merges
 * values the GPU cannot tell apart). Equal keys ⇔ equal buffer contents and size.
 */
export function uniformKey(u: Uniforms): string {
  let key = '';
  let n = 0;
  if (u.u32)
    for (const v of u.u32) {
      key += `${v >>> 0},`;
      n++;
    }
  if (u.f32)
    for (const v of u.f32) {
      f32Scratch[0] = v;
      key += `${f32Bits[0]},`;
      n++;
    }
  for (const words = uniformWords(u); n < words; n++) key += '0,';
  return key;
}

/** The uniform buffer's bytes. */
export function uniformData(u: Uniforms): ArrayBuffer {
  const nu = u.u32?.length ?? 0;
  const nf = u.f32?.length ?? 0;
  const data = new ArrayBuffer(uniformWords(u) * 4);
  if (nu) new Uint32Array(data, 0, nu).set(u.u32!);
  if (nf) new Float32Array(data, nu * 4, nf).set(u.f32!);
  return data;
}

/** Small integers naming objects by identity; a new object (even at a freed address) gets a new one. */
export class ObjectIds {
  private ids = new WeakMap<object, number>();
  private next = 1;

  id(o: object): number {
    let i = this.ids.get(o);
    if (i === undefined) {
      i = this.next++;
      this.ids.set(o, i);
    }
    return i;
  }

  /** The id if `o` ever got one, without assigning. */
  peek(o: object): number | undefined {
    return this.ids.get(o);
  }
}

/** Persistent uniform buffers, one per distinct content, shared by every dispatch that needs it. */
export class UniformCache {
  private map = new Map<string, { buffer: GPUBuffer; used: number }>();
  private clock = 0;
  created = 0;
  hits = 0;

  constructor(
    private readonly device: GPUDevice,
    readonly capacity = 4096,
    /** Told of every buffer evicted, before it is destroyed. */
    private readonly onEvict?: (b: GPUBuffer) => void,
  ) {}

  get(u: Uniforms): GPUBuffer {
    const key = uniformKey(u);
    const hit = this.map.get(key);
    if (hit) {
      this.hits++;
      hit.used = this.clock++;
      return hit.buffer;
    }
    const data = uniformData(u);
    const b = this.device.createBuffer({
      size: data.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'uniforms',
    });
    // A new buffer is referenced by no recorded command yet, so the queue write cannot be early.
    this.device.queue.writeBuffer(b, 0, data);
    this.created++;
    this.map.set(key, { buffer: b, used: this.clock++ });
    return b;
  }

  /** Above capacity: drops and destroys the least recently used buffers. Only call when nothing recorded is unsubmitted. */
  evict(): number {
    const victims = lruVictims(this.map, this.capacity);
    for (const key of victims) {
      const b = this.map.get(key)!.buffer;
      this.map.delete(key);
      this.onEvict?.(b);
      b.destroy();
    }
    return victims.length;
  }

  /** Whether a buffer with exactly these contents is cached (tests). */
  has(u: Uniforms): boolean {
    return this.map.has(uniformKey(u));
  }

  get size(): number {
    return this.map.size;
  }

  /** Destroys every buffer (the device's end, or a test). */
  clear(): void {
    for (const { buffer } of this.map.values()) {
      this.onEvict?.(buffer);
      buffer.destroy();
    }
    this.map.clear();
  }
}

interface BindEntry {
  group: GPUBindGroup;
  /** Ids of the bound buffers, to unlink the entry from `byBuffer` when it goes. */
  buffers: number[];
  used: number;
}

/** Bind groups keyed by (pipeline, bound buffers in binding order); the uniform buffer is one of them. */
export class BindGroupCache {
  private readonly ids = new ObjectIds();
  private map = new Map<string, BindEntry>();
  private clock = 0;
  /** Buffer id → keys of the entries binding it, so a destroyed buffer's entries can go at once. */
  private byBuffer = new Map<number, Set<string>>();
  created = 0;
  hits = 0;

  constructor(
    private readonly device: GPUDevice,
    readonly capacity = 4096,
  ) {}

  /** The bind group of `pipeline` (layout 'auto', group 0) with `buffers` at bindings 0..n-1. */
  get(pipeline: GPUComputePipeline, buffers: readonly GPUBuffer[]): GPUBindGroup {
    let key = `${this.ids.id(pipeline)}`;
    for (const b of buffers) key += `,${this.ids.id(b)}`;
    const hit = this.map.get(key);
    if (hit) {
      this.hits++;
      hit.used = this.clock++;
      return hit.group;
    }
    const group = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    this.created++;
    const ids = buffers.map((b) => this.ids.id(b));
    this.map.set(key, { group, buffers: ids, used: this.clock++ });
    for (const id of ids) {
      const keys = this.byBuffer.get(id);
      if (keys) keys.add(key);
      else this.byBuffer.set(id, new Set([key]));
    }
    return group;
  }

  /** Forgets every bind group that binds `buffer` (call when it is destroyed). */
  forget(buffer: GPUBuffer): void {
    const id = this.ids.peek(buffer);
    if (id === undefined) return;
    const keys = this.byBuffer.get(id);
    if (!keys) return;
    for (const key of [...keys]) this.drop(key);
  }

  /** Above capacity: drops the least recently used entries. */
  evict(): number {
    const victims = lruVictims(this.map, this.capacity);
    for (const key of victims) this.drop(key);
    return victims.length;
  }

  private drop(key: string): void {
    const e = this.map.get(key);
    if (!e) return;
    this.map.delete(key);
    for (const id of e.buffers) {
      const keys = this.byBuffer.get(id);
      keys?.delete(key);
      if (keys?.size === 0) this.byBuffer.delete(id);
    }
  }

  get size(): number {
    return this.map.size;
  }

  /** Entries that still reference `buffer` (tests). */
  countFor(buffer: GPUBuffer): number {
    const id = this.ids.peek(buffer);
    return id === undefined ? 0 : (this.byBuffer.get(id)?.size ?? 0);
  }

  clear(): void {
    this.map.clear();
    this.byBuffer.clear();
  }
}
