/** The 96-bit AEAD nonce of a transport message: 0x00000000 ‖ counter (u64 big-endian). */
export function writeNonce(nonce: Uint8Array, counter: number): void {
  // Counters stay below 2^53 (Session stops far earlier), so two u32 halves are exact.
  const hi = Math.floor(counter / 0x1_0000_0000);
  const lo = counter >>> 0;
  nonce[4] = hi >>> 24;
  nonce[5] = hi >>> 16;
  nonce[6] = hi >>> 8;
  nonce[7] = hi;
  nonce[8] = lo >>> 24;
  nonce[9] = lo >>> 16;
  nonce[10] = lo >>> 8;
  nonce[11] = lo;
}
