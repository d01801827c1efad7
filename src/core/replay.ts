/**
 * Sliding-window anti-replay filter: RFC 6479 ("IPsec Anti-Replay Algorithm without Bit
 * Shifting"), the same design as wireguard-go's `replay` package.
 *
 * The bitmap is a ring of 32-bit blocks. Moving the window forward only zeroes the blocks that
 * enter it, never shifts bits, so a jump of any size costs at most one pass over the ring.
 * The ring holds one block more than the window (RFC 6479 §2): the block being zeroed is then
 * always one the new window no longer covers, even when the window is not block-aligned.
 *
 * Besides accept/reject it counts holes: every counter from 0 to `highest` is either marked
 * (`receivedCount`), slid out of the window unmarked (`lostCount`), or still unmarked inside
 * the window (`highest + 1 - receivedCount - lostCount`, possibly still to arrive).
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
  private received = 0;
  private lost = 0;

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

  /** Marks accepted since construction or the last reset(). */
  get receivedCount(): number {
    return this.received;
  }

  /** Counters that left the window without ever being marked. */
  get lostCount(): number {
    return this.lost;
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
    this.received++;
    return true;
  }

  reset(): void {
    this.ring.fill(0);
    this.highestMarked = -1;
    this.received = 0;
    this.lost = 0;
  }

  private advanceTo(counter: number): void {
    const oldLow = Math.max(0, this.highestMarked - this.windowSize + 1);
    const newLow = Math.max(0, counter - this.windowSize + 1);
    // Counters leaving the window that it tracked are lost unless their bit is set...
    const trackedEnd = Math.min(newLow, this.highestMarked + 1);
    if (trackedEnd > oldLow) this.lost += trackedEnd - oldLow - this.countMarked(oldLow, trackedEnd);
    // ...and those above the old highest were never seen at all (arithmetic, not O(jump)).
    if (newLow > this.highestMarked + 1) this.lost += newLow - (this.highestMarked + 1);

    // Zero the blocks entering the window; they still hold bits from a previous turn of the ring.
    const oldBlock = Math.floor(this.highestMarked / BLOCK_BITS); // -1 before the first mark
    const newBlock = Math.floor(counter / BLOCK_BITS);
    const blocksToClear = Math.min(newBlock - oldBlock, this.ring.length);
    for (let i = 1; i <= blocksToClear; i++) this.ring[(oldBlock + i) % this.ring.length] = 0;
    this.highestMarked = counter;
  }

  /** Set bits for counters in [from, to), a range inside the current window. */
  private countMarked(from: number, to: number): number {
    let count = 0;
    for (let counter = from; counter < to; ) {
      const blockStart = counter - (counter % BLOCK_BITS);
      const end = Math.min(blockStart + BLOCK_BITS, to);
      const width = end - counter;
      let bits = this.blockOf(counter) >>> (counter - blockStart);
      if (width < BLOCK_BITS) bits &= (1 << width) - 1;
      count += popcount32(bits);
      counter = end;
    }
    return count;
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

/** Hamming weight of a 32-bit word (the classic SWAR reduction). */
function popcount32(word: number): number {
  let v = word - ((word >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}
