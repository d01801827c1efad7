/**
 * Link priorities on a simulated pair: 20 Mbit/s at priority 0 beside 10 Mbit/s at priority 1.
 * The second has the shorter delay, so the scheduler alone would prefer it. Below the first
 * link's capacity the second carries (almost) nothing; above it, the excess; with the first
 * cut, everything. With equal priorities the second is used as before.
 */
import { describe, expect, test } from "bun:test";
import { type LinkSpec, SimPair } from "./simnet.ts";

/** Client → server bytes per link while `mbit` of 1000-byte packets are offered for `seconds`. */
function offer(sim: SimPair, mbit: number, seconds: number): { bytes: number[]; delivered: number } {
  const from = sim.captured.length;
  const before = sim.rec.server.delivered.length;
  const gapMs = (1000 * 8) / (mbit * 1000);
  const count = Math.round((seconds * 1000) / gapMs);
  sim.sendStream("client", count, gapMs, 1000);
  sim.run(sim.now + 300);
  const bytes = sim.links.map(() => 0);
  for (const d of sim.captured.slice(from)) if (d.from === "client" && d.bytes.length > 900) bytes[d.link]! += d.bytes.length;
  return { bytes, delivered: (sim.rec.server.delivered.length - before) / count };
}

// The priority-1 link has the shorter delay: without priorities it would be preferred.
const links = (p0: number, p1: number): LinkSpec[] => [
  { name: "fibre", priority: p0, up: { delayMs: 20, rateMbit: 20 }, timeout: 3 },
  { name: "lte", priority: p1, up: { delayMs: 5, rateMbit: 10 }, timeout: 3 },
];

/** A pair with the given priorities, up and settled at `mbit` for 2 s, then measured for 3 s. */
function settled(p0: number, p1: number, mbit: number) {
  const sim = new SimPair({ links: links(p0, p1), reorderBufferSize: 64 });
  sim.run(500);
  offer(sim, mbit, 2);
  return offer(sim, mbit, 3);
}

describe("link priorities", () => {
  test("15 Mbit/s offered: the priority-1 link carries under 2 % of the bytes", () => {
    const r = settled(0, 1, 15);
    const share = r.bytes[1]! / (r.bytes[0]! + r.bytes[1]!);
    console.log(`15 Mbit/s offered: lte carries ${(share * 100).toFixed(2)} % of the bytes, ${(r.delivered * 100).toFixed(1)} % delivered`);
    expect(share).toBeLessThan(0.02);
    expect(r.delivered).toBeGreaterThan(0.98);
  }, 60_000);

  test("equal priorities: the same load goes mostly to the shorter delay", () => {
    const r = settled(0, 0, 15);
    expect(r.bytes[1]! / (r.bytes[0]! + r.bytes[1]!)).toBeGreaterThan(0.3);
  }, 60_000);

  test("28 Mbit/s offered: the priority-1 link carries the excess", () => {
    const r = settled(0, 1, 28);
    const total = r.bytes[0]! + r.bytes[1]!;
    console.log(`28 Mbit/s offered: fibre ${(r.bytes[0]! * 8 / 3e6).toFixed(1)} Mbit/s, lte ${(r.bytes[1]! * 8 / 3e6).toFixed(1)} Mbit/s, ${(r.delivered * 100).toFixed(1)} % delivered`);
    // The fibre runs near its 20 Mbit/s, the excess (~8 Mbit/s) goes to the lte link.
    expect((r.bytes[0]! * 8) / 3e6).toBeGreaterThan(17);
    expect(r.bytes[1]! / total).toBeGreaterThan(0.15);
    expect(r.delivered).toBeGreaterThan(0.9);
  }, 60_000);

  test("the priority-0 link cut: the priority-1 link carries everything", () => {
    const sim = new SimPair({ links: links(0, 1), reorderBufferSize: 64 });
    sim.run(500);
    offer(sim, 5, 1);
    sim.links[0]!.up = { delayMs: 10, rateMbit: 20, cut: true };
    sim.links[0]!.down = { delayMs: 10, cut: true };
    offer(sim, 5, 1); // the cut is noticed
    const r = offer(sim, 5, 2);
    expect(r.bytes[0]).toBe(0);
    expect(r.delivered).toBeGreaterThan(0.98);
  }, 60_000);
});
