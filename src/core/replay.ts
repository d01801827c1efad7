/**
 * Sliding-window anti-replay filter: RFC 6479 ("IPsec Anti-Replay Algorithm without Bit
 * Shifting"), the same design as wireguard-go's `replay` package.
 *
 * The bitmap is a ring of 32-bit blocks. Moving the window forward only zeroes the blocks that
 * enter it, never shifts bits, so a jump of any size costs at most one pass over the ring.
 * The ring holds one block more than the window (RFC 6479 §2): the block being zeroed is then
 * always one the new window no longer covers, even when the window is not block-aligned.
 * Loss is measured elsewhere, per link (loss.ts and the acknowledgements).
 */

const BLOCK_BITS = 32;
const DEFAULT_WINDOW_SIZE = 4096;
// Multi-link reordering delays packets by whole link latencies; below this the window would
// reject packets that a slow link delivers late but legitimately.
const MIN_WINDOW_SIZE = 2048;

export class ReplayWindow {
  /** Number of counters accepted below and including `highest`. */
  readonly windowSize: number;
  private readonly ring: Uint32Array;
  private highestMarked = -1;

  constructor(windowSize: number = DEFAULT_WINDOW_SIZE) {
    if (!Number.isInteger(windowSize) || windowSize < MIN_WINDOW_SIZE || windowSize % BLOCK_BITS !== 0) {
      throw new RangeError(`replay window size must be a multiple of ${BLOCK_BITS} and at least ${MIN_WINDOW_SIZE}, got ${windowSize}`);
    }
    this.windowSize = windowSize;
    this.ring = new Uint32Array(windowSize / BLOCK_BITS + 1);
  }

  /** Highest counter marked so far, -1 before any. */
  get highest(): number {
    return this.highestMarked;
  }

  /** Cheap check before decryption: false if the counter is too old or already marked. Does not change state. */
  check(counter: number): boolean {
    // 2^53 itself is refused: it cannot be told apart from 2^53 + 1 in a double.
    if (!Number.isSafeInteger(counter) || counter < 0) return false;
    if (counter > this.highestMarked) return true;
    if (counter <= this.highestMarked - this.windowSize) return false;
    return (this.blockOf(counter) & bitOf(counter)) === 0;
  }

  /**
   * Call only after the packet authenticated, otherwise a forged counter could move the window
   * and make genuine packets look old. Returns false, changing nothing, for a replay or an old counter.
   */
  mark(counter: number): boolean {
    if (!this.check(counter)) return false;
    if (counter > this.highestMarked) this.advanceTo(counter);
    const index = this.blockIndex(counter);
    this.ring[index] = (this.ring[index] ?? 0) | bitOf(counter);
    return true;
  }

  reset(): void {
    this.ring.fill(0);
    this.highestMarked = -1;
  }

  private advanceTo(counter: number): void {
    // Zero the blocks entering the window; they still hold bits from a previous turn of the ring.
    const oldBlock = Math.floor(this.highestMarked / BLOCK_BITS); // -1 before the first mark
    const newBlock = Math.floor(counter / BLOCK_BITS);
    const blocksToClear = Math.min(newBlock - oldBlock, this.ring.length);
    for (let i = 1; i <= blocksToClear; i++) this.ring[(oldBlock + i) % this.ring.length] = 0;
    this.highestMarked = counter;
  }

  private blockIndex(counter: number): number {
    // Division by a power of two is exact for every safe integer; `>>>` would wrap at 2^32.
    return Math.floor(counter / BLOCK_BITS) % this.ring.length;
  }

  private blockOf(counter: number): number {
    return this.ring[this.blockIndex(counter)] ?? 0;
  }
}

function bitOf(counter: number): number {
  return 1 << (counter % BLOCK_BITS);
}
