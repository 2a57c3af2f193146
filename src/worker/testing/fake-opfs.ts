/**
 * An in-memory stand-in for OPFS (the part of FileSystemDirectoryHandle / FileSystemFileHandle the
 * model cache uses) and navigator.storage, for tests in Node: a byte budget makes writes fail with
 * QuotaExceededError as a full origin does; a file written through createWritable appears only on close.
 */
import type { StorageLike } from '../model-cache';

export interface Budget {
  /** Bytes the origin may hold. */
  quota: number;
}

class FakeFile {
  readonly kind = 'file';
  data = new Uint8Array(0);
  constructor(
    readonly name: string,
    private readonly root: FakeDir,
    private readonly budget: Budget,
  ) {}
  async getFile(): Promise<File> {
    return new File([this.data], this.name);
  }
  async createWritable() {
    const parts: Uint8Array[] = [];
    let size = 0;
    return {
      write: async (b: Uint8Array) => {
        if (this.root.bytes() + size + b.byteLength > this.budget.quota)
          throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
        parts.push(b.slice());
        size += b.byteLength;
      },
      close: async () => {
        const out = new Uint8Array(size);
        let at = 0;
        for (const p of parts) {
          out.set(p, at);
          at += p.byteLength;
        }
        this.data = out;
      },
      abort: async () => {
        parts.length = 0;
      },
    };
  }
}

export class FakeDir {
  readonly kind = 'directory';
  readonly children = new Map<string, FakeFile | FakeDir>();
  constructor(
    readonly name: string,
    private readonly budget: Budget,
    private readonly top?: FakeDir,
  ) {}
  private get root(): FakeDir {
    return this.top ?? this;
  }
  bytes(): number {
    let n = 0;
    for (const c of this.children.values()) n += c instanceof FakeDir ? c.bytes() : c.data.byteLength;
    return n;
  }
  async getDirectoryHandle(name: string, opts: { create?: boolean } = {}) {
    let c = this.children.get(name);
    if (!c && opts.create) {
      c = new FakeDir(name, this.budget, this.root);
      this.children.set(name, c);
    }
    if (!(c instanceof FakeDir)) throw new DOMException(`no directory ${name}`, 'NotFoundError');
    return c;
  }
  async getFileHandle(name: string, opts: { create?: boolean } = {}) {
    let c = this.children.get(name);
    if (!c && opts.create) {
      c = new FakeFile(name, this.root, this.budget);
      this.children.set(name, c);
    }
    if (!(c instanceof FakeFile)) throw new DOMException(`no file ${name}`, 'NotFoundError');
    return c;
  }
  async removeEntry(name: string, opts: { recursive?: boolean } = {}) {
    const c = this.children.get(name);
    if (!c) throw new DOMException(`no entry ${name}`, 'NotFoundError');
    if (c instanceof FakeDir && c.children.size && !opts.recursive)
      throw new DOMException(`${name} is not empty`, 'InvalidModificationError');
    this.children.delete(name);
  }
  async *entries(): AsyncIterableIterator<[string, FakeFile | FakeDir]> {
    for (const e of [...this.children]) yield e;
  }
  async *keys(): AsyncIterableIterator<string> {
    for (const k of [...this.children.keys()]) yield k;
  }
  /** Every file path under this folder (for tests: "nothing was left"). */
  paths(prefix = ''): string[] {
    return [...this.children].flatMap(([n, c]) =>
      c instanceof FakeDir ? [`${prefix}${n}/`, ...c.paths(`${prefix}${n}/`)] : [`${prefix}${n}`],
    );
  }
}

/** navigator.storage over a FakeDir: estimate() reports the budget, persist() is counted. */
export function fakeStorage(budget: Budget, opts: { estimateQuota?: number } = {}) {
  const root = new FakeDir('', budget);
  const calls = { persist: 0, estimate: 0 };
  const storage: StorageLike = {
    getDirectory: async () => root as unknown as FileSystemDirectoryHandle,
    estimate: async () => {
      calls.estimate++;
      return { quota: opts.estimateQuota ?? budget.quota, usage: root.bytes() };
    },
    persist: async () => {
      calls.persist++;
      return true;
    },
  };
  return { root, storage, calls };
}
