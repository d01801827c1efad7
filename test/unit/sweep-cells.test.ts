/**
 * `npm run bench -- --sweep --cells SPEC`: the link pairs outside the grid that the lab sweep
 * can measure (scripts/bench-sweep.ts customCell), so that a pair the grid does not name is one
 * command away. Parsing only: the lab itself needs root.
 */
import { describe, expect, test } from "bun:test";
import { bareNote, bestSingleLink, customCell, onceMoreIfNoInterval, sweepCells } from "../../scripts/bench-sweep.ts";
import type { IperfResult } from "../lab/measure.ts";

describe("sweep cells outside the grid", () => {
  test("rates, delays, jitter and loss per link", () => {
    const c = customCell("12@3+40@25.5j4l1.5")!;
    expect(c.kind).toBe("rate");
    expect(c.id).toBe("12@3+40@25.5j4l1.5");
    expect(c.links).toEqual([
      { rateMbit: 12, delayMs: 3 },
      { rateMbit: 40, delayMs: 25.5, jitterMs: 4, lossPct: 1.5 },
    ]);
    expect(c.label).toBe("12 Mbit/s 3 ms + 40 Mbit/s 25.5 ms ±4 1.5 % loss");
  });

  test("a trace of bench/traces beside a fixed link makes a trace cell", () => {
    const c = customCell("ATT-LTE-driving-2016@30+10@12")!;
    expect(c.kind).toBe("trace");
    expect(c.links).toEqual([{ trace: "ATT-LTE-driving-2016", delayMs: 30 }, { rateMbit: 10, delayMs: 12 }]);
  });

  test("three or four links: several uplinks, as users bond them", () => {
    const c = customCell("8@10+20@25+VZ-x@40l1")!;
    expect(c.kind).toBe("trace");
    expect(c.links).toEqual([{ rateMbit: 8, delayMs: 10 }, { rateMbit: 20, delayMs: 25 }, { trace: "VZ-x", delayMs: 40, lossPct: 1 }]);
    expect(customCell("1@1+2@2+3@3+4@4")!.links).toHaveLength(4);
  });

  test("what is not two to four links is refused", () => {
    for (const bad of ["", "r1d4x", "12@3", "1@1+2@2+3@3+4@4+5@5", "12@3+", "+12@3+40@25", "0@3+40@25", "12+40@25", "12@+40@25", "12@3+40@25l", "12@3+40@25x1", "12@-3+40@25", "1e3@3+40@25"]) {
      expect(customCell(bad)).toBeUndefined();
    }
  });

  test("no grid cell's id reads as a pair (the grid's name wins, but none is ambiguous)", () => {
    for (const c of sweepCells(false)) expect(customCell(c.id)).toBeUndefined();
  });

  test("the bare best link is the one a user would keep: capacity after loss, then the shorter delay", () => {
    // Equal rates, the first lossy: by capacity alone the first (lossy) link was taken.
    expect(bestSingleLink([{ capacityMbit: 20, lossPct: 1, delayMs: 80 }, { capacityMbit: 20, lossPct: 0, delayMs: 80 }])).toBe(1);
    expect(bestSingleLink([{ capacityMbit: 20, lossPct: 0, delayMs: 60 }, { capacityMbit: 20, lossPct: 0, delayMs: 20 }])).toBe(1);
    expect(bestSingleLink([{ capacityMbit: 30, lossPct: 1, delayMs: 10 }, { capacityMbit: 8, lossPct: 0, delayMs: 10 }])).toBe(0);
    expect(bestSingleLink([{ capacityMbit: 20, lossPct: 0, delayMs: 10 }, { capacityMbit: 20, lossPct: 0, delayMs: 10 }])).toBe(0);
  });
});

describe("a transfer whose iperf3 failed before its first interval runs once more", () => {
  const result = (ok: boolean, intervals: number[], error?: string): IperfResult => ({ ok, intervals, receiverIntervals: [], ...(error ? { error } : {}), mbps: intervals.length ? 10 : 0, retransmits: 0 });
  const runs = (...results: IperfResult[]) => {
    let calls = 0;
    return { run: async () => results[Math.min(calls++, results.length - 1)]!, calls: () => calls };
  };

  test("a control connection reset before any interval: run again, the first error kept (a bare download read 0 Mbit/s without it)", async () => {
    const r = runs(result(false, [], "unable to receive control message: Connection reset by peer"), result(true, [10, 10]));
    const retried: Array<string | undefined> = [];
    const { value, firstError } = await onceMoreIfNoInterval(r.run, (x) => x, (e) => retried.push(e), 0);
    expect(r.calls()).toBe(2);
    expect(value.ok).toBe(true);
    expect(firstError).toBe("unable to receive control message: Connection reset by peer");
    expect(retried).toEqual([firstError]);
  });

  test("a success, or a failure after intervals (a transfer that broke mid-way is a result): run once", async () => {
    for (const first of [result(true, [10]), result(false, [10, 3], "interrupted")]) {
      const r = runs(first, result(true, [10]));
      const { value, firstError } = await onceMoreIfNoInterval(r.run, (x) => x, () => {}, 0);
      expect(r.calls()).toBe(1);
      expect(value).toBe(first);
      expect(firstError).toBeUndefined();
    }
  });
});

describe("the table says when the bare best link's transfer failed or ran twice", () => {
  const bare = { link: 0, mbps: 18.6, intervals: [18.6], retransmits: 0 };
  test("nothing for a clean run; the error, or the first failure of a rerun, otherwise (| kept out of the table)", () => {
    expect(bareNote(bare)).toBe("");
    expect(bareNote({ ...bare, mbps: 0, intervals: [], error: "reset | x" })).toBe("; bare link's iperf3: reset / x");
    expect(bareNote({ ...bare, retriedAfter: "unable to receive control message" })).toBe("; bare link run twice, the first failed: unable to receive control message");
  });
});
