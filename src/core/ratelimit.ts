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
 * The one limiter of repeated log lines, sans-I/O: the caller gives the time. The first line for a
 * key is written; the repeats within the next `windowMs` are counted instead. When a window with
 * repeats ends, its count is reported and a new window opens; a quiet window forgets the key. The
 * count is reported either by the next line for the key (`pass`, all the core needs: it keeps no
 * timer) or at the window's end by whoever calls `expire` (src/log.ts, from a timer). At most
 * `maxKeys` keys are open: a flood of distinct ones evicts the oldest, handing its count to
 * `evicted`. The map stays in the order windows opened, so the oldest window is the first entry.
 */
export class RepeatLimiter<T> {
  private readonly open = new Map<string, { value: T; sinceMs: number; count: number }>();

  constructor(
    private readonly windowMs: number,
    private readonly maxKeys: number,
    private readonly evicted: (value: T, count: number) => void = () => {},
  ) {}

  /**
   * A line for `key`: -1 when it repeats one written within the window (counted, not to be
   * written), else the number of earlier repeats not reported yet, to mention as it is written.
   */
  pass(key: string, value: T, nowMs: number): number {
    const r = this.open.get(key);
    if (r && nowMs - r.sinceMs < this.windowMs) {
      r.count++;
      return -1;
    }
    if (r) this.open.delete(key);
    else if (this.open.size >= this.maxKeys) this.evictOldest();
    this.open.set(key, { value, sinceMs: nowMs, count: 0 });
    return r?.count ?? 0;
  }

  /**
   * Ends the windows over at `nowMs`, oldest first: one with repeats goes to `report` and opens a
   * new window, a quiet one forgets its key. Returns when the next window ends, or undefined.
   */
  expire(nowMs: number, report: (value: T, count: number) => void): number | undefined {
    for (const [key, r] of this.open) {
      if (nowMs - r.sinceMs < this.windowMs) return r.sinceMs + this.windowMs;
      this.open.delete(key);
      if (r.count === 0) continue;
      report(r.value, r.count);
      this.open.set(key, { value: r.value, sinceMs: nowMs, count: 0 });
    }
    return undefined;
  }

  /** Reports every count not reported yet and forgets every key (at shutdown). */
  flush(report: (value: T, count: number) => void): void {
    for (const r of this.open.values()) if (r.count > 0) report(r.value, r.count);
    this.open.clear();
  }

  private evictOldest(): void {
    const [key, r] = this.open.entries().next().value!;
    this.open.delete(key);
    if (r.count > 0) this.evicted(r.value, r.count);
  }
}

/**
 * The core's rate-limited log lines (keyed by what happened, not by the text, which carries a
 * source address that a flood varies): the first line for a key is logged, then at most one per
 * `intervalMs`, carrying the count of those suppressed in between.
 */
export class LogLimiter {
  private readonly repeats: RepeatLimiter<undefined>;

  constructor(intervalMs = 10_000, maxKeys = 256) {
    this.repeats = new RepeatLimiter(intervalMs, maxKeys);
  }

  /** The text to log now (with the suppressed count appended), or undefined to stay quiet. */
  pass(key: string, message: string, nowMs: number): string | undefined {
    const suppressed = this.repeats.pass(key, undefined, nowMs);
    if (suppressed < 0) return undefined;
    return suppressed > 0 ? `${message} (${suppressed} more since the last report)` : message;
  }
}
