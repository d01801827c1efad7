/**
 * A path whose delay rose for good (a route change, a handover), told from a queue of ours. The
 * estimator (estimator.ts) reads a one-way delay above its 10 s minimum as a queue and lowers the
 * estimate to what the link delivered; a queue of ours then drains. After a rise of the path's
 * own delay nothing drains: the in-flight cap, sized from the old minimum RTT, lets through less
 * than the new RTT needs, the link delivers that less, the estimate follows it down, and so on
 * round after round, down to the cap's floor, for the 10 s the old minimum stays in the window.
 * Seen on the simulator (scripts/sim-chaos.ts, seed 2272): a 260 Mbit/s link whose one-way delay
 * went from 3.8 to 20 ms fell to 1 Mbit/s, and its queue held the stream without delivery for
 * 3.5 s; one 50 Mbit/s link, 4 → 20 ms, carried 0.3 Mbit/s for 10 s.
 *
 * The signature: under one standing queue, the estimate fell FALL times or more, and for two
 * RTTs since, no more was in flight than twice the cap (what was sent before the fall has left).
 * That alone does not prove it: a link whose capacity fell 30 times, with a few packets of ours
 * queued, looks the same (scripts/sim-chaos.ts, seed 2343). So it is tried: the delays of now
 * become the base a queue is judged from (and the cap is sized by), and the estimate doubles; if
 * the link then delivers a quarter more than the estimate before the step, the path's delay rose,
 * and the estimate doubles again, up to what it was before the queue (a later step that brings no
 * more ends the try there: TCP may not follow at once); if the first step brings nothing within
 * three RTTs in which the link had more to send and a queue stood at the step (judged from the
 * rise's delays), its rate fell: the estimate and the delays go back, and no other try until the
 * queue ends. Without that queue the step is not judged: a TCP that backed off while the estimate
 * fell (our queue's refusals) offers less than the step for a while, and such a step was refuted
 * on a real rise (one 50 Mbit/s link, 4 → 20 ms: 1-4 Mbit/s for the 10 s the old minimum stayed;
 * test/sim/delayrise.sim.test.ts once acknowledgements took the express lane).
 */
/**
 * How far the estimate must have fallen under one standing queue. A queue of ours lowers it to
 * what the link delivered, a fraction below; only a rise (or a capacity that fell as far, which
 * the try tells apart) takes it this far. 8 until the cap's headroom became a quarter of the RTT
 * and 5 ms: the fall is slower then, and one 50 Mbit/s link beside a 5 Mbit/s one, 4 → 20 ms,
 * waited 3.1 s for the try where it had waited 1.6 (2.6 with 6). Not 4 (2.1 s): a capacity that
 * fell 5 × under a TCP too slowed to fill the pacer was tried, and a step on application-limited
 * samples alone is never judged (docs/scheduler.md, "A quarter of an RTT of headroom").
 */
const FALL = 6;
/** A step of the try is confirmed by a delivery this many times the estimate before it. */
const GROWTH = 1.25;

export class DelayRise {
  /** The estimate when the standing queue was first seen (0: no queue). */
  private startBw = 0;
  private drainedSinceMs = Number.POSITIVE_INFINITY;
  /** Trying a rise: the estimate before the last step (0: not trying), when it was taken, the best delivery since. */
  private stepBw = 0;
  private stepAtMs = 0;
  private best = 0;
  /** A step is judged only on a link that had more to send than it took (a TCP backing off offers little). */
  private loaded = false;
  /** A queue stood at some round's end of this step, judged from the rise's delays: what refutes it. */
  private queued = false;
  /** A try in this queue was not confirmed: none again until the queue ends. */
  private refuted = false;
  /** A step of this try delivered more: the rise stands whatever the next steps find. */
  private confirmed = false;
  /**
   * Since a rise: the path's RTT and one-way delay then (0, −Infinity: none), the base a queue is
   * judged from and the cap sized by, until the delays fall back. The estimator's minimum RTT
   * stays: spread.ts delayExcessMs still counts the rise against the link (a jump that ends).
   */
  rttMs = 0;
  private owdMs = Number.NEGATIVE_INFINITY;

