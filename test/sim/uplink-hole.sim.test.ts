/**
 * An uplink that stops while its downlink keeps working (an LTE modem in a coverage hole for
 * its uplink: the real traces of bench/traces have 1-2 s of nothing one way while the other
 * way carries on). The link stalls; it must stay stalled until the peer acknowledges what we
 * sent since (a probe), not resume on the peer's own packets, which prove only the other
 * direction: a link that resumed on them was given new traffic that went into the dead uplink
 * every time, and what followed it waited at the peer (sendpath.ts answersSinceStall).
 */
import { describe, expect, test } from "bun:test";
import { meanGoodput, PAYLOAD_SHARE, runTransfer } from "./corepair.ts";
import { Trace } from "./pathmodel.ts";

/** corepair.ts starts TCP after a second of warm-up: the trace's time is TCP's + WARMUP_MS. */
const WARMUP_MS = 1000;
const HOLE_FROM_MS = 3000;
const HOLE_TO_MS = 5000;

/** 20 Mbit/s of 1500-byte opportunities, except over the hole: one every `everyMs` (none if Infinity). */
function holeTrace(periodMs: number, everyMs: number): Trace {
  const times: number[] = [];
  for (let t = 0; t < periodMs; t++) {
    if (t >= WARMUP_MS + HOLE_FROM_MS && t < WARMUP_MS + HOLE_TO_MS) {
      if (t % everyMs === 0) times.push(t);
    } else for (let k = 0; k < (t % 3 === 0 ? 1 : 2); k++) times.push(t); // 5 per 3 ms: 20 Mbit/s
  }
  times.push(periodMs);
  return new Trace(times);
}

describe("an uplink hole while the downlink works", () => {
  for (const everyMs of [Number.POSITIVE_INFINITY, 200])
    for (const cc of ["cubic", "bbr"] as const) {
      const hole = everyMs === Number.POSITIVE_INFINITY ? "nothing" : `one packet every ${everyMs} ms`;
      test(`${cc}, a 2 s hole (${hole}) beside a 20 Mbit/s link: the link stays stalled, the other carries the stream`, () => {
        const holed = { trace: holeTrace(20_000, everyMs), delayMs: 15, queuePackets: 1000 };
        const steady = { rateMbit: 20, delayMs: 15 };
        let stalledTicks = 0;
        let ticks = 0;
        const r = runTransfer({
          links: [{ up: holed, down: steady }, { up: steady, down: steady }],
          download: false,
          durationMs: 6000,
          reorderSize: 64,
          cc,
          onTick: (now, _paths, ends) => {
            const t = now - WARMUP_MS;
            if (t < HOLE_FROM_MS + 500 || t >= HOLE_TO_MS) return;
            ticks++;
            if (ends[0]!.links[0]!.stalled) stalledTicks++;
          },
        });
        const during = meanGoodput(r, HOLE_FROM_MS + 500, HOLE_TO_MS);
        const other = 20 * PAYLOAD_SHARE;
        console.log(`  [uplink hole] ${cc}, ${hole}: stalled at ${stalledTicks} of ${ticks} ticks from 0.5 s into it; goodput then ${during.toFixed(1)} Mbit/s (the other link alone: ${other.toFixed(1)})`);
        expect(stalledTicks).toBe(ticks);
        expect(during).toBeGreaterThan(0.9 * other);
      }, 60_000);
    }
});
