/**
 * A link whose one-way delay rises for good during a transfer (a route change, a handover):
 * 4 → 20 ms each way on a 50 Mbit/s link, beside a 5 Mbit/s link of 1 ms or alone. The estimator
 * read the higher delay as a queue of ours and lowered the link's estimate; the in-flight cap,
 * sized from the old minimum RTT, then let less through each round, and the estimate followed it
 * to the cap's floor, there for the 10 s the old minimum stayed in its window (both ends: the way
 * back's acknowledgements too). CUBIC got 8 Mbit/s of the pair, 0.2-0.9 on the link alone, for
 * 10 s (found by scripts/sim-chaos.ts, seed 2272: 260 Mbit/s, 3.8 → 20 ms, no delivery for 3.5 s).
 * src/core/delayrise.ts tries such a rise as one, and keeps it when the link delivers more: the
 * pair's whole rate comes back within 3 s with CUBIC, part of it with BBR or on the link alone.
 */
import { describe, expect, test } from "bun:test";
import { meanGoodput, PAYLOAD_SHARE, runTransfer, WARMUP_MS } from "./corepair.ts";
import type { CongestionControl } from "./tcpmodel.ts";

const link = (rateMbit: number, delayMs: number) => ({ up: { rateMbit, delayMs }, down: { rateMbit, delayMs } });
const RISE_AT = 5000;

describe("one link's one-way delay rises from 4 to 20 ms for good during one TCP upload", () => {
  // Floors per second from 3 s after the rise, Mbit/s. Before delayrise.ts: 5.7-6.1 (the 5 Mbit/s
  // link's), 4.9-5.8 and 0.1-0.3. With it: 50.4; 9.0-13.5; 5.8-13.1. Not analysed further: BBR's
  // own window is sized from the minimum RTT of the faster path; alone, the way back's
  // acknowledgements fall to the floor too, and their try waits for a loaded round.
  const cases: Array<[string, number, CongestionControl, number]> = [
    ["50 + 5 Mbit/s", 2, "cubic", 0.6 * 50 * PAYLOAD_SHARE],
    ["50 + 5 Mbit/s", 2, "bbr", 7],
    ["50 Mbit/s alone", 1, "cubic", 4],
  ];
  for (const [name, n, cc, floor] of cases) {
    test(`${name}, ${cc}: from 3 s after the rise, each second ≥ ${floor.toFixed(1)} Mbit/s`, () => {
      const r = runTransfer({
        links: [link(50, 4), link(5, 1)].slice(0, n),
        download: false,
        durationMs: RISE_AT + 8000,
        reorderSize: 64,
        cc,
        seed: 1,
        onTick: (now, paths) => {
          if (now - WARMUP_MS >= RISE_AT) for (const p of paths[0]!) if (p.spec.delayMs !== 20) p.spec = { ...p.spec, delayMs: 20 };
        },
      });
      const seconds = Array.from({ length: 8 }, (_, i) => meanGoodput(r, RISE_AT + 1000 * i, RISE_AT + 1000 * (i + 1)));
      console.log(`  ${name}, ${cc}: per second from the rise ${seconds.map((x) => x.toFixed(1)).join(" ")} Mbit/s`);
      for (const g of seconds.slice(3)) expect(g).toBeGreaterThan(floor);
    }, 60_000);
  }
});
