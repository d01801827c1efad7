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
      this.highest = counter;
    }
    this.received[this.bucket]! += 1;
  }

  /** Forgets the window: after a blackout the link is judged on what it does from now on. */
  reset(): void {
    this.expected.fill(0);
    this.received.fill(0);
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
