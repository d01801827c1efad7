/**
 * Whether a queue stands on one link in our direction, from delays (the estimator's input:
 * estimator.ts). Its own file because it is the part of the estimator that reads delays, where
 * the estimator reads deliveries.
 *
 * - minimum RTT over the last MIN_RTT_WINDOW_MS, and the minimum of the last round's RTTs: a
 *   queue is judged on a round's smallest delay, not on one sample, since jitter makes single
 *   samples high now and then;
 * - the one-way delay (the peer's receive clock in its acknowledgements, plus an unknown
 *   constant), judged the same way: a queue in our direction shows there, while the RTT also
 *   grows with queues on the way back (the peer's traffic in a busy download), which must not
 *   lower our estimate. Only for a peer that does not send it, the RTT judges;
 * - what the RTT has on top of its minimum and of our own direction's queue: the way back's queue
 *   (the in-flight cap counts part of it: estimator.ts inflightCap);
 * - a rise of the path's own delay (a route change, a handover) is no queue: delayrise.ts tries
 *   it as such and gives the base delays a queue is judged from meanwhile.
 */
import { DelayRise } from "./delayrise.ts";
import { WindowedMin } from "./winmin.ts";

export const MIN_RTT_WINDOW_MS = 10_000;
/** An RTT this far above the minimum means a queue is building somewhere on the link. */
const QUEUE_RTT_FACTOR = 1.25;
/** Slack for timer and scheduling jitter of both ends (Bun timers tick in milliseconds). */
export const QUEUE_RTT_SLACK_MS = 5;
const MIN_ROUND_MS = 10; // a round at least this long: very short RTTs must not cycle faster than timers tick
const MAX_RETURN_QUEUE_MS = 200; // the way back's queue counted in the in-flight cap at most (a stuck peer must not open it wide)

/** A delay or rate sample and when it was taken. */
export interface Sample { atMs: number; rate: number }

export class QueueSignal {
  minRttMs = Number.POSITIVE_INFINITY;
  private readonly minRtt = new WindowedMin(MIN_RTT_WINDOW_MS);
  /** RTT samples of the last round (in `rate`). */
  private readonly rtts: Sample[] = [];
  /** The smallest RTT of the last round. */
  rttRoundMin = Number.POSITIVE_INFINITY;
  /** One-way delay (relative, ms): its minimum over MIN_RTT_WINDOW_MS and the last round's samples. */
  private minOwdMs = Number.POSITIVE_INFINITY;
  private readonly minOwd = new WindowedMin(MIN_RTT_WINDOW_MS);
  readonly owds: Sample[] = [];
  private hasOwd = false;
  /** A queue stands in our direction (past what the in-flight cap lets stand). */
  queueing = false;
  /** Queueing delay on the way back (from RTT and one-way delay), ms. */
  returnQueueMs = 0;
  /** A rise of the path's own delay is no queue. */
  readonly delayRise = new DelayRise();

  /** One round: the min RTT, at least MIN_ROUND_MS (100 ms before any sample). */
  roundMs(): number {
    return Math.max(MIN_ROUND_MS, Number.isFinite(this.minRttMs) ? this.minRttMs : 100);
  }

  /** The RTT the in-flight cap is sized by: the minimum, or a delay rise's (100 ms before any sample). */
  pipeRttMs(): number {
    return Number.isFinite(this.minRttMs) ? Math.max(this.minRttMs, this.delayRise.rttMs) : 100;
  }

  onRttSample(rttMs: number, nowMs: number): void {
    this.minRttMs = this.minRtt.update(rttMs, nowMs);
    const roundMin = this.roundMin(this.rtts, rttMs, nowMs);
    this.rttRoundMin = roundMin;
    if (!this.hasOwd) this.queueing = roundMin > this.delayRise.rttBase(this.minRttMs, roundMin) * QUEUE_RTT_FACTOR + QUEUE_RTT_SLACK_MS;
  }

  /**
   * The one-way delay of a packet (plus an unknown constant). `headroomMs`: the queue the
   * in-flight cap lets stand at the minimum RTT (estimator.ts queueHeadroomMs); one past it
   * says the estimate is too high.
   */
  onOneWayDelaySample(owdMs: number, nowMs: number, headroomMs: number): void {
    this.hasOwd = true;
    this.minOwdMs = this.minOwd.update(owdMs, nowMs);
    const roundMin = this.roundMin(this.owds, owdMs, nowMs);
    const minRtt = Number.isFinite(this.minRttMs) ? this.minRttMs : 0;
    const forwardQueue = roundMin - this.delayRise.owdBase(this.minOwdMs, roundMin);
    this.queueing = forwardQueue > Math.min(minRtt * (QUEUE_RTT_FACTOR - 1), headroomMs) + QUEUE_RTT_SLACK_MS;
    // What the RTT has on top of its minimum and of our own direction's queue is the way back's.
    if (Number.isFinite(this.rttRoundMin)) this.returnQueueMs = Math.min(MAX_RETURN_QUEUE_MS, Math.max(0, this.rttRoundMin - minRtt - forwardQueue));
  }

  /** The peer restarted: its clock is another one, earlier one-way delays mean nothing. */
  resetOneWayDelay(): void {
    this.minOwdMs = Number.POSITIVE_INFINITY;
    this.delayRise.resetOneWayDelay();
    this.minOwd.reset();
    this.owds.length = 0;
    this.returnQueueMs = 0;
  }

  /**
   * At a round's end in the cycle: a step of a delay rise's try (delayrise.ts), or 0. A step
   * says the delays of now are the path's: no queue until the next sample judges again.
   * `drained`: no more in flight than twice the cap.
   */
  tryRise(bandwidth: number, drained: boolean, nowMs: number): number {
    const tried = this.delayRise.round(bandwidth, this.queueing, drained, this.rttRoundMin, this.owds, nowMs);
    if (tried > 0) this.queueing = false;
    return tried;
  }

  /** Adds a delay sample to the last round's and returns their smallest. */
  private roundMin(samples: Sample[], value: number, nowMs: number): number {
    samples.push({ atMs: nowMs, rate: value });
    while (samples.length > 1 && nowMs - samples[0]!.atMs > this.roundMs()) samples.shift();
    let min = Number.POSITIVE_INFINITY;
    for (const x of samples) min = Math.min(min, x.rate);
    return min;
  }
}
