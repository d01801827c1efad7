/**
 * Token buckets keyed by a string (a source address), in a bounded map: a flood of sources
 * cannot grow memory, it only evicts the oldest entries.
 */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly maxKeys = 1024,
  ) {}

  /** Takes one token for `key`; false when that key is over its rate. */
  allow(key: string, nowMs: number): boolean {
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      b = { tokens: this.burst, atMs: nowMs };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((nowMs - b.atMs) / 1000) * this.perSecond);
    b.atMs = nowMs;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

/**
 * Rate-limited log lines: the first message for a key is logged, then at most one per
 * `intervalMs`, carrying the count of those suppressed in between.
 */
export class LogLimiter {
  private readonly last = new Map<string, { atMs: number; suppressed: number }>();

  constructor(private readonly intervalMs = 10_000, private readonly maxKeys = 256) {}

  /** The text to log now (with the suppressed count appended), or undefined to stay quiet. */
  pass(key: string, message: string, nowMs: number): string | undefined {
    const e = this.last.get(key);
    if (e && nowMs - e.atMs < this.intervalMs) {
      e.suppressed++;
      return undefined;
    }
    if (!e && this.last.size >= this.maxKeys) this.last.delete(this.last.keys().next().value!);
    const suppressed = e?.suppressed ?? 0;
    this.last.set(key, { atMs: nowMs, suppressed: 0 });
    return suppressed > 0 ? `${message} (${suppressed} more since the last report)` : message;
  }
}
