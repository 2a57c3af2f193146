/**
 * Caches that make recording a repeated sequence of dispatches (a decode step) allocate nothing:
 * - `UniformSites`: per (pipeline, storage buffers) a bind group with its own uniform buffer, rewritten
 *   in place when that dispatch's uniforms change between submits (kv-write start, attention length);
 * - `UniformCache` + `BindGroupCache`: uniform buffers keyed by their bytes (immutable, shared) and bind
 *   groups keyed by the identities of the pipeline and every bound buffer, for a site dispatched again
 *   with other uniforms before a submit.
 * All are LRU-bounded; eviction happens only right after a submit, when no recorded-but-unsubmitted
 * command can reference an evicted buffer (destroying a buffer that submitted work still uses is
 * valid WebGPU: the free waits for the GPU). A hit only stamps its entry (no map reordering on the
 * hot path); eviction sorts by stamp once the size passes capacity and drops the oldest down to
 * `LOW_WATER` of it, so sorting is rare. Buffer identities come from a WeakMap counter, so a buffer
 * destroyed and replaced never matches an old entry; `forget` drops a destroyed buffer's entries.
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

/** A uniform buffer holding `u`. It is new, so no recorded command uses it: the queue write cannot land early. */
function createUniformBuffer(device: GPUDevice, u: Uniforms, label: string): GPUBuffer {
  const data = uniformData(u);
  const b = device.createBuffer({
    size: data.byteLength,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    label,
  });
  device.queue.writeBuffer(b, 0, data);
  return b;
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

  get(u: Uniforms, key = uniformKey(u)): GPUBuffer {
    const hit = this.map.get(key);
    if (hit) {
      this.hits++;
      hit.used = this.clock++;
      return hit.buffer;
    }
    const b = createUniformBuffer(this.device, u, 'uniforms');
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

interface Entry<V> {
  value: V;
  /** Ids of the buffers the key names, to unlink the entry from `byBuffer` when it goes. */
  buffers: number[];
  used: number;
}

/**
 * Values keyed by (pipeline, buffers in order) by identity, stamp-LRU, with an index from each
 * buffer to the entries naming it so a destroyed buffer's entries can all go at once.
 */
class IdentityLru<V> {
  private readonly ids = new ObjectIds();
  private map = new Map<string, Entry<V>>();
  private byBuffer = new Map<number, Set<string>>();
  private clock = 0;

  constructor(
    readonly capacity: number,
    private readonly onDrop?: (v: V) => void,
  ) {}

  key(pipeline: GPUComputePipeline, buffers: readonly GPUBuffer[]): string {
    let key = `${this.ids.id(pipeline)}`;
    for (const b of buffers) key += `,${this.ids.id(b)}`;
    return key;
  }

  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    e.used = this.clock++;
    return e.value;
  }

  set(key: string, buffers: readonly GPUBuffer[], value: V): void {
    this.drop(key);
    const ids = buffers.map((b) => this.ids.id(b));
    this.map.set(key, { value, buffers: ids, used: this.clock++ });
    for (const id of ids) {
      const keys = this.byBuffer.get(id);
      if (keys) keys.add(key);
      else this.byBuffer.set(id, new Set([key]));
    }
  }

  forget(buffer: GPUBuffer): void {
    const id = this.ids.peek(buffer);
    const keys = id === undefined ? undefined : this.byBuffer.get(id);
    if (keys) for (const key of [...keys]) this.drop(key);
  }

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
    this.onDrop?.(e.value);
  }

  get size(): number {
    return this.map.size;
  }

  countFor(buffer: GPUBuffer): number {
    const id = this.ids.peek(buffer);
    return id === undefined ? 0 : (this.byBuffer.get(id)?.size ?? 0);
  }

  clear(): void {
    for (const key of [...this.map.keys()]) this.drop(key);
  }
}

function createGroup(device: GPUDevice, pipeline: GPUComputePipeline, buffers: readonly GPUBuffer[]) {
  return device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
}

/** Bind groups keyed by (pipeline, bound buffers in binding order); the uniform buffer is one of them. */
export class BindGroupCache {
  private readonly lru: IdentityLru<GPUBindGroup>;
  created = 0;
  hits = 0;

