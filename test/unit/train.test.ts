/**
 * The rate train sent at link-up (src/core/train.ts): its reading from the peer's arrival clocks,
 * and what the estimator takes from it (only a rate below the guess).
 */
import { describe, expect, test } from "bun:test";
import { INITIAL_RATE_BYTES_PER_MS, RateEstimator } from "../../src/core/estimator.ts";
import { RateTrain, TRAIN_PACKETS } from "../../src/core/train.ts";

const BYTES = 1500;

/** Acknowledges counters first … first + arrivals.length − 1 in order, the k-th arriving at arrivals[k] (ms); the train's result. */
function run(first: number, arrivalsMs: (number | undefined)[]): number | undefined {
  const t = new RateTrain();
  t.sent(first, BYTES);
  let result: number | undefined;
  arrivalsMs.forEach((ms, k) => {
    if (ms === undefined) return; // lost (or its acknowledgement was)
    const r = t.onAck((first + k) >>> 0, Math.round(ms * 10) >>> 0);
    if (r !== undefined) result = r;
  });
  return result;
}

describe("RateTrain", () => {
  test("the spacing at the peer is the bottleneck's rate: 4 ms per 1500 bytes is 375 bytes/ms (3 Mbit/s)", () => {
    const arrivals = Array.from({ length: TRAIN_PACKETS }, (_, k) => 100 + 4 * k);
    expect(run(0, arrivals)).toBeCloseTo(375, 6);
  });

  test("a token bucket that lets the first packets through at once does not change the reading (median spacing)", () => {
    // three packets at once, then the bottleneck's 4 ms
    const arrivals = [100, 100, 100, 104, 108, 112, 116, 120];
    expect(run(0, arrivals)).toBeCloseTo(375, 6);
  });

  test("a train that arrives all at once is too fast to tell: Infinity", () => {
    expect(run(0, new Array(TRAIN_PACKETS).fill(50))).toBe(Number.POSITIVE_INFINITY);
  });

  test("no reading before the train's last packet is acknowledged", () => {
    const t = new RateTrain();
    t.sent(10, BYTES);
    for (let k = 0; k < TRAIN_PACKETS - 1; k++) expect(t.onAck(10 + k, 1000 + 40 * k)).toBeUndefined();
    expect(t.over).toBe(false);
    expect(t.onAck(10 + TRAIN_PACKETS - 1, 1000 + 40 * (TRAIN_PACKETS - 1))).toBeCloseTo(375, 6);
    expect(t.over).toBe(true);
    // once over, later acknowledgements give nothing
    expect(t.onAck(10 + TRAIN_PACKETS + 3, 9999)).toBeUndefined();
  });

  test("packets lost: the spacings between consecutive packets heard still give the rate; a later counter ends the train", () => {
    const t = new RateTrain();
    t.sent(0, BYTES);
    // packets 0, 1, 3, 4, 5 heard (2, 6, 7 lost), then a keepalive's counter 9 is acknowledged
    for (const k of [0, 1, 3, 4, 5]) expect(t.onAck(k, 20_000 + 80 * k)).toBeUndefined();
    expect(t.onAck(9, 30_000)).toBeCloseTo(BYTES / 8, 6);
  });

  test("too few spacings heard: no reading (the guess stays)", () => {
    expect(run(0, [100, undefined, 108, undefined, 116, undefined, 124, 128])).toBeUndefined();
  });

  test("counters and the peer's clock wrap at 2^32", () => {
    const first = 2 ** 32 - 3; // the train's counters cross the wrap (low 32 bits on the wire)
    const t = new RateTrain();
    t.sent(first, BYTES);
    let result: number | undefined;
    for (let k = 0; k < TRAIN_PACKETS; k++) {
      const clock = (2 ** 32 - 20 + 40 * k) >>> 0; // the peer's clock wraps during the train too
      const r = t.onAck((first + k) >>> 0, clock);
      if (r !== undefined) result = r;
    }
    expect(result).toBeCloseTo(375, 6);
  });

  test("an acknowledgement of a counter before the train says nothing about it", () => {
    const t = new RateTrain();
    t.sent(100, BYTES);
    expect(t.onAck(99, 5)).toBeUndefined();
    expect(t.over).toBe(false);
  });
});

describe("RateEstimator.startFrom", () => {
  test("a reading below the guess becomes the estimate, still in startup", () => {
    const e = new RateEstimator(0, 0);
    e.startFrom(125);
    expect(e.bandwidth).toBe(125);
    expect(e.isGuess).toBe(false);
    expect(e.inStartup).toBe(true);
  });

  test("a reading above the guess is ignored: a token bucket may have passed the train at line rate", () => {
    const e = new RateEstimator(0, 0);
    e.startFrom(INITIAL_RATE_BYTES_PER_MS * 20);
    e.startFrom(Number.POSITIVE_INFINITY);
    expect(e.bandwidth).toBe(INITIAL_RATE_BYTES_PER_MS);
    expect(e.isGuess).toBe(true);
  });

  test("a configured bandwidth_upload or a measured rate is not replaced", () => {
    const capped = new RateEstimator(2_000_000, 0); // bytes per second
    capped.startFrom(100);
    expect(capped.bandwidth).toBe(2000);
    const measured = new RateEstimator(0, 0);
    measured.onRateSample(2 * INITIAL_RATE_BYTES_PER_MS, false, 10);
    measured.startFrom(100);
    expect(measured.bandwidth).toBe(2 * INITIAL_RATE_BYTES_PER_MS);
  });
});
