/**
 * Issue 11's "low state" on a virtual machine whose hypervisor steals a share of the CPU: the
 * tunnel's ends stop for a few to tens of milliseconds now and then, and every datagram gets a
 * few ms of random delay. In the lab (12-34 % of the CPU stolen) both links then sometimes left
 * the estimator's startup within the first second at about 3 Mbit/s, below the estimate they
 * started from, and the stream sat at a quarter of the sum (docs/scheduler.md, "Delay noise is
 * not a full pipe").
 *
 * The noise, outside the core (corepair.ts's paths, wrapped before the transfer starts):
 * - each end stops at random times (exponential gaps, mean STALL_GAP_MS) for 1 to STALL_MAX_MS
 *   (uniform); what arrives for a stopped end is read when it resumes, and what it sends while
 *   stopped leaves when it resumes (the machine, its kernel included, did not run meanwhile);
 * - each datagram gets 0 to JITTER_MS of extra delay (order kept, pathmodel.ts).
 * The two ends' stops are independent, as two processes on different virtual CPUs. Stopped
 * 11-16 % of the time, inside the lab's measured steal (12-34 %). Not every shape of noise
 * did it on the estimator before: stops of 1-8 ms every 20 ms or so (19 % of the time) left
 * 20+20 Mbit/s at 10+10 ms with BBR at 98-99 % of the sum by the worst 5 s, seeds 1-6 (a stop
 * shorter than a round does not move the round's minimum delay); it takes stops longer than a
 * round trip, as a hypervisor's scheduling gives.
 */
import { describe, expect, test } from "bun:test";
import { SeededRandom } from "../helpers/random.ts";
import { meanGoodput, PAYLOAD_SHARE, runTransfer } from "./corepair.ts";
import type { Path } from "./pathmodel.ts";
import type { CongestionControl } from "./tcpmodel.ts";

const STALL_GAP_MS = 150;
const STALL_MAX_MS = 50;
const JITTER_MS = 3;
/** corepair.ts runs the tunnel for a second before TCP starts. */
const WARMUP_MS = 1000;
const DURATION_MS = 6000;
const SEEDS = [1, 2, 3, 4, 5, 6];

/** Each end's stops, [start, end) ms, sorted; from 100 ms (after the paths are wrapped). */
function stops(seed: number, untilMs: number): Array<Array<[number, number]>> {
  const rand = new SeededRandom(seed * 7919 + 13);
  return [0, 1].map(() => {
    const out: Array<[number, number]> = [];
    for (let t = 100 + STALL_GAP_MS * rand.float(); t < untilMs; ) {
      const len = 1 + (STALL_MAX_MS - 1) * rand.float();
      out.push([t, t + len]);
      t += len - STALL_GAP_MS * Math.log(1 - rand.float());
    }
    return out;
  });
}

interface Outcome {
  /** In-order goodput per second of the transfer, Mbit/s. */
  seconds: number[];
  /** Each link's estimate (sending end) at the first 100 ms tick after it left startup, and when. */
  exits: string[];
  /** Share of the time the ends were stopped, %. */
  stolenPct: number;
}

