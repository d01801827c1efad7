/**
 * Pairs of links nobody chose: the simulated sweep's judging (test/sim/sweepgrid.ts `judge`) on
 * link pairs drawn at random, so that a change is measured outside the grid it was made on.
 * The grid names four rate pairs (at most 4 × apart) and seven delay pairs; users bond fibre with
 * ADSL, cable with a 3 Mbit/s line, LTE with a satellite. No root needed.
 *
 *   bun scripts/sim-random-pairs.ts [--seed 1] [--count 30] [--cc both|cubic|bbr] [--seconds 20] [--bucket-ms 0] [--asymmetric] [--json FILE]
 *
 * Each pair: two constant-rate links, rates drawn from 1-100 Mbit/s and one-way delays from
 * 0.5-80 ms (fixed sets, log-spaced), 1 % loss on the slower link in about 3 of 10 pairs, ±5 ms
 * jitter on both in about 1 of 5; one TCP stream up for 20 s, with the reorder buffer at 64 and
 * off, for each congestion control asked. A pair is judged as a constant-rate cell of the sweep:
 * the worst 5 s against the sum × payload share (floor 85 %: no delay drawn is long enough for
 * the sweep's satellite rule) and against the best link alone, bare TCP.
 *
 * `ceiling` is what the tunnel could reach at most against the best link: the sum × payload share
 * ÷ the best link's bare goodput. Below 1, no tunnel can match the best link alone (a link adding
 * less than the headers cost); such pairs are counted apart. The summary groups pairs by how
 * unequal their rates are, and by whether the slower link is also the nearer one.
 * `--seed` draws other pairs; the simulation's own random draws (loss, jitter, TCP) use seed 1.
 * `--bucket-ms N` puts each link behind a token bucket of one frame plus N ms of tokens, as the
 * lab's htb (10): a shaper passes that much at line rate after an idle spell, which hides a
 * link's rate from a short train of packets (src/core/train.ts) and skews early delivery samples.
 * `--asymmetric` gives each link a slower way back (its rate ÷ 1, 2, 4, 8 or 16, at least 0.25
 * Mbit/s: ADSL, LTE, cable) and makes each transfer a download, so that TCP's acknowledgements
 * and our FEEDBACKs share the thin uplinks; the same seed draws the same rates and delays.
 */
import { writeFileSync } from "node:fs";
import { PAYLOAD_SHARE, runTransfer } from "../test/sim/corepair.ts";
import { bucketBytes, type PathSpec } from "../test/sim/pathmodel.ts";
import { type Cell, judge } from "../test/sim/sweepgrid.ts";
import type { CongestionControl } from "../test/sim/tcpmodel.ts";
import { number, option, readOptions, UsageError } from "./lab-args.ts";

const RATES = [1, 2, 3, 5, 8, 10, 15, 20, 30, 40, 60, 100];
const DELAYS = [0.5, 2, 5, 10, 15, 20, 30, 40, 60, 80];
/** Rates this many times apart or more form their own group in the summary. */
const UNEQUAL_RATIO = 8;
/** Shares of the pairs drawn with loss on the slower link, and with jitter on both. */
const LOSSY_SHARE = 0.3;
const JITTER_SHARE = 0.2;
/** The loss and the jitter they get: the grid's loss, and half its jitter. */
const LOSS = 0.01;
const JITTER_MS = 5;
/** --asymmetric: a link's way back is its rate divided by one of these (ADSL's 8/1 or 20/1, LTE's 3/1), at least MIN_BACK_MBIT. */
const ASYMMETRY = [1, 2, 4, 8, 16];
const MIN_BACK_MBIT = 0.25;

export interface RandomPair {
  /** In the transfer's direction (down with --asymmetric). */
  rates: [number, number];
  /** --asymmetric: each link's other direction, slower (an ADSL or LTE uplink), carrying TCP's acknowledgements. */
  back?: [number, number];
  delays: [number, number];
  loss: boolean;
  jitter: boolean;
}

