// Walks the block headers of a Zstandard frame (RFC 8878 §3.1.1) without decoding anything, to
// tell whether a buffer is exactly one frame without a dictionary: what fzstd's one-shot
// decoder handles into a caller-sized buffer (it restarts its output at every frame).

const MAGIC = 0xfd2fb528;

export function isSingleZstdFrame(buf: Uint8Array): boolean {
  if (buf.length < 6) return false;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(0, true) !== MAGIC) return false;
  const fhd = buf[4]!;
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const reserved = (fhd >> 3) & 1;
  const checksum = (fhd >> 2) & 1;
  const dictFlag = fhd & 3;
  if (reserved || dictFlag !== 0) return false;
  let off = 5 + (singleSegment ? 0 : 1) + [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
  for (;;) {
    if (off + 3 > buf.length) return false;
    const header = buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16);
    off += 3;
    const last = header & 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === 3) return false; // reserved block type
    off += type === 1 ? 1 : size; // an RLE block carries one byte
    if (off > buf.length) return false;
    if (last) break;
  }
  return off + (checksum ? 4 : 0) === buf.length;
}