function noisyTransfer(rates: [number, number], delays: [number, number], cc: CongestionControl, seed: number): Outcome {
  const until = WARMUP_MS + DURATION_MS;
  const stopped = stops(seed, until);
  const resumeAt = (end: number, t: number) => {
    for (const [a, b] of stopped[end]!) {
      if (a > t) break;
      if (t < b) return b;
    }
    return t;
  };
  const link = (rateMbit: number, delayMs: number) => ({ up: { rateMbit, delayMs, jitterMs: JITTER_MS }, down: { rateMbit, delayMs, jitterMs: JITTER_MS } });
  const inStartup = [true, true];
  const exits: string[] = [];
  let wrapped = false;
  const r = runTransfer({
    links: [link(rates[0], delays[0]), link(rates[1], delays[1])],
    download: false,
    durationMs: DURATION_MS,
    reorderSize: 64,
    seed,
    cc,
    onTick: (now, paths, ends) => {
      if (!wrapped) {
        wrapped = true;
        // paths[link][0] carries end 0's datagrams to end 1, paths[link][1] the way back.
        for (const pair of paths) {
          pair.forEach((p: Path, from) => {
            const send = p.send.bind(p);
            p.send = (bytes, t) => {
              const arrive = send(bytes, resumeAt(from, t));
              return arrive < 0 ? arrive : resumeAt(1 - from, arrive);
            };
          });
        }
      }
      ends[0]!.links.forEach((l, i) => {
        if (!inStartup[i] || l.sender.estimator.inStartup) return;
        inStartup[i] = false;
        exits.push(`${((l.sender.estimator.bandwidth * 8) / 1000).toFixed(1)} Mbit/s at ${now - WARMUP_MS} ms`);
      });
    },
  });
  let stolen = 0;
  for (const end of stopped) for (const [a, b] of end) stolen += Math.min(b, until) - a;
  return {
    seconds: Array.from({ length: DURATION_MS / 1000 }, (_, i) => meanGoodput(r, 1000 * i, 1000 * (i + 1))),
    exits,
    stolenPct: (100 * stolen) / (2 * until),
  };
}

/**
 * Runs below the best link, with what the simulator shows; a listed run must stay below (the
 * list only shrinks). Two were listed with the full-pipe rule alone (20+20 Mbit/s 10+40 ms CUBIC
 * seed 1, 8+30 Mbit/s BBR seed 1: the longer link left startup on its other rule, three rounds
 * without 25 % growth, held flat by TCP, not by the link; docs/scheduler.md "Estimates that start
 * low"); both pass since the unequal-delay rule (src/core/spread.ts).
 */
const KNOWN_LOW: Record<string, string> = {
  // Empty since the unequal-delay rule (src/core/spread.ts) was merged with this one: 20+20
  // Mbit/s at 10+40 ms CUBIC seed 1 gives 32.6 Mbit/s (was 17.9), 8+30 Mbit/s BBR seed 1 32.5
  // (was 21.8).
};

describe("delay noise of a busy virtual machine does not keep the tunnel low (the lab's low state)", () => {
  const pairs: Array<{ rates: [number, number]; delays: [number, number] }> = [
    { rates: [20, 20], delays: [10, 10] }, // lab scenarios 1, 6 and 7
    { rates: [20, 20], delays: [10, 40] }, // scenario 3
    { rates: [20, 5], delays: [10, 10] }, // scenario 2
    { rates: [8, 30], delays: [15, 35] }, // scenario 4's rates and delays
  ];
  for (const { rates, delays } of pairs) {
    for (const cc of ["bbr", "cubic"] as const) {
      const name = `${rates.join("+")} Mbit/s, ${delays.join("+")} ms, ${cc}`;
      test(`${name}, seeds ${SEEDS.join(", ")}: from 1 s to 6 s, above the best link alone`, () => {
        // Issue 11: never below the best single link (here over the 5 s after TCP's first
        // second, the low state's span); the low state was a quarter of the sum.
        const best = Math.max(...rates) * PAYLOAD_SHARE;
        const rows: string[] = [];
        const wrong: string[] = [];
        for (const seed of SEEDS) {
          const o = noisyTransfer(rates, delays, cc, seed);
          const mean = o.seconds.slice(1).reduce((a, b) => a + b, 0) / (o.seconds.length - 1);
          const key = `${name}, seed ${seed}`;
          rows.push(`seed ${seed} (${o.stolenPct.toFixed(0)} % stopped): from 1 s ${mean.toFixed(1)} Mbit/s, per s ${o.seconds.map((x) => x.toFixed(1)).join(" ")}; startup left at ${o.exits.join(", ")}`);
          if (key in KNOWN_LOW) {
            if (mean > best) wrong.push(`${key}: ${mean.toFixed(1)} Mbit/s, above the best link now: take it off KNOWN_LOW`);
          } else if (mean <= best) wrong.push(`${key}: ${mean.toFixed(1)} Mbit/s`);
        }
        console.log(`  ${name}, the best link × payload share ${best.toFixed(1)} Mbit/s\n  ${rows.join("\n  ")}`);
        expect(wrong).toEqual([]);
      }, 120_000);
    }
  }
});
