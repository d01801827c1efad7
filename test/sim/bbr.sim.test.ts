/**
 * The lab's TCP on the simulator: BBR (tcpmodel.ts), the default congestion control of the lab's
 * kernel, where the sweep (sweep.sim.test.ts) runs CUBIC. Two groups of cases, each judged by
 * issue 11's floor (worst 5 s ≥ 85 % of the sum × payload share):
 *
 * - lab scenario 3b's pairs: reorder buffer off (MLVPN's default), unequal one-way delays, one
 *   stream up, 10 virtual s;
 * - the lab sweep's r1d2 cell (20+20 Mbit/s, 1+1 ms, the guide's buffer 64 and off) as the lab
 *   measures it (20 s after 2 s of slow start), with and without 1 ms of per-packet delay
 *   variation on each link. With it the simulator shows what the lab shows on main (BENCHMARKS.md
 *   "Sweep"): buffer 64 carries the sum for 10 s, then one link's worth; off, the sum
 *   (docs/simulator.md "The lab beside the simulator").
 *
 * Cases that miss the floor on main's scheduler are listed in KNOWN_FAILING with what the
 * simulator shows; a listed case must still miss (the list only shrinks: a change that lifts one
 * fails here until it is taken off).
 */
import { describe, expect, test } from "bun:test";
import { PAYLOAD_SHARE, runTransfer, worstWindow } from "./corepair.ts";

interface Case {
  rates: [number, number];
  delays: [number, number];
  reorder: number;
  jitterMs?: number;
  durationMs: number;
}

const name = (c: Case) => `${c.rates.join("+")} Mbit/s, ${c.delays.join("+")} ms${c.jitterMs ? ` ±${c.jitterMs}` : ""}, buffer ${c.reorder || "off"}`;

const CASES: Case[] = [
  // Lab scenario 3b and its neighbours.
  { rates: [20, 20], delays: [10, 40], reorder: 0, durationMs: 10_000 },
  { rates: [20, 20], delays: [5, 35], reorder: 0, durationMs: 10_000 },
  { rates: [20, 20], delays: [10, 60], reorder: 0, durationMs: 10_000 },
  { rates: [50, 50], delays: [10, 40], reorder: 0, durationMs: 10_000 },
  { rates: [8, 30], delays: [10, 40], reorder: 0, durationMs: 10_000 },
  { rates: [15, 15], delays: [10, 30], reorder: 0, durationMs: 10_000 },
  // The lab sweep's r1d2, 20 s after 2 s of slow start.
  { rates: [20, 20], delays: [1, 1], reorder: 64, durationMs: 22_000 },
  { rates: [20, 20], delays: [1, 1], reorder: 64, jitterMs: 1, durationMs: 22_000 },
  // Passes at this (the default) seed; 53-91 % at seeds 1-5 (docs/simulator.md).
  { rates: [20, 20], delays: [1, 1], reorder: 0, jitterMs: 1, durationMs: 22_000 },
];

/** Below the floor on main's scheduler: what the simulator shows (docs/simulator.md). */
const KNOWN_FAILING: Record<string, string> = {
  // Empty since the delay equaliser works without a reorder buffer too (equaliser.ts PassThrough):
  // the four buffer-off cases listed before it (77, 41, 49 and 20 % of the sum) read 99-100 %.
};

const link = (rateMbit: number, delayMs: number, jitterMs?: number) => ({ up: { rateMbit, delayMs, jitterMs }, down: { rateMbit, delayMs, jitterMs } });

describe("BBR (the lab's TCP): issue 11's floor on lab cases", () => {
  for (const c of CASES) {
    const known = KNOWN_FAILING[name(c)];
    test(`${name(c)}: worst 5 s ≥ 85 % of the sum × payload share${known ? " (known below: must stay below)" : ""}`, () => {
      const [r1, r2] = c.rates;
      const [d1, d2] = c.delays;
      const r = runTransfer({ links: [link(r1, d1, c.jitterMs), link(r2, d2, c.jitterMs)], download: false, durationMs: c.durationMs, reorderSize: c.reorder, cc: "bbr" });
      const bare = runTransfer({ links: [link(Math.max(r1, r2), r1 >= r2 ? d1 : d2, c.jitterMs)], download: false, durationMs: c.durationMs, reorderSize: 0, bare: true, cc: "bbr" });
      const worst = worstWindow(r, 2000, c.durationMs);
      const one = worstWindow(bare, 2000, c.durationMs);
      const sum = (r1 + r2) * PAYLOAD_SHARE;
      const sent = r.dataSent[0]! + r.dataSent[1]!;
      console.log(
        `  ${name(c)}, BBR: worst 5 s ${worst.toFixed(1)} Mbit/s (${((100 * worst) / sum).toFixed(0)} %), the best link bare ${one.toFixed(1)}, ${r.retransmits} retransmissions, data per link ${r.dataSent.map((n) => ((100 * n) / sent).toFixed(0)).join("/")} %`,
      );
      if (known) expect(worst, `meets the floor now: take "${name(c)}" off KNOWN_FAILING`).toBeLessThanOrEqual(0.85 * sum);
      else expect(worst).toBeGreaterThan(0.85 * sum);
    }, 60_000);
  }
  test("every KNOWN_FAILING entry names a case", () => {
    const names = new Set(CASES.map(name));
    expect(Object.keys(KNOWN_FAILING).filter((k) => !names.has(k))).toEqual([]);
  });
});
