/**
 * A link whose delay jumps during a transfer (a route change, a satellite or LTE handover,
 * another host filling the modem's buffer): two 20 Mbit/s links of 10 and 20 ms, the second's
 * one-way delay goes to 300 ms each way for 5 s, then back. The scheduler counted a link's delay
 * as half its minimum RTT over 10 s, so it kept sending on the slow link (with the buffer at 64,
 * even a trickle allowed by the peer's buffer), each packet 280 ms late holding the whole stream
 * at the peer: 10-14 Mbit/s (BBR) and 0-8 (CUBIC) during the jump, below the other link alone.
 * Now the delay a link shows beyond what our own traffic explains counts against it (spread.ts
 * delayExcessMs): the stream keeps the other link's rate, and takes both again within a few
 * seconds once the delay is back. Found in the lab first (scripts/lab-faults.ts, delay jump).
 */
import { describe, expect, test } from "bun:test";
import { fixedLink, meanGoodput, PAYLOAD_SHARE, runTransfer } from "./corepair.ts";
import type { CongestionControl } from "./tcpmodel.ts";

const RATE = 20;
const JUMP_AT = 3000;
const JUMP_MS = 5000;
const JUMP_TO_MS = 300;
/** Seconds after the jump within which both links carry the stream again (BBR finds the second link's rate anew). */
const AFTER_S = 5;
/** Of one link's rate (× the payload share): what the stream carries, the jump's seconds together, and both links' after it. */
const RATE_SHARE = 0.85;
/** The least any one second of the jump carries, of the same: one of CUBIC's loss recoveries at our queue limit may fall in it (see below). */
const SECOND_SHARE = 0.7;

describe("one link's delay jumps from 20 to 300 ms for 5 s during one TCP upload", () => {
  const cases: Array<[CongestionControl, number]> = [
    ["bbr", 64],
    ["bbr", 0],
    ["cubic", 64],
    ["cubic", 0],
  ];
  for (const [cc, reorder] of cases) {
    test(`${cc}, reorder buffer ${reorder || "off"}: the other link's rate during the jump, both links' within ${AFTER_S} s of its end`, () => {
      const r = runTransfer({
        links: [fixedLink(RATE, 10), fixedLink(RATE, 20)],
        download: false,
        durationMs: JUMP_AT + JUMP_MS + 6000,
        reorderSize: reorder,
        cc,
        seed: 1,
        onTick: (now, paths) => {
          const t = now - 1000; // corepair.ts starts TCP after a second of warm-up
          const delayMs = t >= JUMP_AT && t < JUMP_AT + JUMP_MS ? JUMP_TO_MS : 20;
          for (const p of paths[1]!) if (p.spec.delayMs !== delayMs) p.spec = { ...p.spec, delayMs };
        },
      });
      const second = (from: number) => meanGoodput(r, from, from + 1000);
      const during = Array.from({ length: JUMP_MS / 1000 - 1 }, (_, i) => second(JUMP_AT + 1000 * (i + 1)));
      const after = Array.from({ length: AFTER_S }, (_, i) => second(JUMP_AT + JUMP_MS + 1000 * i));
      console.log(`  ${cc}, buffer ${reorder || "off"}: per second from 1 s after the jump ${during.map((x) => x.toFixed(1)).join(" ")}; after it ${after.map((x) => x.toFixed(1)).join(" ")} Mbit/s`);
      // The jump's seconds together at the other link's rate; any one of them may hold one of
      // CUBIC's loss recoveries at our queue limit (a second of 14.2 Mbit/s, the jump's last,
      // since resends go first: the same recovery came 0.3 s after the jump before), which
      // has nothing to do with the jump. The slow link's trickle this is about cost whole
      // seconds: 0-8 Mbit/s with CUBIC, 10-14 with BBR.
      expect(during.reduce((a, b) => a + b, 0) / during.length).toBeGreaterThan(RATE_SHARE * RATE * PAYLOAD_SHARE);
      for (const g of during) expect(g).toBeGreaterThan(SECOND_SHARE * RATE * PAYLOAD_SHARE);
      expect(Math.max(...after)).toBeGreaterThan(RATE_SHARE * 2 * RATE * PAYLOAD_SHARE);
    }, 60_000);
  }
});
