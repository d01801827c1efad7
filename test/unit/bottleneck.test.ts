/**
 * The delay line's trace-driven bottleneck (test/lab/bottleneck.ts) on a made-up clock, read the
 * way the lab's self-test reads the delay line (test/lab/selftest.test.ts, "trace-driven rate"):
 * the opportunities counted between two readings against the trace's own count between the
 * readings' trace times. The self-test once saw 11 422 counted against 11 443 on
 * ATT-LTE-driving-2016.down: its first reading fell in the rewind's own round (trace time 0),
 * which had served the trace's 21 opportunities at 0 ms, and it counted the trace's
 * opportunities *before* each reading's time instead of at or before it.
 */
import { describe, expect, test } from "bun:test";
import { FrameQueue, type ServeCounter, TraceBottleneck } from "../lab/bottleneck.ts";
import { SeededRandom } from "../helpers/random.ts";
import { loadTrace, OPPORTUNITY_BYTES, opportunitiesThrough, parseTrace, type Trace } from "../lab/trace.ts";

const FRAME = 1514; // a full-size Ethernet frame: 1500 bytes of IP packet, one opportunity each

/** What the worker publishes after serving a round (delayline.ts): one direction's counters. */
interface Reading {
  /** servedThroughTraceMs: the round's instant in the trace's time. */
  traceMs: number;
  opportunities: number;
  usedOpportunities: number;
}

/**
 * Drives a bottleneck as delayline.ts's worker does: frames stamped when they arrive (refused
 * past the queue limit), then rounds that serve every opportunity up to the round's instant.
 */
function drive(trace: Trace, limit: number) {
  const b = new TraceBottleneck(trace, new FrameQueue(limit));
  const counters: Partial<Record<ServeCounter, number>> = {};
  const count = (name: ServeCounter, n: number) => void (counters[name] = (counters[name] ?? 0) + n);
  const frame = new Uint8Array(FRAME);
  let deliveredBytes = 0;
  return {
    b,
    deliveredBytes: () => deliveredBytes,
    /** `n` frames arrive at clock time `now` (as many as the queue takes). */
    arrive(now: number, n: number): void {
      for (let k = 0; k < n && b.queue.size < limit; k++) b.push(frame, FRAME, now, 0);
    },
    round(now: number): Reading {
      b.serve(now, (f) => void (deliveredBytes += f.length - 14), count);
      return { traceMs: b.cursor.elapsed(now), opportunities: counters.opportunities ?? 0, usedOpportunities: counters.usedOpportunities ?? 0 };
    },
  };
}

/** The self-test's judgement of two readings: counted opportunities against the trace's between their trace times. */
const miscount = (tr: Trace, a: Reading, b: Reading) =>
  b.opportunities - a.opportunities - (opportunitiesThrough(tr, b.traceMs) - opportunitiesThrough(tr, a.traceMs));

describe("trace-driven bottleneck (test/lab/bottleneck.ts)", () => {
  test("a saturated ATT-LTE-driving-2016.down run read from the rewind's own round: the count is the trace's exactly", () => {
    const tr = loadTrace("ATT-LTE-driving-2016.down");
    expect(opportunitiesThrough(tr, 0)).toBe(21); // the group the self-test missed
    const rng = new SeededRandom(7);
    const d = drive(tr, 1000);
    // As in the self-test: the queue filled before the rewind, the sender well above the trace.
    d.arrive(4000.4, 1000);
    const start = 5000.123;
    let now = start;
    d.b.cursor.rewind(now);
    const first = d.round(now); // the rewind's round: what a reading before the worker's next round gets
    expect(first).toEqual({ traceMs: 0, opportunities: 21, usedOpportunities: 21 });
    const readings = [first];
    while (now < start + 20_000) {
      // Frames every ~0.3 ms wake the worker; now and then it is woken late (up to 40 ms), and
      // now and then a round falls on an opportunity's very millisecond (as near as the clock's
      // arithmetic gets: start + k rounds).
      const step = rng.float() < 0.02 ? 40 * rng.float() : 0.6 * rng.float();
      const next = rng.float() < 0.05 ? start + Math.ceil(now - start) : now + step;
      d.arrive((now + next) / 2, 30);
      now = next;
      const r = d.round(now);
      if (rng.float() < 0.01) readings.push(r);
    }
    const last = d.round(now);
    readings.push(last);
    for (const r of readings) expect(miscount(tr, first, r)).toBe(0);
    for (let k = 1; k < readings.length; k++) expect(miscount(tr, readings[k - 1]!, readings[k]!)).toBe(0);
    // Saturated throughout: every opportunity carried a full frame's packet.
    expect(last.usedOpportunities).toBe(last.opportunities);
    expect(d.deliveredBytes()).toBe(last.usedOpportunities * OPPORTUNITY_BYTES);
  });

  test("a sender that stalls (empty queue, opportunities lost), a late worker, the trace's wrap-around and a second rewind: counted as the trace has them", () => {
    // Period 5 ms: 0 0 0 3 5 5, so at every multiple of 5 ms the cycle's last two and the next
    // cycle's first three fall on one millisecond.
    const tr = parseTrace("0\n0\n0\n3\n5\n5\n", "groups");
    const d = drive(tr, 50);
    let origin = 100.25; // clock time of trace time 0
    let now = origin;
    d.b.cursor.rewind(now);
    let first = d.round(now);
    expect(first.opportunities).toBe(3);
    const check: Reading[] = [];
    // Rounds on every half millisecond of trace time (on the opportunities' own milliseconds
    // half the time) and, between them, frames only in the first of every 10 ms: the queue runs
    // dry, and the head frame arrives between opportunities.
    for (let k = 1; k <= 400; k++) {
      if (k % 20 < 2) d.arrive(now + 0.1, 2);
      now = origin + k / 2;
      check.push(d.round(now));
      if (k === 200) {
        // A late worker: one round 37 ms after the last, past seven wrap-arounds.
        now += 37;
        check.push(d.round(now));
        // Then a rewind at a round of its own, on a group's millisecond.
        d.b.cursor.rewind(now);
        check.push((first = d.round(now)));
        expect(first.traceMs).toBe(0);
        origin = now - 100; // the next round half a millisecond on
      }
      const r = check.at(-1)!;
      expect(miscount(tr, first, r)).toBe(0);
    }
    const last = check.at(-1)!;
    expect(last.opportunities - last.usedOpportunities).toBeGreaterThan(0); // the stalls lost some
    expect(last.usedOpportunities).toBeGreaterThan(0);
  });

  test("a round that the clock's arithmetic puts on an opportunity's millisecond: served and counted on the same side", () => {
    // The rewind at 8.19 s on the worker's clock, just below 8192 = 2¹³: start + 3 crosses into
    // the next binade and rounds down, so (start + 3) − start is 3 less 9e-13 ms. A cursor that
    // compared clock times (start + 3 ≤ now) served the opportunities at 3 ms while the reading's
    // trace time said they were still to come.
    const start = 8189.567838937318;
    const now = start + 3;
    expect(now - start).toBeLessThan(3);
    const tr = parseTrace("0\n3\n3\n5\n", "rounding");
    const d = drive(tr, 10);
    d.arrive(start - 1, 10);
    d.b.cursor.rewind(start);
    const first = d.round(start);
    const r = d.round(now);
    expect(r.opportunities).toBe(opportunitiesThrough(tr, r.traceMs)); // 1: the two at 3 ms come next round
    expect(miscount(tr, first, r)).toBe(0);
    expect(d.round(start + 3.001).opportunities).toBe(3);
  });
});
