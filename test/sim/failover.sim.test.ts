/**
 * Issue 11's failures from outside measurement, reproduced on the simulator with one TCP stream
 * (tcpmodel.ts, CUBIC, through corepair.ts): a link blackholed during a transfer (§3 failover:
 * ≥ 90 % of the surviving link's capacity in every 0.5 s from 1 s after the cut), and two equal links with
 * unequal one-way delays (15+15 Mbit/s; the sweep's grid has 20+20). Cases below the target are
 * listed in KNOWN_FAILING and must stay below until taken off.
 */
import { describe, expect, test } from "bun:test";
import { meanGoodput, PAYLOAD_SHARE, runTransfer } from "./corepair.ts";

const link = (rateMbit: number, delayMs: number) => ({ up: { rateMbit, delayMs }, down: { rateMbit, delayMs } });
/** TCP payload of a 1500-byte packet on a bare link (IPv4 + TCP with timestamps: 52 bytes). */
const BARE_SHARE = 1448 / 1500;

/**
 * Cases below issue 11's failover target, with what the simulator shows (docs/simulator.md). A
 * listed case must still miss (the list only shrinks). Both cuts met it once the send path
 * stopped refusing the burst a cut leaves (docs/scheduler.md, "Bursts and standing queues"):
 * before, the survivor gave 14.6-16.9 Mbit/s after the faster link's cut, and 0.5 and 0.9 Mbit/s
 * in the second after the slower one's (TCP's retransmissions refused as queue-full for 2 s).
 * The slower cut stayed at 16.2 Mbit/s (of 16.6) until the peer's reorder buffer held what the
 * spread needs (docs/scheduler.md, "Unequal delays: what the peer can hold"): 18.3 since.
 */
const KNOWN_FAILING: Record<string, string> = {
};

describe("issue 11 cases", () => {
  for (const [cut, survivorDelay] of [
    [0, 30],
    [1, 10],
  ] as const) {
    const which = cut === 0 ? "faster" : "slower";
    const known = KNOWN_FAILING[which];
    test(`one of two 20 Mbit/s links (10 and 30 ms) blackholed, the ${which}: the survivor carries ≥ 90 % of its capacity from 1 s after the cut${known ? " (known below: must stay below)" : ""}`, () => {
      const cutAt = 5000;
      const durationMs = 10_000;
      const links = [link(20, 10), link(20, 30)];
      const r = runTransfer({
        links,
        download: false,
        durationMs,
        reorderSize: 64,
        onTick: (now, paths) => {
          // corepair.ts starts TCP after a second of warm-up: transfer time = now − 1000.
          if (now - 1000 >= cutAt) for (const p of paths[cut]!) p.spec = { ...p.spec, cut: true };
        },
      });
      const bare = runTransfer({ links: [link(20, survivorDelay)], download: false, durationMs, reorderSize: 0, bare: true });
      const survivor = meanGoodput(bare, 2000, durationMs);
      const before = meanGoodput(r, 2000, cutAt);
      const halves = Array.from({ length: (durationMs - cutAt) / 500 }, (_, i) => meanGoodput(r, cutAt + 500 * i, cutAt + 500 * (i + 1)));
      // Issue 11 §3 (as the bench measures it): every 0.5 s interval from 1 s after the cut.
      const worstAfter = Math.min(...halves.slice(2));
      console.log(`  link ${cut} cut: before ${before.toFixed(1)} Mbit/s; after, per 0.5 s: ${halves.map((x) => x.toFixed(1)).join(" ")}; the survivor bare ${survivor.toFixed(1)}`);
      expect(before).toBeGreaterThan(0.85 * 40 * PAYLOAD_SHARE);
      // Bare TCP carries 1448 bytes of 1500, the tunnel 1380: compare at the tunnel's payload share.
      const target = 0.9 * survivor * (PAYLOAD_SHARE / BARE_SHARE);
      if (known) expect(worstAfter, `meets the target now: take "${which}" off KNOWN_FAILING`).toBeLessThanOrEqual(target);
      else expect(worstAfter).toBeGreaterThan(target);
    }, 120_000);
  }

  // The guide's reorder_buffer_size = 64, as in the measurement (without a buffer: the sweep).
  test("two 15 Mbit/s links with unequal one-way delays (10 + 30 ms): ≥ 85 % of the sum by the worst 5 s", () => {
    for (const reorderSize of [64]) {
      const r = runTransfer({ links: [link(15, 10), link(15, 30)], download: false, durationMs: 12_000, reorderSize });
      let worst = Number.POSITIVE_INFINITY;
      for (let t = 2000; t + 5000 <= 12_000; t += 1000) worst = Math.min(worst, meanGoodput(r, t, t + 5000));
      console.log(`  15+15 Mbit/s 10+30 ms, reorder buffer ${reorderSize}: worst 5 s ${worst.toFixed(1)} Mbit/s (85 % of the sum: ${(0.85 * 30 * PAYLOAD_SHARE).toFixed(1)})`);
      expect(worst).toBeGreaterThan(0.85 * 30 * PAYLOAD_SHARE);
    }
  }, 120_000);
});
