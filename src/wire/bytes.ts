/** Big-endian field access shared by every wire module (docs/protocol.md: integers are big-endian). */

export function readU16(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}

export function writeU16(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 8;
  b[off + 1] = v;
}

export function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = v >>> 16;
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
}

/** Unsigned 64-bit as a Number; values above 2^53 lose precision (counters never get there). */
export function readU64(b: Uint8Array, off: number): number {
  return readU32(b, off) * 0x1_0000_0000 + readU32(b, off + 4);
}

export function writeU64(b: Uint8Array, off: number, v: number): void {
  writeU32(b, off, Math.floor(v / 0x1_0000_0000));
  writeU32(b, off + 4, v >>> 0);
}

/** 56-bit sequence in bytes off..off+6. */
export function readU56(b: Uint8Array, off: number): number {
  const hi = (b[off]! << 16) | (b[off + 1]! << 8) | b[off + 2]!;
  return hi * 0x1_0000_0000 + readU32(b, off + 3);
}

export function writeU56(b: Uint8Array, off: number, v: number): void {
  const hi = Math.floor(v / 0x1_0000_0000);
  b[off] = hi >>> 16;
  b[off + 1] = hi >>> 8;
  b[off + 2] = hi;
  writeU32(b, off + 3, v >>> 0);
}
