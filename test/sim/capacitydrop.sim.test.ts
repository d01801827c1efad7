/**
 * Lab scenario 6 on the simulator with a real TCP: two 20 Mbit/s links of 10 ms, the first falls
 * to 4 Mbit/s after 10 s of one upload. capacity.sim.test.ts offers a constant load, which always
 * fills our pacers; a TCP slowed by the packets late on the fallen link does not, so every rate
 * sample of that link is application-limited, and they used to say nothing: its estimate stayed
 * at 20 Mbit/s, the scheduler kept sending it a share it could not carry, its queue made the
 * stream's round trip 2.5 times the path's, and BBR settled at 12 Mbit/s, below the surviving
 * link alone (docs/scheduler.md, "A queue with little to send").
 */
import { describe, expect, test } from "bun:test";
import { type CongestionControl } from "./tcpmodel.ts";
import { meanGoodput, PAYLOAD_SHARE, runTransfer } from "./corepair.ts";

const link = (rateMbit: number, delayMs: number) => ({ up: { rateMbit, delayMs }, down: { rateMbit, delayMs } });
const DROP_AT = 10_000;

describe("a capacity drop under one TCP upload (lab scenario 6)", () => {
  const cases: Array<[CongestionControl, number]> = [
    ["bbr", 1],
    ["bbr", 2],
    ["cubic", 1],
  ];
  for (const [cc, seed] of cases) {
    test(`${cc}, seed ${seed}: from 3 s after 20+20 → 4+20 Mbit/s, each second ≥ 85 % of the new sum`, () => {
      let fallenEstimate = 0;
      const r = runTransfer({
        links: [link(20, 10), link(20, 10)],
        download: false,
        durationMs: DROP_AT + 7000,
        reorderSize: 64,
        seed,
        cc,
        onTick: (now, paths, ends) => {
          const t = now - 1000; // corepair.ts starts TCP after a second of warm-up
          if (t >= DROP_AT) for (const p of paths[0]!) p.spec = { ...p.spec, rateMbit: 4 };
          if (t === DROP_AT + 3000) fallenEstimate = (ends[0]!.links[0]!.sender.estimator.bandwidth * 8) / 1000;
        },
      });
      const seconds = Array.from({ length: 7 }, (_, i) => meanGoodput(r, DROP_AT + 1000 * i, DROP_AT + 1000 * (i + 1)));
      console.log(`  ${cc} seed ${seed}: per second from the drop ${seconds.map((x) => x.toFixed(1)).join(" ")} Mbit/s; the fallen link's estimate 3 s after: ${fallenEstimate.toFixed(1)} Mbit/s`);
      expect(fallenEstimate).toBeLessThan(4 * 1.25);
      for (const g of seconds.slice(3)) expect(g).toBeGreaterThan(0.85 * 24 * PAYLOAD_SHARE);
    }, 60_000);
  }
});
