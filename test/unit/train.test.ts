/**
 * The rate train sent at link-up (src/core/train.ts): its reading from the peer's arrival clocks
 * (never above the bottleneck's rate for the clocks' rounding), and what the estimator takes from it.
 */
import { describe, expect, test } from "bun:test";
import { INITIAL_RATE_BYTES_PER_MS, RateEstimator } from "../../src/core/estimator.ts";
import { Link } from "../../src/core/link.ts";
import { RateTrain, RateTrains, TRAIN_PACKETS } from "../../src/core/train.ts";
import { TUNNEL_OVERHEAD } from "../../src/wire/layout.ts";
import { linkConfig } from "../sim/simnet.ts";

const BYTES = 1500;

/** `n` arrivals at the same instant (packets a bucket let through at once). */
const at = (n: number, ms: number): number[] => new Array<number>(n).fill(ms);

/**
 * Acknowledges counters first … first + arrivals.length − 1 in order, the k-th arriving at
 * arrivals[k] (ms); the train's result. When the last was not heard, a later counter's
 * acknowledgement (a keepalive's) ends the train.
 */
function run(first: number, arrivalsMs: (number | undefined)[]): number | undefined {
  // a whole train: a shorter array would end no train and read as "no reading"
  expect(arrivalsMs.length).toBe(TRAIN_PACKETS);
  const t = new RateTrain();
  t.sent(first, BYTES);
  let result: number | undefined;
  arrivalsMs.forEach((ms, k) => {
    if (ms === undefined) return; // lost (or its acknowledgement was)
    const r = t.onAck((first + k) >>> 0, Math.round(ms * 10) >>> 0);
    if (r !== undefined) result = r;
  });
  if (!t.over) result = t.onAck((first + TRAIN_PACKETS) >>> 0, 0);
  return result;
}

