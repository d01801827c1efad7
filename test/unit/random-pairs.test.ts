import { describe, expect, test } from "bun:test";
import { drawPairs, pairCell, pairGroup, pairName } from "../../scripts/sim-random-pairs.ts";

describe("sim-random-pairs: pairs outside the grid", () => {
  test("a seed draws the same pairs every time, another seed other pairs", () => {
    const a = drawPairs(7, 5);
    expect(drawPairs(7, 5)).toEqual(a);
    expect(pairName(a[0]!)).toBe("20+5 Mbit/s 20+80 ms");
    expect(drawPairs(8, 5).map(pairName)).not.toEqual(a.map(pairName));
  });

  test("draws cover rates far apart and delays the grid does not name", () => {
    const pairs = drawPairs(1, 200);
    const ratios = pairs.map((p) => Math.max(...p.rates) / Math.min(...p.rates));
    expect(Math.max(...ratios)).toBeGreaterThanOrEqual(20);
    expect(pairs.some((p) => p.loss)).toBe(true);
    expect(pairs.some((p) => p.jitter)).toBe(true);
    expect(new Set(pairs.flatMap((p) => p.delays)).size).toBeGreaterThan(7);
  });

  test("groups by how unequal the rates are and which link is nearer", () => {
    expect(pairGroup({ rates: [40, 3], delays: [2, 60], loss: false, jitter: false })).toBe("rates ≥ 8 × apart, slower link farther");
    expect(pairGroup({ rates: [30, 5], delays: [15, 5], loss: false, jitter: false })).toBe("rates < 8 × apart, slower link nearer");
    expect(pairGroup({ rates: [5, 40], delays: [5, 5], loss: false, jitter: false })).toBe("rates ≥ 8 × apart, slower link as near");
    expect(pairGroup({ rates: [20, 20], delays: [5, 35], loss: false, jitter: false })).toBe("rates < 8 × apart, equal rates");
  });

  test("the loss goes on the slower link, as in the grid", () => {
    const c = pairCell({ rates: [40, 3], delays: [2, 60], loss: true, jitter: true });
    expect(c.links[0]!.up.loss).toBe(0);
    expect(c.links[1]!.up.loss).toBe(0.01);
    expect(c.links[1]!.up.jitterMs).toBe(5);
    expect(c.capacity(0, 1)).toBe(43);
    expect(c.spread).toBe(true);
  });

  test("--asymmetric: the same rates and delays, a slower way back on each link, and a download", () => {
    const plain = drawPairs(7, 40);
    const asym = drawPairs(7, 40, true);
    expect(asym.map((p) => [p.rates, p.delays, p.loss, p.jitter])).toEqual(plain.map((p) => [p.rates, p.delays, p.loss, p.jitter]));
    expect(plain.every((p) => p.back === undefined)).toBe(true);
    for (const p of asym) for (const i of [0, 1]) expect(p.back![i]!).toBeLessThanOrEqual(Math.max(0.25, p.rates[i]!));
    expect(asym.some((p) => p.back![0]! < p.rates[0]! / 4)).toBe(true);
    const c = pairCell({ rates: [8, 20], back: [0.5, 2], delays: [20, 10], loss: false, jitter: false });
    expect(c.name).toBe("8/0.5+20/2 Mbit/s 20+10 ms");
    expect(c.download).toBe(true);
    expect([c.links[0]!.down.rateMbit, c.links[0]!.up.rateMbit, c.links[1]!.down.rateMbit, c.links[1]!.up.rateMbit]).toEqual([8, 0.5, 20, 2]);
    expect(c.capacity(0, 1)).toBe(28);
  });
});
