/**
 * Issue 11's failures from outside measurement, reproduced on the simulator with one BBR TCP
 * stream (tcpmodel.ts through corepair.ts): a link cut during a transfer, and two equal links
 * with unequal one-way delays (15+15 Mbit/s; the grid of sweep.sim.test.ts has 20+20).
 */
import { describe, expect, test } from "bun:test";
import { meanGoodput, PAYLOAD_SHARE, runTransfer } from "./corepair.ts";

const link = (rateMbit: number, delayMs: number) => ({ up: { rateMbit, delayMs }, down: { rateMbit, delayMs } });

describe("issue 11 cases", () => {
  test("one of two 20 Mbit/s links cut during a transfer: the survivor carries ≥ 90 % of its bare rate from 1 s after the cut", () => {
    const cutAt = 8000;
    const links = [link(20, 10), link(20, 30)];
    const r = runTransfer({
      links,
      download: false,
      durationMs: 16_000,
      reorderSize: 64,
      onTick: (now, paths) => {
        // corepair.ts starts TCP after a second of warm-up: transfer time = now − 1000.
        if (now - 1000 >= cutAt) for (const p of paths[0]!) p.spec = { ...p.spec, cut: true };
      },
    });
    const bare = runTransfer({ links: [links[1]!], download: false, durationMs: 16_000, reorderSize: 0, bare: true });
    const survivor = meanGoodput(bare, 2000, 16_000);
    const before = meanGoodput(r, 3000, cutAt);
    const after = meanGoodput(r, cutAt + 1000, 16_000);
    console.log(`before the cut ${before.toFixed(1)} Mbit/s, from 1 s after ${after.toFixed(1)}, the survivor bare ${survivor.toFixed(1)}`);
    expect(before).toBeGreaterThan(0.85 * 40 * PAYLOAD_SHARE);
    // Bare TCP carries 1448 bytes of 1500, the tunnel 1380: compare at the tunnel's payload share.
    expect(after).toBeGreaterThan(0.9 * survivor * (PAYLOAD_SHARE / (1448 / 1500)));
  }, 120_000);

  test("two 15 Mbit/s links with unequal one-way delays (10 + 30 ms): ≥ 85 % of the sum, up and down", () => {
    for (const download of [false, true]) {
      const r = runTransfer({ links: [link(15, 10), link(15, 30)], download, durationMs: 20_000, reorderSize: 64 });
      let worst = Number.POSITIVE_INFINITY;
      for (let t = 2000; t + 5000 <= 20_000; t += 1000) worst = Math.min(worst, meanGoodput(r, t, t + 5000));
      console.log(`15+15 Mbit/s 10+30 ms ${download ? "down" : "up"}: worst 5 s ${worst.toFixed(1)} Mbit/s`);
      expect(worst).toBeGreaterThan(0.85 * 30 * PAYLOAD_SHARE);
    }
  }, 120_000);
});
