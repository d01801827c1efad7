/**
 * Admission to a link's queue (docs/scheduler.md, "Bursts and standing queues"): CoDel's rule
 * that a burst is good queue and a standing queue is bad queue, judged at the tail on the wait
 * each packet is predicted to have (linksender.ts waitFor).
 */
export class StandingQueue {
  /** Since when every packet offered would have waited above the target (Infinity: one did not since). */
  private aboveSinceMs = Number.POSITIVE_INFINITY;
  /** Since when every packet offered while dropping waited at most the target. */
  private belowSinceMs = Number.POSITIVE_INFINITY;
  /** The queue stood above the target for an interval: packets above it are refused. */
  private dropping = false;

  /**
   * May a packet that would wait `waitMs` join the queue? A queue above `targetMs` is refused
   * only once it has *stood* there for `intervalMs` (every packet offered meanwhile would have
   * waited longer than the target): a burst that drains within the interval passes whole, up to
   * `targetMs + intervalMs`. While refusing, packets are taken again once the queue has stayed
   * at or below the target for an interval (the sender slowed down), or it ran empty; a flood
   * that never slows keeps the queue at the target. CoDel's idea (RFC 8289: bursts are good
   * queue, a standing queue is bad queue), judged at the tail on the predicted wait.
   */
  admit(waitMs: number, targetMs: number, intervalMs: number, nowMs: number): boolean {
    if (waitMs <= targetMs) {
      if (!this.dropping) this.aboveSinceMs = Number.POSITIVE_INFINITY;
      else {
        if (this.belowSinceMs === Number.POSITIVE_INFINITY) this.belowSinceMs = nowMs;
        if (nowMs - this.belowSinceMs >= intervalMs) this.reset();
      }
      return true;
    }
    this.belowSinceMs = Number.POSITIVE_INFINITY;
    if (this.aboveSinceMs === Number.POSITIVE_INFINITY) this.aboveSinceMs = nowMs;
    if (nowMs - this.aboveSinceMs >= intervalMs) this.dropping = true;
    return !this.dropping && waitMs <= targetMs + intervalMs;
  }

  /** The queue ran empty: whatever stood there is gone. */
  reset(): void {
    this.dropping = false;
    this.aboveSinceMs = Number.POSITIVE_INFINITY;
    this.belowSinceMs = Number.POSITIVE_INFINITY;
  }
}

/** A packet may wait this long in our queues beyond the links' delay spread before it is dropped. */
export const QUEUE_DELAY_MS = 15;
/** While the chosen link is still in startup its estimate is low by design, or while it shows no sign of being full its estimate lags: allow more. */
const STARTUP_QUEUE_DELAY_MS = 100;

/**
 * How long a standing queue may wait on the chosen link, beyond the links' delay spread, before
 * it is refused. Aggregating links of unequal delay needs a queue as deep as the spread on the
 * faster one, plus room for TCP's sawtooth: about the slower link's one-way delay, at least
 * QUEUE_DELAY_MS. That is for a full link. While the link shows no queue of its own and no
 * round's loss (`lagging`, or still in startup), our standing queue is the estimate's lag (the
 * estimator paces a quarter above it each round while packets wait), and refusing would make TCP
 * back off from capacity the link has (an LTE link's rate swings several times within a second:
 * ratestep.sim.test.ts). It gets STARTUP_QUEUE_DELAY_MS, or the full link's room if more.
 */
export function queueRoomMs(lagging: boolean, minOwdMs: number, maxOwdMs: number): number {
  const full = Math.max(QUEUE_DELAY_MS, maxOwdMs - minOwdMs > 0 ? maxOwdMs : 0);
  return lagging ? Math.max(full, STARTUP_QUEUE_DELAY_MS) : full;
}