  /** The RTT a queue is judged from, given the last round's lowest (`roundMin`). */
  rttBase(minRttMs: number, roundMin: number): number {
    if (roundMin <= (minRttMs + this.rttMs) / 2) this.rttMs = 0; // the path's delay came back
    return Math.max(minRttMs, this.rttMs);
  }

  /** The one-way delay a queue is judged from, as rttBase (its fall back ends the rise's RTT too: the cap's). */
  owdBase(minOwdMs: number, roundMin: number): number {
    if (roundMin <= (minOwdMs + this.owdMs) / 2) (this.owdMs = Number.NEGATIVE_INFINITY), (this.rttMs = 0);
    return Math.max(minOwdMs, this.owdMs);
  }

  /** The peer restarted: its clock is another one. */
  resetOneWayDelay(): void {
    this.owdMs = Number.NEGATIVE_INFINITY;
  }

  /** A delivery-rate sample: what a step of the try brought; `appLimited`: the link had no more to send. */
  sample(rate: number, appLimited: boolean): void {
    if (this.stepBw > 0 && rate > this.best) this.best = rate;
    if (!appLimited) this.loaded = true;
  }

  /**
   * A round ended: estimate `bw`, a standing queue or not, whether at most twice the cap is in
   * flight, the last round's lowest RTT and its one-way delay samples. Returns the estimate to
   * take (a step of the try, or back to before it), or 0: keep it.
   */
  round(bw: number, queueing: boolean, drained: boolean, rttMs: number, owds: readonly { rate: number }[], nowMs: number): number {
    if (this.stepBw > 0) return this.step(bw, queueing, nowMs);
    if (!queueing) return (this.startBw = 0), (this.refuted = false), 0;
    if (this.refuted) return 0;
    if (this.startBw === 0) this.startBw = bw;
    if (!drained) this.drainedSinceMs = Number.POSITIVE_INFINITY;
    else if (this.drainedSinceMs > nowMs) this.drainedSinceMs = nowMs;
    if (bw * FALL > this.startBw || nowMs - this.drainedSinceMs < 2 * rttMs) return 0;
    (this.rttMs = rttMs), (this.owdMs = Number.NEGATIVE_INFINITY);
    for (const x of owds) this.owdMs = this.owdMs === Number.NEGATIVE_INFINITY ? x.rate : Math.min(this.owdMs, x.rate);
    this.confirmed = false;
    return this.next(bw, nowMs);
  }

  private next(bw: number, nowMs: number): number {
    (this.stepBw = bw), (this.stepAtMs = nowMs), (this.best = 0), (this.loaded = false), (this.queued = false);
    return Math.min(2 * bw, this.startBw);
  }

  /** Trying: a step confirmed (the next one, or the end at the estimate from before), or not (back). */
  private step(bw: number, queueing: boolean, nowMs: number): number {
    const rtt = Math.max(this.rttMs, 1);
    if (this.best >= GROWTH * this.stepBw && nowMs - this.stepAtMs >= rtt) {
      this.confirmed = true;
      if (bw < this.startBw) return this.next(bw, nowMs);
      return (this.stepBw = 0), (this.startBw = 0), 0;
    }
    if (queueing) this.queued = true;
    if (nowMs - this.stepAtMs < 3 * rtt || !this.loaded || !this.queued) return 0;
    const before = this.stepBw;
    this.stepBw = 0;
    // A step after a confirmed one found the link's rate (or the sender's): the rise stands, the
    // estimate stays at the last step delivered, and the estimator's own probing goes on from there.
    if (this.confirmed) return (this.startBw = 0), before;
    (this.refuted = true), (this.rttMs = 0), (this.owdMs = Number.NEGATIVE_INFINITY);
    return before;
  }
}
