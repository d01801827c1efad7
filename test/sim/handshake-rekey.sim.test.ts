/**
 * `rekey_interval`: the client renews each link's keys at the configured age instead of the
 * protocol's 120 s, under traffic, without a gap (docs/protocol.md "Timing").
 */
import { describe, expect, test } from "bun:test";
import { SimPair } from "./simnet.ts";

function rekeys(rekeyMs: number | undefined): { sessions: number[]; gaps: number } {
  const sim = new SimPair({ links: [{}, {}], seed: 41, rekeyMs });
  sim.run(1000);
  const seen = [new Set<number>(), new Set<number>()];
  let last = sim.rec.server.delivered.length;
  let gaps = 0;
  while (sim.now < 101_000) {
    sim.sendStream("client", 10, 10);
    for (const l of [0, 1]) seen[l]!.add(sim.client.links[l]!.current!.localIndex);
    if (sim.rec.server.delivered.length === last) gaps++;
    last = sim.rec.server.delivered.length;
  }
  return { sessions: seen.map((s) => s.size), gaps };
}

describe("rekey_interval", () => {
  test("20 s: each link's keys are renewed about every 20 s (5 times in 100 s, not once), with no gap in delivery", () => {
    const short = rekeys(20_000);
    const standard = rekeys(undefined);
    // 1 session from the start plus one per 20 s (the renewal starts just past each interval).
    expect(short.sessions).toEqual([5, 5]);
    expect(standard.sessions).toEqual([1, 1]);
    expect(short.gaps).toBe(0);
  }, 60_000);
});
