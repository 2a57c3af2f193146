/**
 * A minimal ONNX ModelProto writer: the protobuf wire format by hand, for the one-node graphs the peer
 * benchmark feeds onnxruntime-web. Only the fields those graphs use; numbers from onnx/onnx.proto.
 * No DOM or Node APIs: it runs in the benchmark page.
 */

/** TensorProto.DataType values used here. */
export const DT = { float: 1, uint8: 2, int32: 6, int64: 7, float16: 10 } as const;
export type OnnxType = keyof typeof DT;

export interface Initializer {
  name: string;
  type: OnnxType;
  dims: number[];
  /** Little-endian element bytes (raw_data). */
  data: Uint8Array;
}

export interface ValueInfo {
  name: string;
  type: OnnxType;
  /** A number is a fixed size, a string a symbolic dimension. */
  dims: (number | string)[];
}

export type AttrValue = { int: number } | { float: number } | { ints: number[] };

export interface OnnxNode {
  op: string;
  domain?: string;
  /** '' marks a skipped optional input. */
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
}

export interface OnnxGraph {
  nodes: OnnxNode[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  initializers: Initializer[];
  /** Opsets: domain → version ('' is the default ONNX domain). */
  opsets: Record<string, number>;
}

// ---- wire format ------------------------------------------------------------------------------

/** Collects protobuf fields; nested messages are encoded first and embedded as bytes. */
class Writer {
  private chunks: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.size += b.length;
  }

  private varint(v: number | bigint): void {
    // int64 fields carry negative values as 10-byte two's complement; ours are all ≥ 0.
    let x = BigInt(v);
    if (x < 0n) x += 1n << 64n;
    const out: number[] = [];
    do {
      let byte = Number(x & 0x7fn);
      x >>= 7n;
      if (x > 0n) byte |= 0x80;
      out.push(byte);
    } while (x > 0n);
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wire: 0 | 1 | 2 | 5): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number): this {
    this.tag(field, 0);
    this.varint(v);
    return this;
  }

  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2);
    this.varint(b.length);
    this.push(b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, w: Writer): this {
    return this.bytes(field, w.finish());
  }

  /** Packed repeated varints. */
  packed(field: number, vs: number[]): this {
    const inner = new Writer();
    for (const v of vs) inner.varint(v);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

// ---- ONNX messages ----------------------------------------------------------------------------

// AttributeProto.AttributeType
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_INTS = 7;

function attribute(name: string, v: AttrValue): Writer {
  const w = new Writer().string(1, name);
  if ('int' in v) return w.int(3, v.int).int(20, ATTR_INT);
  if ('float' in v) return w.float(2, v.float).int(20, ATTR_FLOAT);
  return w.packed(8, v.ints).int(20, ATTR_INTS);
}

function node(n: OnnxNode, i: number): Writer {
  const w = new Writer();
  for (const s of n.inputs) w.string(1, s);
  for (const s of n.outputs) w.string(2, s);
  w.string(3, `${n.op}_${i}`).string(4, n.op);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, attribute(k, v));
  if (n.domain) w.string(7, n.domain);
  return w;
}

function tensor(t: Initializer): Writer {
  const w = new Writer();
  w.packed(1, t.dims).int(2, DT[t.type]).string(8, t.name).bytes(9, t.data);
  return w;
}

function valueInfo(v: ValueInfo): Writer {
  const shape = new Writer();
  for (const d of v.dims)
    shape.message(1, typeof d === 'number' ? new Writer().int(1, d) : new Writer().string(2, d));
  const tensorType = new Writer().int(1, DT[v.type]).message(2, shape);
  return new Writer().string(1, v.name).message(2, new Writer().message(1, tensorType));
}

/** Serialises a one-graph ModelProto (IR version 8). */
export function encodeModel(g: OnnxGraph): Uint8Array {
  const graph = new Writer();
  g.nodes.forEach((n, i) => {
    graph.message(1, node(n, i));
  });
  graph.string(2, 'peer_bench');
  for (const t of g.initializers) graph.message(5, tensor(t));
  for (const v of g.inputs) graph.message(11, valueInfo(v));
  for (const v of g.outputs) graph.message(12, valueInfo(v));
  const model = new Writer().int(1, 8);
  for (const [domain, version] of Object.entries(g.opsets)) {
    const op = new Writer();
    if (domain) op.string(1, domain);
    model.message(8, op.int(2, version));
  }
  return model.string(2, 'video-reasoner peer bench').message(7, graph).finish();
}

/** The bytes of a typed array, for raw_data (the platforms here are little-endian, as ONNX requires). */
export function rawBytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
