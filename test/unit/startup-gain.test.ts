/**
 * How fast a link in startup grows while packets wait for its pacer (startup.ts startupGain,
 * estimator.ts setStartupGain): as fast as a TCP whose acknowledgements return on the nearest
 * link doubles its window (docs/scheduler.md, "Startup behind TCP's slow start").
 */
import { describe, expect, test } from "bun:test";
import { RateEstimator } from "../../src/core/estimator.ts";
import { startupGain } from "../../src/core/startup.ts";

describe("startupGain", () => {
  test("2 (doubling) for the nearest link and for links of equal delay", () => {
    expect(startupGain(20, 20)).toBe(2);
    expect(startupGain(0.5, 0.5)).toBe(2);
    expect(startupGain(0, 0)).toBe(2); // no delay measured: no reason to go faster
  });

  test("2 ** (the link's round ÷ TCP's shortest round), below 4", () => {
    // 40 ms away, the nearest 2 ms: TCP's round 42 ms, the link's 80 ms
    expect(startupGain(40, 2)).toBeCloseTo(2 ** (80 / 42), 9);
    expect(startupGain(30, 10)).toBeCloseTo(2 ** 1.5, 9);
    expect(startupGain(1000, 0)).toBe(4);
    let last = 2;
    for (let d = 1; d <= 200; d++) {
      const g = startupGain(d, 1);
      expect(g).toBeGreaterThanOrEqual(last);
      expect(g).toBeLessThanOrEqual(4);
      last = g;
    }
  });
});

describe("RateEstimator.setStartupGain", () => {
  const paced = (e: RateEstimator) => e.pacingRate() / e.bandwidth;

  test("applies in startup while packets wait for the pacer, and never below 2", () => {
    const e = new RateEstimator(0, 0);
    e.setStartupGain(3.5);
    expect(paced(e)).toBe(2); // nothing waits yet
    e.onTick(1, true);
    expect(paced(e)).toBe(3.5);
    const capAt35 = e.inflightCap();
    e.setStartupGain(1);
    expect(paced(e)).toBe(2);
    expect(e.inflightCap()).toBeLessThan(capAt35); // the in-flight cap follows the gain
    e.setStartupGain(Number.NaN);
    expect(paced(e)).toBe(2);
  });

  test("has no effect once startup is over", () => {
    const e = new RateEstimator(0, 0);
    e.startFrom(1000); // a train's reading: no startup
    e.setStartupGain(4);
    e.onTick(1, true);
    expect(e.inStartup).toBe(false);
    expect(paced(e)).toBeLessThanOrEqual(1.25);
  });
});
