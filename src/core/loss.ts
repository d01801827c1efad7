/**
 * Receive loss of one link, measured from the transport counters the peer puts in every packet
 * (data and keepalives alike): counters skipped are lost. Kept per second in a few buckets so
 * that the ratio covers at least LOSS_WINDOW_PACKETS packets when traffic is heavy and the last
 * few seconds when it is light (keepalives only).
 */
import { CounterSpace, RESTART, STALE } from "./counterspace.ts";

export const LOSS_WINDOW_PACKETS = 64;
const BUCKETS = 8;

export class LossMeter {
  private readonly space = new CounterSpace();
  private highest = -1;
  /** Which of the 64 counters below `highest` arrived (bit i: highest − 1 − i), of any kind. */
  private hi = 0;
  private lo = 0;
  /** Per rule of newlyMissing: counters at or below this were looked at. */
  private readonly checked = [-1, -1];
  private readonly expected = new Float64Array(BUCKETS);
  private readonly received = new Float64Array(BUCKETS);
  private bucket = 0;

  /**
   * A packet of `session` (its receiver index) with this counter was authenticated (and not a
   * replay). Across a rekey the counters go on (counterspace.ts): late packets of the old session
   * are no loss, and the first of the new one no jump.
   */
  onReceive(session: number, counter: number): void {
    const change = this.space.enter(session, counter, this.highest);
    if (change === STALE) return;
    if (change === RESTART) this.highest = -1;
    if (counter > this.highest) {
      this.expected[this.bucket]! += this.highest < 0 ? 1 : counter - this.highest;
      if (this.highest < 0) {
        // What came before the first counter seen is not known: not looked at.
        this.hi = this.lo = 0;
        this.checked.fill(counter - 1);
      } else {
        this.shift(counter - this.highest);
        this.set(counter - this.highest - 1);
      }
      this.highest = counter;
    } else if (counter < this.highest) {
      this.set(this.highest - 1 - counter);
    }
    this.received[this.bucket]! += 1;
  }

  /**
   * Whether a counter at or below `upTo` not looked at before under `rule` (0 or 1: each has its
   * own cursor) is missing; the first call to see it decides. The receive path asks with the
   * sender's loss rules (link.ts resendDueMs). Only the 64 counters below the highest are known;
   * older ones are passed over.
   */
  newlyMissing(upTo: number, rule: 0 | 1): boolean {
    const checked = this.checked[rule]!;
    if (upTo <= checked || this.highest < 0) return false;
    const from = Math.max(checked + 1, this.highest - 64);
    this.checked[rule] = upTo;
    for (let c = from; c <= upTo && c < this.highest; c++) {
      const bit = this.highest - 1 - c;
      const word = bit < 32 ? this.lo >>> bit : this.hi >>> (bit - 32);
      if ((word & 1) === 0) return true;
    }
    return false;
  }

  private shift(d: number): void {
    if (d >= 64) {
      this.hi = this.lo = 0;
    } else if (d >= 32) {
      this.hi = (this.lo << (d - 32)) >>> 0;
      this.lo = 0;
    } else {
      this.hi = ((this.hi << d) | (this.lo >>> (32 - d))) >>> 0;
      this.lo = (this.lo << d) >>> 0;
    }
  }

  private set(bit: number): void {
    if (bit >= 64) return;
    if (bit < 32) this.lo = (this.lo | (1 << bit)) >>> 0;
    else this.hi = (this.hi | (1 << (bit - 32))) >>> 0;
  }

  /** Forgets the window: after a blackout the link is judged on what it does from now on. */
  reset(): void {
    this.expected.fill(0);
    this.received.fill(0);
  }

  /**
   * Forgets the window and the highest counter: the next packet's counter starts it, as the
   * first one did. For the packet that ends an outage: the counters the peer spent meanwhile were
   * lost to it, which is a failure handled as such (link.ts restartLossAtNextPacket), not loss.
   */
  restart(): void {
    this.highest = -1;
    this.reset();
  }

  /** Called once per second: starts a new bucket. */
  rotate(): void {
    this.bucket = (this.bucket + 1) % BUCKETS;
    this.expected[this.bucket] = 0;
    this.received[this.bucket] = 0;
  }

  /** Loss in percent over the recent window, or undefined without any packet in it. */
  percent(): number | undefined {
    let expected = 0;
    let received = 0;
    for (let i = 0; i < BUCKETS && expected < LOSS_WINDOW_PACKETS; i++) {
      const b = (this.bucket - i + BUCKETS) % BUCKETS;
      expected += this.expected[b]!;
      received += this.received[b]!;
    }
    if (expected === 0) return undefined;
    // Late packets of an earlier bucket can make received exceed expected here.
    return Math.max(0, Math.min(100, (100 * (expected - received)) / expected));
  }
}
