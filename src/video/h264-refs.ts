/**
 * Which H.264 packets no other picture references (nal_ref_idc = 0 in every slice): a decoder can skip
 * them when they are not themselves wanted, and the pictures after them still decode exactly (H.264
 * counts frame_num only over reference pictures, so dropping these leaves no gap). x264's default
 * B-frames (3, pyramid) make about half of all packets disposable.
 */

/** NAL length size from an avcC record (its 5th byte), or null when the stream is not avcC. */
export function avcNalLengthSize(description: AllowSharedBufferSource | undefined): number | null {
  if (!description) return null;
  const bytes = ArrayBuffer.isView(description)
    ? new Uint8Array(description.buffer, description.byteOffset, description.byteLength)
    : new Uint8Array(description as ArrayBuffer);
  if (bytes.length < 7 || bytes[0] !== 1) return null;
  return (bytes[4] & 0x03) + 1;
}

/**
 * True when the packet holds at least one slice and every slice NAL (types 1–5) has nal_ref_idc 0.
 * Length-prefixed (avcC) packets only; anything unparsable counts as referenced.
 */
export function isDisposableAvcPacket(data: Uint8Array, lengthSize: number): boolean {
  let pos = 0;
  let slices = 0;
  while (pos + lengthSize <= data.length) {
    let len = 0;
    for (let i = 0; i < lengthSize; i++) len = len * 256 + data[pos + i];
    pos += lengthSize;
    if (len === 0 || pos + len > data.length) return false;
    const header = data[pos];
    const type = header & 0x1f;
    if (type >= 1 && type <= 5) {
      if ((header & 0x60) !== 0) return false; // nal_ref_idc > 0: a reference picture
      slices++;
    }
    pos += len;
  }
  return slices > 0 && pos === data.length;
}
