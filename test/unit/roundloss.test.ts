/**
 * Loss as a sign of a full bottleneck (src/core/roundloss.ts), and what the estimator does with it:
 * a round that lost more than 5 % of its packets (3 at least) stops the probing gain, as a queue does.
 */
import { describe, expect, test } from "bun:test";
import { RateEstimator } from "../../src/core/estimator.ts";
import { RoundLoss } from "../../src/core/roundloss.ts";

describe("RoundLoss", () => {
  const round = (delivered: number, lost: number) => {
    const r = new RoundLoss();
    r.delivered = delivered;
    r.lost = lost;
    r.endRound(0);
    return r;
  };

  test("more than 5 % lost, at least 3 packets: full; the counts start again each round", () => {
    expect(round(40, 3).full).toBe(true); // 7 %
    const r = round(95, 5); // 5 % exactly: not more
    expect(r.full).toBe(false);
    expect([r.delivered, r.lost]).toEqual([0, 0]);
  });

  test("a random 1 % (the grid's lossy links), or a slow link's one or two losses, is not a full bottleneck", () => {
    expect(round(990, 10).full).toBe(false);
    expect(round(8, 2).full).toBe(false); // 20 %, but two packets say nothing
  });

  test("a link that loses 8 % at random (a poor radio link) learns it as its usual share; 5 % more than that is full", () => {
    const r = new RoundLoss();
    const fullAfter = (delivered: number, lost: number) => ((r.delivered = delivered), (r.lost = lost), r.endRound(0), r.full);
    const first = [0, 1, 2, 3].map(() => fullAfter(92, 8));
    expect(first[0]).toBe(true); // before it knows the link: 8 % is more than 0 + 5 %
    for (let k = 0; k < 60; k++) fullAfter(92, 8);
    expect(fullAfter(92, 8)).toBe(false);
    expect(fullAfter(80, 20)).toBe(true); // 20 %: 12 more than usual
  });

  test("the most in flight in the last round that overflowed is remembered for 10 s (the express lane keeps below it)", () => {
    const r = new RoundLoss();
    expect(r.overflowInflight(0)).toBe(Number.POSITIVE_INFINITY);
    const endRound = (atMs: number, delivered: number, lost: number, inflight: number[]) => {
      for (const bytes of inflight) r.inFlight(bytes);
      (r.delivered = delivered), (r.lost = lost), r.endRound(atMs);
    };
    endRound(100, 40, 0, [3000, 9000]); // nothing lost: no overflow
    expect(r.overflowInflight(100)).toBe(Number.POSITIVE_INFINITY);
    endRound(200, 40, 4, [5000, 7000, 6000]); // 9 % lost: overflowed at most 7000 in flight
    expect(r.overflowInflight(200)).toBe(7000);
    endRound(300, 40, 0, [12_000]); // a round without loss does not raise it
    expect(r.overflowInflight(9_999)).toBe(7000);
    expect(r.overflowInflight(10_200)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe("RateEstimator with loss", () => {
  /** Rounds of 20 ms, backlogged, delivering 100 bytes/ms; `lossy`: from round 8 on, each round loses 10 % of its packets. */
  function probingRounds(lossy: boolean): number {
    const e = new RateEstimator(0, 0);
    e.startFrom(100);
    e.onRttSample(20, 0);
    let now = 0;
    let probing = 0;
    for (let round = 0; round < 16; round++) {
      for (let k = 0; k < 36; k++) e.onDelivered(56);
      if (lossy && round >= 8) e.loss.lost += 4;
      now += 20;
      e.onTick(now, true);
      e.onRateSample(100, false, now);
      if (round >= 8 && e.pacingRate() > 1.01 * e.bandwidth) probing++;
    }
    return probing;
  }

  test("a backlogged link without a queue probes at 1.25 every round; one that starts losing 10 % a round, only in the cycle's probing round", () => {
    expect(probingRounds(false)).toBe(8);
    expect(probingRounds(true)).toBeLessThanOrEqual(1);
  });
});
