/**
 * Loss as a sign of a full bottleneck, round by round (estimator.ts `full`).
 *
 * The estimator judges a queue by delay: a queue past a quarter of the minimum RTT plus 5 ms. A
 * bottleneck whose buffer holds less than that never shows it, and overflows instead: an uplink
 * of 1.25 Mbit/s carrying TCP's acknowledgements (120 bytes each on the wire) holds 32 packets,
 * about 25 ms, in the simulator, and lost a quarter of what it was sent while the probing gain
 * (1.25) stayed on (docs/scheduler.md, "Twelve packets a train": asymmetric links). A round that
 * loses more than LOSS_FULL_SHARE of its packets, and at least MIN_LOST of them, counts as full
 * for the next round, as a queue does (BBRv2's loss threshold is 2 %; the simulator's lossy links
 * lose 1 % at random, which this must not take for a full link).
 */
const LOSS_FULL_SHARE = 0.05;
const MIN_LOST = 3;

export class RoundLoss {
  /** This round's packets acknowledged and found lost (estimator.ts onDelivered, onLost). */
  delivered = 0;
  lost = 0;
  /** The last whole round lost what only a full bottleneck loses. */
  full = false;

  endRound(): void {
    this.full = this.lost >= MIN_LOST && this.lost > LOSS_FULL_SHARE * (this.lost + this.delivered);
    this.delivered = 0;
    this.lost = 0;
  }
}