describe("RateTrain", () => {
  test("the spacing at the peer is the bottleneck's rate, counted one clock unit (0.1 ms) wider: 4 ms per 1500 bytes reads 1500 / 4.1", () => {
    const arrivals = Array.from({ length: TRAIN_PACKETS }, (_, k) => 100 + 4 * k);
    expect(run(0, arrivals)).toBeCloseTo(BYTES / 4.1, 6);
  });

  test("never above the rate, whatever the spacing and the phase of the peer's 0.1 ms clock", () => {
    for (let gapMs = 0.05; gapMs <= 6; gapMs *= 1.07) {
      for (const phase of [0, 0.013, 0.049, 0.051, 0.097]) {
        const r = run(0, Array.from({ length: TRAIN_PACKETS }, (_, k) => phase + gapMs * k));
        expect(r).toBeDefined();
        if (Number.isFinite(r!)) {
          expect(r!).toBeLessThanOrEqual(BYTES / gapMs);
          // and within two clock units of it
          expect(r!).toBeGreaterThan(BYTES / (gapMs + 0.2));
        }
      }
    }
  });

  test("a token bucket that lets the first packets through at once does not change the reading (median spacing)", () => {
    // three packets at once, then the bottleneck's 4 ms
    const arrivals = [...at(3, 100), 104, 108, 112, 116, 120, 124, 128, 132, 136];
    expect(run(0, arrivals)).toBeCloseTo(BYTES / 4.1, 6);
  });

  test("a bucket of more than half the train: the last spacings give the rate (a bucket compresses the head, never the tail)", () => {
    // seven packets at once (the lab's htb at 5 Mbit/s passes ~6), then the bottleneck's 2.4 ms
    expect(run(0, [...at(7, 100), 102.4, 104.8, 107.2, 109.6, 112])).toBeCloseTo(BYTES / 2.5, 6);
    // the bucket's last partial token shortens one spacing: the tail's median outvotes it
    expect(run(0, [...at(7, 100), 101.4, 103.8, 106.2, 108.6, 111])).toBeCloseTo(BYTES / 2.5, 6);
    // one spacing past the burst (a bucket of eleven): too fast to tell, as before
    expect(run(0, [...at(11, 100), 104])).toBe(Number.POSITIVE_INFINITY);
    // a zero in the tail (a batch read): too fast to tell, as before
    expect(run(0, [...at(7, 100), 104, 104, 108, 112, 116])).toBe(Number.POSITIVE_INFINITY);
    // a tail packet not heard: its two spacings left out, the rest of the tail gives the rate
    expect(run(0, [...at(7, 100), 104, undefined, 108, 112, 116])).toBeCloseTo(BYTES / 4.1, 6);
  });

  test("past a burst, the tail's median (of two, the wider) is read: never a higher reading than the spacings show", () => {
    // the lab's htb at 5 Mbit/s: seven at once (across a tick of the clock), the partial token's 1.2 ms, then 2.5 ms
    expect(run(0, [100, ...at(6, 100.1), 101.3, 103.8, 106.3, 108.8, 111.3])).toBeCloseTo(BYTES / 2.6, 6);
    // two spacings past the burst's first: the wider (cross traffic widened the last)
    expect(run(0, [...at(9, 100), 102.4, 104.8, 108.8])).toBeCloseTo(BYTES / 4.1, 6);
    // three: their median
    expect(run(0, [...at(8, 100), 102.4, 104.8, 108.8, 111.2])).toBeCloseTo(BYTES / 2.5, 6);
    // the first wider than the next (a late dequeue shortened the last): kept, the wider read
    expect(run(0, [...at(3, 100), ...at(7, 100.1), 103.2, 104.6])).toBeCloseTo(BYTES / 3.2, 6);
    // one spacing past the burst (maybe what was left in the bucket): too fast to tell, as before
    expect(run(0, [...at(11, 100), 102.4])).toBe(Number.POSITIVE_INFINITY);
    // short spacings scattered (a path's jitter bunching packets): the median alone, as before
    expect(run(0, [100, 103, 103, 107, 107, 110, 110, 114, 114, 117, 117, 121])).toBeCloseTo(BYTES / 3.1, 6);
  });

  test("a packet not heard past a bucket's burst: what the bucket left is not read as the rate (2.4 ms a packet: never above 1500 / 2.4)", () => {
    // Six at once, the partial token's 0.5 ms, then 2.4 ms: the tail rule gave up on any packet
    // not heard, and the median, the 0.5 ms, read 2500 bytes/ms, four times the rate.
    const cases: (number | undefined)[][] = [
      [...at(6, 100), 100.5, 102.9, 105.3, 107.7, 110.1, undefined], // the last lost: a later counter ends the train
      [...at(5, 100), 100.5, 102.9, undefined, 107.7, 110.1, 112.5, 114.9], // one in the tail
      [100, undefined, ...at(5, 100), 100.5, 102.9, 105.3, 107.7, 110.1], // one in the burst
    ];
    for (const arrivals of cases) {
      const r = run(0, arrivals);
      expect(r).toBeLessThanOrEqual(BYTES / 2.4);
      expect(r).toBeCloseTo(BYTES / 2.5, 6);
    }
  });

  test("where packets came together, a median of one clock unit is the burst, not the rate: too fast to tell", () => {
    // a 5 Mbit/s link behind htb, the bucket's burst read across ticks of the clock (as in the lab)
    expect(run(0, [100, 100.1, 100.7, 100.7, 100.8, 100.8, 100.8, 100.9, 100.9, 101.9, 104.4, 106.9])).toBe(Number.POSITIVE_INFINITY);
    // no packets together: one unit is a fast link's spacing (0.1 ms, counted as 0.2)
    expect(run(0, Array.from({ length: TRAIN_PACKETS }, (_, k) => 100 + k / 10))).toBeCloseTo(BYTES / 0.2, 6);
  });

  test("a train that arrives all at once is too fast to tell: Infinity", () => {
    expect(run(0, new Array(TRAIN_PACKETS).fill(50))).toBe(Number.POSITIVE_INFINITY);
  });

  test("no reading before the train's last packet is acknowledged", () => {
    const t = new RateTrain();
    t.sent(10, BYTES);
    for (let k = 0; k < TRAIN_PACKETS - 1; k++) expect(t.onAck(10 + k, 1000 + 40 * k)).toBeUndefined();
    expect(t.over).toBe(false);
    expect(t.onAck(10 + TRAIN_PACKETS - 1, 1000 + 40 * (TRAIN_PACKETS - 1))).toBeCloseTo(BYTES / 4.1, 6);
    expect(t.over).toBe(true);
    // once over, later acknowledgements give nothing
    expect(t.onAck(10 + TRAIN_PACKETS + 3, 9999)).toBeUndefined();
  });

  test("packets lost: the spacings between consecutive packets heard still give the rate; a later counter ends the train", () => {
    const t = new RateTrain();
    t.sent(0, BYTES);
    // packets 0, 1, 3, 4, 5 heard (the others lost), then a keepalive's counter past the train is acknowledged
    for (const k of [0, 1, 3, 4, 5]) expect(t.onAck(k, 20_000 + 80 * k)).toBeUndefined();
    expect(t.onAck(TRAIN_PACKETS + 1, 30_000)).toBeCloseTo(BYTES / 8.1, 6);
  });

  test("too few spacings heard: no reading (the guess stays)", () => {
    expect(run(0, [100, undefined, 108, undefined, 116, undefined, 124, undefined, 132, undefined, 140, 144])).toBeUndefined();
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
    expect(result).toBeCloseTo(BYTES / 4.1, 6);
  });

  test("an acknowledgement of a counter before the train says nothing about it", () => {
    const t = new RateTrain();
    t.sent(100, BYTES);
    expect(t.onAck(99, 5)).toBeUndefined();
    expect(t.over).toBe(false);
  });
});

