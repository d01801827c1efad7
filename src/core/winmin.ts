/**
 * The minimum of a sample stream over a sliding time window, in constant space: Kathleen
 * Nichols' algorithm as in Linux's lib/win_minmax.c (what BBR keeps its min RTT in). It keeps
 * the best sample and the best ones of the later quarter and half of the window, so that when the
 * best ages out the estimate falls back to the best sample of the rest of the window, not to
 * whatever the current sample is. Taking the current sample lost a queue-free minimum for a
 * queued one when the window ran out during a standing queue: the queue then no longer showed
 * (seen on the simulator: test/sim/capacitydrop.sim.test.ts, where the one queue-free sample
 * of a link that always had a standing queue was the acknowledgement of a keepalive, and the
 * capacity drop came a few ms after it aged out).
 */
export class WindowedMin {
  private readonly t = new Float64Array(3);
  private readonly v = new Float64Array(3).fill(Number.POSITIVE_INFINITY);

  constructor(private readonly windowMs: number) {}

  /** The current minimum (Infinity before any sample). */
  get value(): number {
    return this.v[0]!;
  }

  reset(): void {
    this.v.fill(Number.POSITIVE_INFINITY);
    this.t.fill(0);
  }

  /** Adds a sample taken at `nowMs` (non-decreasing) and returns the window's minimum. */
  update(value: number, nowMs: number): number {
    const { t, v } = this;
    if (value <= v[0]! || nowMs - t[2]! > this.windowMs) {
      this.set(0, value, nowMs);
      this.set(1, value, nowMs);
      this.set(2, value, nowMs);
      return value;
    }
    if (value <= v[1]!) {
      this.set(1, value, nowMs);
      this.set(2, value, nowMs);
    } else if (value <= v[2]!) {
      this.set(2, value, nowMs);
    }
    const dt = nowMs - t[0]!;
    if (dt > this.windowMs) {
      // The best aged out: the later ones move up, and this sample becomes the latest.
      this.shift(value, nowMs);
      if (nowMs - t[0]! > this.windowMs) this.shift(value, nowMs);
    } else if (t[1] === t[0] && dt > this.windowMs / 4) {
      // A quarter of the window passed with no better sample: the best of the rest starts here.
      this.set(1, value, nowMs);
      this.set(2, value, nowMs);
    } else if (t[2] === t[1] && dt > this.windowMs / 2) {
      this.set(2, value, nowMs);
    }
    return v[0]!;
  }

  private shift(value: number, nowMs: number): void {
    this.set(0, this.v[1]!, this.t[1]!);
    this.set(1, this.v[2]!, this.t[2]!);
    this.set(2, value, nowMs);
  }

  private set(i: number, value: number, atMs: number): void {
    this.v[i] = value;
    this.t[i] = atMs;
  }
}
