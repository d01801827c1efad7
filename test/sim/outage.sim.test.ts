/**
 * An uplink whose capacity stops for a while and comes back, its queue kept (an LTE cell's
 * outage, a modem's buffer): the link stalls, and with no other link to take its packets they
 * stay where they are, as they do in the modem. Moved to nowhere they were dropped (`no-link`):
 * the queue and a window in flight at once, each outage, while the packets that came next were
 * queued on the same stalled link (docs/scheduler.md, "A stall with nowhere to go").
 * Deterministic: virtual clock, one TCP stream (test/sim/corepair.ts).
 */
import { describe, expect, test } from "bun:test";
import { type LinkPaths, meanGoodput, runTransfer } from "./corepair.ts";
import { Trace } from "./pathmodel.ts";

/** The link's rate: one 1500-byte opportunity per ms. */
const LINK_MBIT = 12;

/** One 1500-byte opportunity per ms (LINK_MBIT) for 20 s, none in the outages ([from, from + for) ms). */
function outageTrace(outages: [number, number][]): Trace {
  const times: number[] = [];
  for (let t = 1; t <= 20_000; t++) if (!outages.some(([from, len]) => t >= from && t < from + len)) times.push(t);
  return new Trace(times);
}
const outageLink = (outages: [number, number][], delayMs: number): LinkPaths => ({
  up: { trace: outageTrace(outages), delayMs, queuePackets: 1000 },
  down: { trace: outageTrace(outages), delayMs, queuePackets: 1000 },
});

describe("a stalled link with nowhere to move its packets keeps them", () => {
  for (const cc of ["cubic", "bbr"] as const) {
    test(`one link, 12 Mbit/s at 25 ms, out for 1.5 s at 5 s and 11 s, ${cc}: nothing dropped for want of a link`, () => {
      const links = [outageLink([[5000, 1500], [11_000, 1500]], 25)];
      const r = runTransfer({ links, download: false, durationMs: 16_000, reorderSize: 64, cc, seed: 1 });
      const goodput = meanGoodput(r, 0, 16_000);
      console.log(`  [outage] ${cc}: ${goodput.toFixed(2)} Mbit/s, drops ${JSON.stringify([...r.drops])}, rtx ${r.retransmits}, rtos ${r.rtos}`);
      expect(r.drops.get("no-link") ?? 0).toBe(0);
      // 13 of 16 s have capacity (less the tunnel's overhead): TCP keeps most of it.
      expect(goodput).toBeGreaterThan(0.6 * LINK_MBIT * (13 / 16));
    });
  }
});
