/**
 * Every GPUBuffer a device holds, counted at the source: `bufferLedger(device)` wraps the device's
 * createBuffer once, so pooled tensors, uniform buffers, readback staging and profiler buffers alike
 * are counted from creation until destroy(). Soak tests compare these totals over many runs; a buffer
 * dropped without destroy() stays counted, as the GPU memory it holds is only freed at collection.
 */
export interface GpuMemory {
  /** Bytes of the live buffers. */
  bytes: number;
  /** Live buffers. */
  buffers: number;
}

export class BufferLedger implements GpuMemory {
  bytes = 0;
  buffers = 0;
  /** Most bytes live at once since the ledger started. */
  peakBytes = 0;

  /** Counts a new buffer until its first destroy(). */
  add(b: GPUBuffer): void {
    const size = b.size;
    this.bytes += size;
    this.buffers++;
    this.peakBytes = Math.max(this.peakBytes, this.bytes);
    const destroy = b.destroy.bind(b);
    let live = true;
    b.destroy = () => {
      if (live) {
        live = false;
        this.bytes -= size;
        this.buffers--;
      }
      destroy();
    };
  }
}

const ledgers = new WeakMap<GPUDevice, BufferLedger>();

/** The device's ledger, installed on first use (buffers made before that are not counted). */
export function bufferLedger(device: GPUDevice): BufferLedger {
  const had = ledgers.get(device);
  if (had) return had;
  const l = new BufferLedger();
  const create = device.createBuffer.bind(device);
  device.createBuffer = (desc: GPUBufferDescriptor) => {
    const b = create(desc);
    l.add(b);
    return b;
  };
  ledgers.set(device, l);
  return l;
}
