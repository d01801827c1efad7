/**
 * Loss as a sign of a full bottleneck, round by round (estimator.ts `full`).
 *
 * The estimator judges a queue by delay: a queue past a quarter of the minimum RTT plus 5 ms. A
 * bottleneck whose buffer holds less than that never shows it, and overflows instead: an uplink
 * of 1.25 Mbit/s carrying TCP's acknowledgements (120 bytes each on the wire) holds 32 packets,
 * about 25 ms, in the simulator, and lost a quarter of what it was sent while the probing gain
 * (1.25) stayed on (docs/scheduler.md, "Twelve packets a train": asymmetric links). A round that
 * loses LOSS_FULL_SHARE more of its packets than the link's usual share, and at least MIN_LOST of
 * them, counts as full for the next round, as a queue does (BBRv2's loss threshold is 2 %). The
 * usual share is what the link loses at random, which says nothing about a full bottleneck: a
 * smoothed share over many rounds (the grid's lossy links lose 1 %, a poor radio link more).
 */
const LOSS_FULL_SHARE = 0.05;
const MIN_LOST = 3;
/** Rounds the usual share averages over: a random loss rate shows in it within a few seconds, a full bottleneck's burst of loss hardly. */
const USUAL_ROUNDS = 16;

/** How long a bottleneck's overflow is remembered (as the minimum RTT's window, queuesignal.ts). */
const OVERFLOW_MEMORY_MS = 10_000;

export class RoundLoss {
  /** This round's packets acknowledged and found lost (estimator.ts onDelivered, linksender.ts findLost). */
  delivered = 0;
  lost = 0;
  /** The last whole round lost what only a full bottleneck loses. */
  full = false;
  /** The link's usual loss share (smoothed over USUAL_ROUNDS rounds that sent anything). */
  private usual = 0;
  /** The most of ours in flight this round, and in the last round that lost as a full bottleneck does (when). */
  private inflightMax = 0;
  private overflowBytes = Number.POSITIVE_INFINITY;
  private overflowAtMs = Number.NEGATIVE_INFINITY;

  /** Bytes of ours in flight now (estimator.ts onTick). */
  inFlight(bytes: number): void {
    if (bytes > this.inflightMax) this.inflightMax = bytes;
  }

  endRound(nowMs: number): void {
    const sent = this.lost + this.delivered;
    this.full = this.lost >= MIN_LOST && this.lost > (this.usual + LOSS_FULL_SHARE) * sent;
    if (sent > 0) this.usual += (this.lost / sent - this.usual) / USUAL_ROUNDS;
    if (this.full) (this.overflowBytes = this.inflightMax), (this.overflowAtMs = nowMs);
    this.delivered = 0;
    this.lost = 0;
    this.inflightMax = 0;
  }

  /**
   * The most we had in flight in the last round in which the bottleneck overflowed, within
   * OVERFLOW_MEMORY_MS (Infinity: none): its buffer holds less than that beyond the pipe. A buffer
   * counted in packets holds little time of small ones (32 acknowledgements: 25 ms at 1.25 Mbit/s).
   */
  overflowInflight(nowMs: number): number {
    return nowMs - this.overflowAtMs < OVERFLOW_MEMORY_MS ? this.overflowBytes : Number.POSITIVE_INFINITY;
  }
}