describe("RateTrains", () => {
  test("a train unanswered when the session starts again from counter 0 reads nothing of the new session: a new train measures the link", () => {
    const l = new Link(0, linkConfig({}, 0), 1432, 0);
    let counter = 0; // the session's transport counter
    const trains = new RateTrains(() => counter++);
    const ack = (c: number, ms: number): void => trains.onFeedback(l, c >>> 0, Math.round(ms * 10) >>> 0);
    // Session 1: the handshake's probe (counter 0) is acknowledged, and the train goes (1 … 12).
    l.sender.resetFlight(1);
    trains.measure(l);
    counter = 1;
    ack(0, 0);
    expect(counter).toBe(1 + TRAIN_PACKETS);
    // The link goes down before any of it is acknowledged; a new session counts from 0 (link.ts install).
    l.sender.resetFlight(2);
    counter = 0;
    trains.measure(l);
    // Keepalives a second apart, each acknowledged; a new train goes at the first acknowledgement
    // and is lost. Before: the old train read counters 1 … 12 of the new session, 1.5 bytes/ms.
    for (let k = 0; k < 20; k++) ack(counter++, 1000 * k);
    expect(l.sender.estimator.bandwidth).toBe(INITIAL_RATE_BYTES_PER_MS);
    expect(l.sender.estimator.isGuess).toBe(true);
    expect(counter).toBe(20 + TRAIN_PACKETS);
  });

  test("a rekey that continues the counters keeps the train on its way: its acknowledgements still come", () => {
    const l = new Link(0, linkConfig({}, 0), 1432, 0);
    let counter = 0;
    const trains = new RateTrains(() => counter++);
    l.sender.resetFlight(1);
    trains.measure(l);
    l.sender.onSent(0, 100, -1, 0); // the probe, recorded in flight: the session has counted past 0
    counter = 1;
    trains.onFeedback(l, 0, 0);
    trains.measure(l); // the rekey's established: counters go on
    for (let k = 0; k < TRAIN_PACKETS; k++) trains.onFeedback(l, 1 + k, 1000 + 40 * k);
    expect(l.sender.estimator.bandwidth).toBeCloseTo((1432 + TUNNEL_OVERHEAD) / 4.1, 6);
  });
});

describe("RateEstimator.startFrom", () => {
  test("a reading replaces the guess, below it or above it, and ends startup: the link paces at it", () => {
    for (const rate of [125, 5 * INITIAL_RATE_BYTES_PER_MS]) {
      const e = new RateEstimator(0, 0);
      e.startFrom(rate);
      expect(e.bandwidth).toBe(rate);
      expect(e.isGuess).toBe(false);
      expect(e.inStartup).toBe(false);
      expect(e.pacingRate()).toBe(rate);
    }
  });

  test("a reading too low grows by a quarter a round while packets wait and no queue shows", () => {
    const e = new RateEstimator(0, 0);
    e.startFrom(100); // the link carries 400 bytes/ms
    e.onRttSample(20, 0);
    let now = 0;
    for (let round = 0; round < 8; round++) {
      now += 20;
      e.onTick(now, true); // backlogged
      // what went out at the pacing rate is delivered (the link has room)
      e.onRateSample(Math.min(400, e.pacingRate()), false, now);
    }
    expect(e.bandwidth).toBeGreaterThan(100 * 1.25 ** 5);
  });

  test("a train too fast to tell (Infinity) leaves the guess", () => {
    const e = new RateEstimator(0, 0);
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