  constructor(
    private readonly device: GPUDevice,
    readonly capacity = 4096,
  ) {
    this.lru = new IdentityLru(capacity);
  }

  /** The bind group of `pipeline` (layout 'auto', group 0) with `buffers` at bindings 0..n-1. */
  get(pipeline: GPUComputePipeline, buffers: readonly GPUBuffer[]): GPUBindGroup {
    const key = this.lru.key(pipeline, buffers);
    const hit = this.lru.get(key);
    if (hit) {
      this.hits++;
      return hit;
    }
    const group = createGroup(this.device, pipeline, buffers);
    this.created++;
    this.lru.set(key, buffers, group);
    return group;
  }

  /** Forgets every bind group that binds `buffer` (call when it is destroyed). */
  forget(buffer: GPUBuffer): void {
    this.lru.forget(buffer);
  }

  /** Above capacity: drops the least recently used entries. */
  evict(): number {
    return this.lru.evict();
  }

  get size(): number {
    return this.lru.size;
  }

  /** Entries that still reference `buffer` (tests). */
  countFor(buffer: GPUBuffer): number {
    return this.lru.countFor(buffer);
  }

  clear(): void {
    this.lru.clear();
  }
}

interface Site {
  group: GPUBindGroup;
  /** Bound only through `group`, so it can be rewritten when no pending command reads it. */
  uniform: GPUBuffer;
  content: string;
  /** The recording (submit count) that last used it. */
  epoch: number;
}

/**
 * One bind group per (pipeline, storage buffers) "site" with its own uniform buffer, rewritten in
 * place (queue.writeBuffer) when the site's uniforms change between submits: a decode step's
 * kv-write start and attention length change every step, and would otherwise cost a new bind group
 * per layer per step. A write lands after all submitted work and before the pending recording, so
 * it is only done when the pending recording has not used the site (else `get` returns null and the
 * caller uses the content-keyed caches).
 */
export class UniformSites {
  private readonly lru: IdentityLru<Site>;
  /** Uniform buffers of dropped sites, destroyed at the next submit (pending commands may use them). */
  private retired: GPUBuffer[] = [];
  private epoch = 0;
  created = 0;
  rewrites = 0;
  hits = 0;

  constructor(
    private readonly device: GPUDevice,
    readonly capacity = 4096,
  ) {
    this.lru = new IdentityLru(capacity, (s) => this.retired.push(s.uniform));
  }

  /** The site's bind group with uniforms `u` (content key `ukey`), or null when that would disturb pending commands. */
  get(
    pipeline: GPUComputePipeline,
    storage: readonly GPUBuffer[],
    u: Uniforms,
    ukey: string,
  ): GPUBindGroup | null {
    const key = this.lru.key(pipeline, storage);
    const site = this.lru.get(key);
    if (site) {
      if (site.content === ukey) {
        this.hits++;
        site.epoch = this.epoch;
        return site.group;
      }
      if (site.epoch === this.epoch || site.uniform.size !== uniformWords(u) * 4) return null;
      this.device.queue.writeBuffer(site.uniform, 0, uniformData(u));
      site.content = ukey;
      site.epoch = this.epoch;
      this.rewrites++;
      return site.group;
    }
    const uniform = createUniformBuffer(this.device, u, 'uniforms (site)');
    const group = createGroup(this.device, pipeline, [...storage, uniform]);
    this.created++;
    this.lru.set(key, storage, { group, uniform, content: ukey, epoch: this.epoch });
    return group;
  }

  /** Everything recorded was submitted: a new recording starts; evict above capacity. */
  submitted(): void {
    this.epoch++;
    this.lru.evict();
    for (const b of this.retired) b.destroy();
    this.retired = [];
  }

  /** Drops the sites binding `buffer` (call when it is destroyed). */
  forget(buffer: GPUBuffer): void {
    this.lru.forget(buffer);
  }

  get size(): number {
    return this.lru.size;
  }

  /** Destroys everything; only when nothing recorded is pending. */
  clear(): void {
    this.lru.clear();
    for (const b of this.retired) b.destroy();
    this.retired = [];
  }
}
