/**
 * The video track's frames as the container's sample table lists them, indexed both ways: presentation
 * order (what "frame index" means, as ffmpeg counts) and decode order (what a decoder must be fed).
 * Built from packet metadata only: no decoding.
 */

/** One coded packet, in decode order. */
export interface PacketMeta {
  /** Presentation timestamp, µs (integer; the value given to EncodedVideoChunk and echoed by VideoFrame). */
  timestampUs: number;
  durationUs: number;
  isKey: boolean;
}

export interface FrameTable {
  /** Number of frames. */
  count: number;
  /** Presentation order → timestamp µs (ascending). */
  timestampsUs: Float64Array;
  /** Presentation order → decode index. */
  decodeIndex: Int32Array;
  /**
   * Presentation order → decode index of the key packet to start decoding from: the last key packet at or
   * before the frame in decode order whose own timestamp is not after the frame's. The second condition
   * sends open-GOP leading pictures (decoded after a key frame, shown before it) to the previous GOP,
   * whose references they need.
   */
  startKey: Int32Array;
  /** Decode order → presentation index. */
  presentationIndex: Int32Array;
  /** Decode order → key packet flag (from the container). */
  isKey: Uint8Array;
  /** Number of key packets. */
  keyCount: number;
}

export function buildFrameTable(packets: readonly PacketMeta[]): FrameTable {
  const count = packets.length;
  const order = Array.from({ length: count }, (_, i) => i);
  // Stable sort by timestamp: equal timestamps keep decode order.
  order.sort((a, b) => packets[a].timestampUs - packets[b].timestampUs || a - b);

  const timestampsUs = new Float64Array(count);
  const decodeIndex = new Int32Array(count);
  const presentationIndex = new Int32Array(count);
  const isKey = new Uint8Array(count);
  let keyCount = 0;
  for (let p = 0; p < count; p++) {
    const d = order[p];
    timestampsUs[p] = packets[d].timestampUs;
    decodeIndex[p] = d;
    presentationIndex[d] = p;
  }
  // lastKey[d]: last key packet at decode index ≤ d; prevKey[k]: the key packet before key k (or -1).
  const lastKey = new Int32Array(count);
  const prevKey = new Int32Array(count).fill(-1);
  let last = -1;
  for (let d = 0; d < count; d++) {
    if (packets[d].isKey) {
      isKey[d] = 1;
      keyCount++;
      prevKey[d] = last;
      last = d;
    }
    lastKey[d] = last;
  }
  // A decoder must start on a key packet: with none before a frame, use the first key (the frame
  // may then not decode; the decoder reports the nearest frame it does produce).
  const firstKey = isKey.indexOf(1);
  const startKey = new Int32Array(count);
  for (let p = 0; p < count; p++) {
    const d = decodeIndex[p];
    let k = lastKey[d];
    while (k >= 0 && packets[k].timestampUs > timestampsUs[p]) k = prevKey[k];
    startKey[p] = k >= 0 ? k : Math.max(firstKey, 0);
  }
  return { count, timestampsUs, decodeIndex, startKey, presentationIndex, isKey, keyCount };
}

/** Average frames per second from the table's timestamps (container rate metadata is unreliable). */
export function averageFps(table: FrameTable, lastDurationUs: number): number {
  const { count, timestampsUs } = table;
  if (count < 2) return lastDurationUs > 0 ? 1e6 / lastDurationUs : 0;
  const span = timestampsUs[count - 1] - timestampsUs[0] + Math.max(lastDurationUs, 0);
  return span > 0 ? (count * 1e6) / span : 0;
}
