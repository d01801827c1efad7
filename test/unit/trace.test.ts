import { describe, expect, test } from "bun:test";
import { loadTrace, opportunitiesBefore, opportunitiesThrough, parseTrace, TraceCursor, traceMeanMbit, traceSeries } from "../lab/trace.ts";

describe("Mahimahi traces (test/lab/trace.ts)", () => {
  const tr = parseTrace("0\n2\n2\n5\n10\n", "t");

  test("parse: times and period; errors name the line", () => {
    expect([...tr.times]).toEqual([0, 2, 2, 5, 10]);
    expect(tr.periodMs).toBe(10);
    expect(() => parseTrace("1\n3\nx\n", "f.up")).toThrow("f.up:3: expected a time in whole milliseconds");
    expect(() => parseTrace("5\n3\n", "f.up")).toThrow("f.up:2: 3 ms comes before");
    expect(() => parseTrace("\n", "f.up")).toThrow("f.up: no delivery opportunity");
    expect(() => parseTrace("0\n0\n", "f.up")).toThrow("period");
    expect(() => loadTrace("/nonexistent/x.up")).toThrow("cannot read trace /nonexistent/x.up: ENOENT");
  });

  test("opportunities before t over the repeated trace (cycle k at k·10 + times)", () => {
    // cycle 0: 0 2 2 5 10; cycle 1: 10 12 12 15 20; cycle 2: 20 22 ...
    const brute = (t: number) => {
      let n = 0;
      for (let k = 0; k < 10; k++) for (const x of tr.times) if (k * 10 + x < t) n++;
      return n;
    };
    for (let t = 0; t <= 45; t += 0.5) expect(opportunitiesBefore(tr, t)).toBe(brute(t));
  });

  test("opportunities through t: those at t too, a group at a cycle's boundary whole", () => {
    const brute = (t: number) => {
      let n = 0;
      for (let k = 0; k < 10; k++) for (const x of tr.times) if (k * 10 + x <= t) n++;
      return n;
    };
    for (let t = -1; t <= 45; t += 0.5) expect(opportunitiesThrough(tr, t)).toBe(brute(t));
    // At 20 ms: cycle 1's last line and cycle 2's first, on one millisecond.
    expect(opportunitiesThrough(tr, 20) - opportunitiesBefore(tr, 20)).toBe(2);
    expect(opportunitiesThrough(tr, 20 - 1e-12)).toBe(opportunitiesBefore(tr, 20));
  });

  test("mean and per-second series", () => {
    const v = loadTrace("Verizon-LTE-short.up");
    // 69 367 opportunities of 1500 B over its 140 s period: 5.95 Mbit/s (bench/traces/README.md)
    expect(traceMeanMbit(v, 0, v.periodMs)).toBeCloseTo(5.95, 2);
    const s = traceSeries(v, 0, 10);
    expect(s.reduce((a, b) => a + b, 0) / 10).toBeCloseTo(traceMeanMbit(v, 0, 10_000), 9);
  });

  test("cursor: walks every opportunity in order, rewinds, skips lost ones", () => {
    const c = new TraceCursor(tr);
    c.rewind(100);
    const seen: number[] = [];
    for (let k = 0; k < 8; k++) {
      seen.push(c.at);
      c.advance();
    }
    expect(seen).toEqual([100, 102, 102, 105, 110, 110, 112, 112]);
    expect(c.skipBefore(121)).toBe(opportunitiesBefore(tr, 21) - 8);
    expect(c.at).toBe(122);
    expect(c.skipBefore(50)).toBe(0); // never backwards
    c.rewind(1000);
    expect(c.at).toBe(1000);
  });
});
