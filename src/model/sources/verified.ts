/**
 * A WeightSource that checks every file against a manifest (size and SHA-256) as the loader reads it:
 * a file whose size differs fails at once; each file is hashed in order as its bytes pass (the loader
 * reads headers, then tensors in file order, so nothing is read twice), and the read that completes
 * a file fails if its hash differs. `finish()` reads and checks whatever the load did not touch. The
 * errors name the file.
 */
import { Sha256 } from '../sha256';
import { type WeightSource, WeightSourceError } from '../weight-source';

export interface ExpectedFile {
  size: number;
  sha256: string;
}

interface FileState {
  hasher: Sha256;
  /** Bytes [0, hashed) have gone into the hasher. */
  hashed: number;
  verified: boolean;
}

/** How much finish() and gap reads take at once. */
const CHUNK = 16 << 20;

export class VerifiedSource implements WeightSource {
  readonly label: string;
  private readonly state = new Map<string, FileState>();

  /** `hashes: false` checks sizes only (a copy this engine wrote and completed itself: the OPFS cache). */
  constructor(
    private readonly inner: WeightSource,
    private readonly files: Readonly<Record<string, ExpectedFile>>,
    private readonly opts: { hashes?: boolean } = {},
  ) {
    this.label = inner.label;
  }

  list(): Promise<string[] | undefined> {
    return this.inner.list();
  }

  has(path: string): Promise<boolean> {
    return this.inner.has(path);
  }

  async size(path: string): Promise<number> {
    const n = await this.inner.size(path);
    const want = this.files[path];
    if (want && n !== want.size)
      throw new WeightSourceError(
        'invalid',
        path,
        `${path} in ${this.label} is ${n} bytes, the manifest says ${want.size}: the file is ${n < want.size ? 'short (an interrupted copy or download?)' : 'not the one converted'}; copy or convert it again`,
      );
    return n;
  }

  async read(path: string, offset: number, length: number): Promise<Uint8Array> {
    const want = this.files[path];
    if (!want || this.opts.hashes === false) return this.inner.read(path, offset, length);
    const s = this.fileState(path);
    if (offset > s.hashed) await this.hashUpTo(path, offset);
    const bytes = await this.inner.read(path, offset, length);
    const end = offset + bytes.byteLength;
    if (end > s.hashed) {
      s.hasher.update(bytes.subarray(s.hashed - offset));
      s.hashed = end;
      this.check(path);
    }
    return bytes;
  }

  /** Reads and hashes every listed file's unread rest; throws on the first mismatch. */
  async finish(signal?: AbortSignal): Promise<void> {
    if (this.opts.hashes === false) return;
    for (const [path, want] of Object.entries(this.files)) {
      signal?.throwIfAborted();
      if (this.fileState(path).verified) continue;
      await this.size(path);
      await this.hashUpTo(path, want.size);
    }
  }

  private fileState(path: string): FileState {
    let s = this.state.get(path);
    if (!s) {
      s = { hasher: new Sha256(), hashed: 0, verified: false };
      this.state.set(path, s);
    }
    return s;
  }

  private async hashUpTo(path: string, end: number): Promise<void> {
    const s = this.fileState(path);
    while (s.hashed < end) {
      const n = Math.min(CHUNK, end - s.hashed);
      s.hasher.update(await this.inner.read(path, s.hashed, n));
      s.hashed += n;
    }
    this.check(path);
  }

  private check(path: string): void {
    const s = this.fileState(path);
    const want = this.files[path];
    if (s.verified || s.hashed < want.size) return;
    const got = s.hasher.hex();
    s.verified = true;
    if (got !== want.sha256)
      throw new WeightSourceError(
        'invalid',
        path,
        `${path} in ${this.label} does not match its manifest (SHA-256 ${got.slice(0, 12)}…, expected ${want.sha256.slice(0, 12)}…): the file is corrupt or was changed; copy or convert it again`,
      );
  }
}