/** A linear congruential generator: the same pairs for a seed on every machine and Bun version. */
function lcg(seed: number): () => number {
  let s = Math.floor(Math.abs(seed)) % 2147483648;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

export function drawPairs(seed: number, count: number, asymmetric = false): RandomPair[] {
  const rnd = lcg(seed);
  // Its own stream, so that a seed draws the same rates and delays with and without --asymmetric.
  const rndBack = lcg(seed + 1_000_003);
  const back = (rate: number) => Math.max(MIN_BACK_MBIT, rate / ASYMMETRY[Math.floor(rndBack() * ASYMMETRY.length)]!);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const pairs: RandomPair[] = [];
  for (let i = 0; i < count; i++) {
    const rates: [number, number] = [pick(RATES), pick(RATES)];
    const delays: [number, number] = [pick(DELAYS), pick(DELAYS)];
    pairs.push({ rates, delays, loss: rnd() < LOSSY_SHARE, jitter: rnd() < JITTER_SHARE, ...(asymmetric ? { back: [back(rates[0]), back(rates[1])] as [number, number] } : {}) });
  }
  return pairs;
}

export function pairName(p: RandomPair): string {
  const rate = (i: number) => (p.back ? `${p.rates[i]}/${p.back[i]}` : `${p.rates[i]}`);
  return `${rate(0)}+${rate(1)} Mbit/s ${p.delays[0]}+${p.delays[1]} ms${p.jitter ? ` ±${JITTER_MS}` : ""}${p.loss ? ` ${LOSS * 100}% loss` : ""}`;
}

export function pairCell(p: RandomPair, bucketMs = 0): Cell {
  // As the grid: the slower link is the lossy one (of two equal ones, the second).
  const lossy = p.rates[0] < p.rates[1] ? 0 : 1;
  const spec = (i: number, rateMbit: number): PathSpec => ({ rateMbit, ...(bucketMs > 0 ? { burstBytes: bucketBytes(rateMbit, bucketMs) } : {}), delayMs: p.delays[i]!, ...(p.jitter ? { jitterMs: JITTER_MS } : {}), loss: p.loss && i === lossy ? LOSS : 0 });
  return {
    name: pairName(p),
    // With back rates the transfer is a download: the data comes down at `rates`, TCP's
    // acknowledgements (and our FEEDBACKs for them) go up the slower `back` direction.
    links: [0, 1].map((i) => ({ up: spec(i, p.back?.[i] ?? p.rates[i]!), down: spec(i, p.rates[i]!) })),
    download: p.back !== undefined,
    capacity: () => p.rates[0] + p.rates[1],
    satellite: Math.max(...p.delays) >= 100,
    trace: false,
    spread: p.delays[0] !== p.delays[1],
    jitter: p.jitter,
    loss: p.loss,
  };
}

/** "rates ≥ 8 × apart, slower link nearer" and the like: the summary's groups. */
export function pairGroup(p: RandomPair): string {
  const [r0, r1] = p.rates;
  const unequal = Math.max(r0, r1) / Math.min(r0, r1) >= UNEQUAL_RATIO ? `rates ≥ ${UNEQUAL_RATIO} × apart` : `rates < ${UNEQUAL_RATIO} × apart`;
  if (r0 === r1) return `${unequal}, equal rates`;
  const slow = r0 < r1 ? 0 : 1;
  const d = p.delays[slow]! - p.delays[1 - slow]!;
  return `${unequal}, slower link ${d < 0 ? "nearer" : d > 0 ? "farther" : "as near"}`;
}

interface Row {
  pair: string;
  group: string;
  cc: CongestionControl;
  reorder: number;
  efficiency: number;
  ratio: number;
  ceiling: number;
  meetsFloor: boolean;
  beatsBest: boolean;
}

function main(): void {
  const argv = process.argv.slice(2);
  const asymmetric = argv.includes("--asymmetric");
  if (asymmetric) argv.splice(argv.indexOf("--asymmetric"), 1);
  const { seed, count, seconds, ccs, json, bucketMs } = readOptions("sim-random-pairs", () => {
    const seed = number(option(argv, "--seed") ?? "1", "--seed");
    const count = number(option(argv, "--count") ?? "30", "--count");
    const seconds = number(option(argv, "--seconds") ?? "20", "--seconds");
    const cc = option(argv, "--cc") ?? "both";
    if (cc !== "both" && cc !== "cubic" && cc !== "bbr") throw new UsageError(`--cc: cubic, bbr or both, not ${JSON.stringify(cc)}`);
    const ccs: CongestionControl[] = cc === "both" ? ["cubic", "bbr"] : [cc];
    const json = option(argv, "--json");
    const bucketMs = number(option(argv, "--bucket-ms") ?? "0", "--bucket-ms");
    if (argv.length > 0) throw new UsageError(`unknown argument ${JSON.stringify(argv[0])}`);
    if (count < 1 || !Number.isInteger(count)) throw new UsageError("--count: a whole number of pairs, at least 1");
    if (seconds < 8) throw new UsageError("--seconds: at least 8 (the judging skips 2 s and takes 5 s windows)");
    if (bucketMs < 0) throw new UsageError("--bucket-ms: 0 (no bucket) or more");
    return { seed, count, seconds, ccs, json, bucketMs };
  });
  const durationMs = seconds * 1000;
  const rows: Row[] = [];
  console.log(`random pairs, seed ${seed}, ${count} pairs, ${seconds} s, ${asymmetric ? "down over asymmetric links" : "up"}${bucketMs > 0 ? `, buckets of ${bucketMs} ms` : ""}; eff. and × best: worst 5 s`);
  for (const p of drawPairs(seed, count, asymmetric)) {
    const cell = pairCell(p, bucketMs);
    for (const cc of ccs)
      for (const reorder of [64, 0]) {
        const o = judge(cell, reorder, runTransfer({ links: cell.links, download: cell.download, durationMs, reorderSize: reorder, cc, seed: 1 }), durationMs, cc);
        const ceiling = ((p.rates[0] + p.rates[1]) * PAYLOAD_SHARE) / o.best;
        const row: Row = { pair: cell.name, group: pairGroup(p), cc, reorder, efficiency: o.efficiency, ratio: o.ratio, ceiling, meetsFloor: o.meetsFloor, beatsBest: o.beatsBest };
        rows.push(row);
        const mark = o.meetsFloor ? "  " : o.beatsBest ? "~ " : "✗ ";
        console.log(`${mark}${`${cell.name} rb ${reorder} ${cc}`.padEnd(52)} eff ${(o.efficiency * 100).toFixed(0).padStart(3)} %  ${o.ratio.toFixed(2)}× best (ceiling ${ceiling.toFixed(2)}×)`);
      }
  }
  console.log("\nby group (runs; at the floor; at or above the best link, of those whose ceiling allows it; geometric mean × best):");
  const groups = [...new Set(rows.map((r) => r.group))].sort();
  for (const g of [...groups, "all"]) {
    const rs = rows.filter((r) => g === "all" || r.group === g);
    const possible = rs.filter((r) => r.ceiling >= 1);
    const gm = Math.exp(rs.reduce((a, r) => a + Math.log(Math.max(r.ratio, 1e-3)), 0) / rs.length);
    const worst = rs.reduce((a, r) => (r.ratio < a.ratio ? r : a));
    console.log(`  ${g.padEnd(44)} ${String(rs.length).padStart(3)} runs; floor ${rs.filter((r) => r.meetsFloor).length}; ≥ best ${possible.filter((r) => r.beatsBest).length} of ${possible.length}; gm ${gm.toFixed(3)}×; worst ${worst.ratio.toFixed(2)}× (${worst.pair} rb ${worst.reorder} ${worst.cc})`);
  }
  if (json) writeFileSync(json, JSON.stringify({ seed, count, seconds, bucketMs, rows }, null, 1));
}

if (import.meta.main) main();
