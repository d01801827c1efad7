/**
 * How long a link's queue takes to leave while the link is in startup (startup.ts
 * startupDrainMs): its rate doubles each round, so a wait judged at the rate of now is too long
 * past the first round. The scheduler compares links by it (docs/scheduler.md, "Shapers' buckets").
 */
import { describe, expect, test } from "bun:test";
import { RateEstimator } from "../../src/core/estimator.ts";
import { startupDrainMs } from "../../src/core/startup.ts";

describe("startupDrainMs", () => {
  test("within a round the wait is as judged; past it, each round drains twice the last", () => {
    // rounds of 20 ms: 20 ms at the rate of now in the first, 40 in the second, 80 in the third
    expect(startupDrainMs(0, 20)).toBe(0);
    expect(startupDrainMs(10, 20)).toBe(10);
    expect(startupDrainMs(20, 20)).toBe(20);
    expect(startupDrainMs(30, 20)).toBe(25); // 20 in the first round, the other 10 at twice the rate
    expect(startupDrainMs(60, 20)).toBe(40);
    expect(startupDrainMs(140, 20)).toBe(60);
  });

  test("never longer than judged, never decreasing, continuous across round boundaries", () => {
    let last = 0;
    for (let w = 0; w <= 2000; w += 0.5) {
      const d = startupDrainMs(w, 30);
      expect(d).toBeLessThanOrEqual(w);
      expect(d).toBeGreaterThanOrEqual(last);
      expect(d - last).toBeLessThanOrEqual(0.5 + 1e-9);
      last = d;
    }
  });

  test("the round is the estimator's: at least 10 ms, and 100 ms before any RTT sample", () => {
    const e = new RateEstimator(0, 0);
    expect(e.roundMs()).toBe(100);
    expect(startupDrainMs(150, e.roundMs())).toBe(125);
    e.onRttSample(2, 0);
    expect(e.roundMs()).toBe(10);
    expect(startupDrainMs(30, e.roundMs())).toBe(20);
  });
});
