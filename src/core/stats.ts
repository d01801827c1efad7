/** Why packets were dropped; every drop on the data path is counted under one of these. */
export const DROP_REASONS = [
  // receive side
  "short",
  "bad-type",
  "bad-kind",
  "bad-flags",
  "bad-seq",
  "bad-size",
  "bad-link",
  "bad-mac",
  "bad-cookie",
  "unconfirmed",
  "cleartext-refused",
  "bad-key",
  "cipher-mismatch",
  "replay",
  "unknown-session",
  "stale-peer",
  "handshake-rate",
  "unexpected-handshake",
  "legacy-peer",
  // send side
  "too-big",
  "no-link",
  "queue-full",
  "no-peer",
  "keys-exhausted",
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export class DropCounters {
  private readonly counts = new Map<DropReason, number>();

  add(reason: DropReason): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
  }

  get(reason: DropReason): number {
    return this.counts.get(reason) ?? 0;
  }

  total(): number {
    let t = 0;
    for (const v of this.counts.values()) t += v;
    return t;
  }

  /** Non-zero counters, for status output. */
  snapshot(): Partial<Record<DropReason, number>> {
    return Object.fromEntries(this.counts);
  }
}
