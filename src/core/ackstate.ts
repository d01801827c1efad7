/**
 * What the receiving end of a link acknowledges: the highest transport counter received in the
 * current session and which of the 64 below it arrived, sent back in FEEDBACK messages every
 * ACK_EVERY packets or ACK_DELAY_MS after the first unacknowledged one (or at once for a probe).
 */
import { type Feedback, newFeedback, writeFeedback } from "../wire/inner.ts";
import { CounterSpace, RESTART, STALE } from "./counterspace.ts";

export const ACK_EVERY = 8;
export const ACK_DELAY_MS = 4;

export class AckState {
  private readonly space = new CounterSpace();
  /** The session of the newest packet acknowledged (the peer accepts acknowledgements of its current and previous sessions). */
  private session = -1;
  private highest = -1;
  private highestAtMs = 0;
  /** Bit i: counter highest − 1 − i arrived. */
  private hi = 0;
  private lo = 0;
  private pending = 0;
  /** When a feedback is due (Infinity: nothing to acknowledge). */
  dueMs = Number.POSITIVE_INFINITY;

  /** A packet with `counter` arrived in the session the peer knows as `session`. */
  onReceive(session: number, counter: number, nowMs: number, urgent: boolean): void {
    const change = this.space.enter(session, counter, this.highest);
    if (change === STALE) return;
    if (change === RESTART) {
      this.highest = -1;
      this.hi = 0;
      this.lo = 0;
    }
    if (counter > this.highest) {
      this.session = session;
      const d = this.highest < 0 ? 64 : counter - this.highest;
      this.shift(d);
      if (this.highest >= 0 && d - 1 < 64) this.set(d - 1);
      this.highest = counter;
      this.highestAtMs = nowMs;
    } else if (counter < this.highest) {
      const d = this.highest - 1 - counter;
      if (d < 64) this.set(d);
    }
    this.pending++;
    if (urgent || this.pending >= ACK_EVERY) this.dueMs = nowMs;
    else if (this.dueMs === Number.POSITIVE_INFINITY) this.dueMs = nowMs + ACK_DELAY_MS;
  }

  /** The FEEDBACK fields, reused for every message written. */
  private readonly fields: Feedback = newFeedback();

  /** Writes a FEEDBACK payload at `off` in `out` (FEEDBACK_SIZE bytes) and clears what was pending. */
  write(out: Uint8Array, off: number, nowMs: number): void {
    const f = this.fields;
    f.ackDelayMs = nowMs - this.highestAtMs;
    f.session = this.session;
    f.highest = this.highest;
    f.bitmapHi = this.hi;
    f.bitmapLo = this.lo;
    // Our clock when `highest` arrived (0.1 ms, wrapping): against its send time, the sender
    // sees the one-way delay of its own direction change, whatever queues the acks meet.
    f.receiverClock = Math.round(this.highestAtMs * 10);
    writeFeedback(out, off, f);
    this.pending = 0;
    this.dueMs = Number.POSITIVE_INFINITY;
  }

  /** The highest counter received in the current sequence (-1: none): what the next FEEDBACK acknowledges. */
  get highestCounter(): number {
    return this.highest;
  }

  get hasPending(): boolean {
    return this.pending > 0 && this.session >= 0;
  }

  private shift(d: number): void {
    if (d >= 64) {
      this.hi = 0;
      this.lo = 0;
    } else if (d >= 32) {
      this.hi = (this.lo << (d - 32)) >>> 0;
      this.lo = 0;
    } else if (d > 0) {
      this.hi = ((this.hi << d) | (this.lo >>> (32 - d))) >>> 0;
      this.lo = (this.lo << d) >>> 0;
    }
  }

  private set(bit: number): void {
    if (bit < 32) this.lo = (this.lo | (1 << bit)) >>> 0;
    else this.hi = (this.hi | (1 << (bit - 32))) >>> 0;
  }
}
