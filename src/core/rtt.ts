/** Smoothed round-trip time of one link (RFC 6298 §2, in milliseconds). */
export class RttEstimator {
  /** No sample yet: the tolerance checks ignore the link's latency until there is one. */
  samples = 0;
  latest = 0;
  smoothed = 0;
  variance = 0;
  min = Number.POSITIVE_INFINITY;

  update(sampleMs: number): void {
    this.latest = sampleMs;
    this.min = Math.min(this.min, sampleMs);
    if (this.samples++ === 0) {
      this.smoothed = sampleMs;
      this.variance = sampleMs / 2;
      return;
    }
    // RFC 6298: RTTVAR uses the SRTT from before this sample.
    this.variance = 0.75 * this.variance + 0.25 * Math.abs(this.smoothed - sampleMs);
    this.smoothed = 0.875 * this.smoothed + 0.125 * sampleMs;
  }
}
