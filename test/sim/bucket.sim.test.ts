/**
 * A link behind a shaper's token bucket (the lab's htb, DOCSIS, a policer), through the tunnel's
 * data plane (corepair.ts): after an idle spell the bucket passes a burst at line rate, so the
 * rate train reads "too fast to tell" and the link starts up from the guess, and startup's early
 * delivery samples are bursts.
 *
 * The fault this pins (docs/scheduler.md, "Shapers' buckets, and stale round means"): at
 * startup's end the estimate fell to the one round mean recorded, from startup's first rounds
 * (22 Mbit/s on this 100 Mbit/s link), and the scheduler refused 624 of TCP's packets as
 * queue-full in 8 s; the same link without the bucket, 50.
 */
import { describe, expect, test } from "bun:test";
import { meanGoodput, runTransfer, WARMUP_MS } from "./corepair.ts";
import { bucketBytes, LAB_BUCKET_MS, type PathSpec } from "./pathmodel.ts";

const DURATION_MS = 8_000;
const RATE_MBIT = 100;

function run(path: PathSpec): { goodput: number; refused: number; lowestEstimateMbit: number } {
  let lowest = Number.POSITIVE_INFINITY;
  const r = runTransfer({
    links: [{ up: path, down: path }],
    download: false,
    durationMs: DURATION_MS,
    reorderSize: 64,
    cc: "cubic",
    seed: 1,
    // From 1 s on: startup ends at 1.2-1.4 s on this path with the bucket.
    onTick: (now, _paths, ends) => {
      if (now - WARMUP_MS >= 1000) lowest = Math.min(lowest, (ends[0]!.links[0]!.sender.estimator.bandwidth * 8) / 1000);
    },
  });
  return { goodput: meanGoodput(r, 0, DURATION_MS), refused: r.drops.get("queue-full") ?? 0, lowestEstimateMbit: lowest };
}

describe("a link behind a token bucket", () => {
  test("startup's end keeps the estimate near the link's rate: no hundreds of packets refused", () => {
    const plain = run({ rateMbit: RATE_MBIT, delayMs: 15 });
    const bucket = run({ rateMbit: RATE_MBIT, delayMs: 15, burstBytes: bucketBytes(RATE_MBIT, LAB_BUCKET_MS) });
    // Measured: without the bucket 88.9 Mbit/s, 50 refused; with it 85.2 and 51 (before the fix
    // 80.9 and 624, the estimate down to 22 Mbit/s).
    expect(bucket.lowestEstimateMbit).toBeGreaterThan(RATE_MBIT / 2);
    expect(bucket.refused).toBeLessThan(3 * plain.refused + 20);
    expect(bucket.goodput).toBeGreaterThan(0.93 * plain.goodput);
  });
});
