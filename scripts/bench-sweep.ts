/**
 * `npm run bench -- --sweep` (issue 11 §2): the tunnel over a grid of link pairs instead of named
 * scenarios, each cell beside the bare best single link in the same run. `--sweep --quick` runs a
 * 3-cell subset (under 10 minutes), `--sweep --cells r1d2,t1` some cells (JSON only; a cell may
 * also be a pair the grid does not name, `--cells 12@3+40@25l1`: customCell; `--cc cubic` sets the
 * TCP senders' congestion control instead of the host's default). Called from
 * scripts/bench.ts; needs root and iperf3.
 *
 * The grid. Rates (Mbit/s) 20+20, 20+5, 8+30, 50+50 × one-way delays (ms) 0.2+0.2, 1+1, 10+10,
 * 5+35, 10+60, 20+150, 30+30 with 10 ms jitter, loss 0: all 28 pairs. Loss 1 % on the slower link
 * (the second of equal links): a diagonal of 7 cells, each delay once and the rates in turn, so
 * that loss meets every delay and every rate without the 56-cell product. And two trace cells:
 * a fixed 8 Mbit/s 15 ms link + Verizon-LTE-short with 25 ms, and Verizon-LTE-short 25 ms +
 * ATT-LTE-driving-2016 35 ms (bench/traces). 37 cells; each takes about 2.5 minutes (measured:
 * the JSON records every cell's duration), about 90 minutes in all.
 *
 * A cell: one topology; the bare best single link measured once per direction (reused for both
 * reorder settings); then for reorder_buffer_size 64 and 0 a tunnel with an idle ping (2 s at
 * 10 ms), one TCP stream up and one down, each SECONDS s after OMIT s of slow start, in 1 s
 * intervals, with a 10 ms ping through the tunnel during the measured seconds. Every trace is
 * rewound just before each measurement, so that bare link and tunnel see the same capacity.
 *
 * What counts. Constant-rate cells count by their worst 5 s (the lowest mean of 5 consecutive
 * 1 s intervals): a cell that aggregates and then falls back to one link is judged by the
 * fallback. Trace cells count by the mean over the window (their capacity moves by design; the
 * worst 5 s against the trace's capacity over the same 5 s is shown beside it). Efficiency =
 * counted goodput ÷ (Σ link capacity × the TCP payload share of a full tunnelled packet): a
 * constant link's rate counts Ethernet frames (htb), a trace link's capacity is the trace's mean
 * over the measured window in IP bytes (Mahimahi's unit), each with its own payload share.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../test/lab/mlvpn.ts";
import { answered, iperf, type IperfResult, percentile, pingSeries, startIperfServer } from "../test/lab/measure.ts";
import { createTopology, type Topology, type UplinkShape } from "../test/lab/topology.ts";
import { loadTrace, type Trace, traceMeanMbit } from "../test/lab/trace.ts";
import { startTunnel } from "../test/lab/tunnel.ts";
import { TUNNEL_OVERHEAD, UDP_IPV4_OVERHEAD } from "../src/wire/layout.ts";

const SECONDS = 20;
const OMIT = 2;
const WORST_WINDOW_S = 5;
const IDLE_PROBES = 200;
/** Before a transfer whose iperf3 failed at the start runs once more: the shared server's last test is over by then. */
const RETRY_PAUSE_MS = 3000;
const PROBE_MS = 10;
const REORDER = [64, 0] as const;
const TUN_MTU = 1432;
/** TCP payload of a full tunnelled segment (52 bytes of IP+TCP headers with timestamps) per byte on the link. */
const payloadShare = (linkHeader: number) => (TUN_MTU - 52) / (TUN_MTU + TUNNEL_OVERHEAD + UDP_IPV4_OVERHEAD + linkHeader);
const SHARE_ETHERNET = payloadShare(14); // htb counts Ethernet frames
const SHARE_IP = payloadShare(0); // a trace counts IP packets

export const SWEEP_BEGIN = "<!-- sweep: written by `npm run bench -- --sweep` -->";
export const SWEEP_END = "<!-- /sweep -->";

type Dir = "up" | "down";
const DIRS: Dir[] = ["up", "down"];

interface Cell {
  id: string;
  kind: "rate" | "trace";
  label: string;
  /** Two for the grid's cells; two to four for cells outside it (customCell). */
  links: UplinkShape[];
}

interface RunResult {
  reorder: number;
  dir: Dir;
  goodputMbps: number;
  worst5sMbps: number;
  countedMbps: number;
  /** The bare best link's goodput counted the same way (worst 5 s or mean). */
  bareCountedMbps: number;
  intervals: number[];
  retransmits: number;
  capacityMbps: number;
  efficiencyPct: number;
  /** Trace cells: the worst 5 s against the capacity of the same 5 s, %. */
  worst5sEfficiencyPct?: number;
  ratioToBest: number;
  idleP50: number;
  idleP99: number;
  loadP50: number;
  loadP99: number;
  probesAnswered: string;
  error?: string;
  /** The transfer failed before its first interval with this error and was run once more. */
  retriedAfter?: string;
  targets: { name: string; met: boolean }[];
}

interface CellResult {
  id: string;
  kind: Cell["kind"];
  label: string;
  links: UplinkShape[];
  seconds: number;
  bare: Record<Dir, { link: number; mbps: number; intervals: number[]; retransmits: number; error?: string; retriedAfter?: string }>;
  runs: RunResult[];
  error?: string;
}

const RATES: [number, number][] = [[20, 20], [20, 5], [8, 30], [50, 50]];
const DELAYS: { d: [number, number]; jitter?: number }[] = [{ d: [0.2, 0.2] }, { d: [1, 1] }, { d: [10, 10] }, { d: [5, 35] }, { d: [10, 60] }, { d: [20, 150] }, { d: [30, 30], jitter: 10 }];

const slower = (r: [number, number]) => (r[1] <= r[0] ? 1 : 0);

function rateCell(ri: number, di: number, lossPct: number): Cell {
  const r = RATES[ri]!;
  const { d, jitter } = DELAYS[di]!;
  const links = r.map((rate, i): UplinkShape => ({ rateMbit: rate, delayMs: d[i]!, ...(jitter ? { jitterMs: jitter } : {}), ...(lossPct && i === slower(r) ? { lossPct } : {}) }));
  return {
    id: `r${ri + 1}d${di + 1}${lossPct ? "l" : ""}`,
    kind: "rate",
    label: `${r[0]}+${r[1]} Mbit/s, ${d[0]}+${d[1]} ms${jitter ? ` ±${jitter} ms jitter` : ""}${lossPct ? `, ${lossPct} % loss on the ${r[0] === r[1] ? "second" : "slower"} link` : ""}`,
    links,
  };
}

const TRACE_CELLS: Cell[] = [
  { id: "t1", kind: "trace", label: "8 Mbit/s 15 ms + Verizon-LTE-short 25 ms", links: [{ rateMbit: 8, delayMs: 15 }, { trace: "Verizon-LTE-short", delayMs: 25 }] },
  { id: "t2", kind: "trace", label: "Verizon-LTE-short 25 ms + ATT-LTE-driving-2016 35 ms", links: [{ trace: "Verizon-LTE-short", delayMs: 25 }, { trace: "ATT-LTE-driving-2016", delayMs: 35 }] },
];

/** A cell outside the grid has at most as many links as the lab's topology (test/lab/topology.ts). */
const MAX_LINKS = 4;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * A cell outside the grid, for link pairs (or sets of up to MAX_LINKS links) the grid does not
 * name: `A+B`, `A+B+C`, each link `RATE@DELAY` (Mbit/s, one-way ms) or `TRACE@DELAY` (a trace of
 * bench/traces), optionally followed by `jJ` (jitter, ms) and `lP` (loss, %): `12@3+40@25`,
 * `15@40+15@80l2`, `ATT-LTE-driving-2016@30+10@12j5`, `8@10+20@25+30@40`. The spec is the
 * cell's id. undefined when it is not one.
 */
export function customCell(spec: string): Cell | undefined {
  const parts = spec.split("+");
  if (parts.length < 2 || parts.length > MAX_LINKS) return undefined;
  const links: UplinkShape[] = [];
  for (const p of parts) {
    const m = /^([A-Za-z][\w.-]*|\d+(?:\.\d+)?)@(\d+(?:\.\d+)?)(?:j(\d+(?:\.\d+)?))?(?:l(\d+(?:\.\d+)?))?$/.exec(p);
    if (!m) return undefined;
    const [, what, delay, jitter, loss] = m;
    const isRate = /^\d/.test(what!);
    if (isRate && !(Number(what) > 0)) return undefined;
    links.push({
      ...(isRate ? { rateMbit: Number(what) } : { trace: what! }),
      delayMs: Number(delay),
      ...(jitter ? { jitterMs: Number(jitter) } : {}),
      ...(loss ? { lossPct: Number(loss) } : {}),
    });
  }
  const describe = (l: UplinkShape) =>
    `${l.trace ?? `${l.rateMbit} Mbit/s`} ${l.delayMs} ms${l.jitterMs ? ` ±${l.jitterMs}` : ""}${l.lossPct ? ` ${l.lossPct} % loss` : ""}`;
  return { id: spec, kind: links.some((l) => l.trace) ? "trace" : "rate", label: links.map(describe).join(" + "), links };
}

export function sweepCells(quick: boolean): Cell[] {
  // Quick: the nearby 20+20 pair (the issue's fallback case), 8+30 with 1 % loss on the 8, ADSL + LTE.
  if (quick) return [rateCell(0, 1, 0), rateCell(2, 2, 1), TRACE_CELLS[0]!];
  const cells: Cell[] = [];
  for (let ri = 0; ri < RATES.length; ri++) for (let di = 0; di < DELAYS.length; di++) cells.push(rateCell(ri, di, 0));
  for (let di = 0; di < DELAYS.length; di++) cells.push(rateCell(di % RATES.length, di, 1));
  return [...cells, ...TRACE_CELLS];
}

const traceCache = new Map<string, Trace>();
const traceOf = (name: string) => {
  let t = traceCache.get(name);
  if (!t) traceCache.set(name, (t = loadTrace(name)));
  return t;
};

/** TCP payload capacity of a link in one direction over [fromS, toS) after a rewind, Mbit/s. */
function capacity(s: UplinkShape, dir: Dir, fromS: number, toS: number): number {
  if (s.trace) return traceMeanMbit(traceOf(s.trace + (dir === "up" ? ".up" : ".down")), fromS * 1000, toS * 1000) * SHARE_IP;
  return (s.rateMbit ?? 0) * SHARE_ETHERNET;
}

const worstWindow = (xs: number[], n: number) => {
  if (xs.length < n) return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
  let worst = Infinity;
  for (let k = 0; k + n <= xs.length; k++) worst = Math.min(worst, xs.slice(k, k + n).reduce((a, b) => a + b, 0) / n);
  return worst;
};
const f1 = (x: number) => Math.round(x * 10) / 10;
const delays = (c: { links: UplinkShape[] }) => c.links.map((l) => l.delayMs ?? 0);
/** The links' delay spread: the largest one-way delay minus the smallest, plus the largest jitter. */
const spreadMs = (c: { links: UplinkShape[] }) => Math.max(...delays(c)) - Math.min(...delays(c)) + Math.max(...c.links.map((l) => l.jitterMs ?? 0));

/**
 * The link a user would keep if they had one: the most capacity after its loss, then the shorter
 * delay. By capacity alone, a tie went to the first link listed, lossy or not (a pair whose first
 * link had 1 % loss at 80 ms measured its "best link" at 1 Mbit/s beside a clean one of 18).
 */
export function bestSingleLink(links: readonly { capacityMbit: number; lossPct: number; delayMs: number }[]): number {
  let best = 0;
  const score = (i: number) => links[i]!.capacityMbit * (1 - links[i]!.lossPct / 100);
  for (let i = 1; i < links.length; i++) {
    const d = score(i) - score(best);
    if (d > 0 || (d === 0 && links[i]!.delayMs < links[best]!.delayMs)) best = i;
  }
  return best;
}

/**
 * Runs a transfer, and once more after `pauseMs` if its iperf3 failed before its first interval:
 * iperf3's server, shared by back-to-back transfers, sometimes resets the next one's control
 * connection before it starts (seen on the LTE pair, and on bare downloads right after the bare
 * upload: "unable to receive control message", a bare link read 0 and the cell 20 000 × best).
 * The first error is returned beside the result.
 */
export async function onceMoreIfNoInterval<T>(run: () => Promise<T>, iperfOf: (x: T) => IperfResult, onRetry: (error: string | undefined) => void, pauseMs = RETRY_PAUSE_MS): Promise<{ value: T; firstError?: string }> {
  const value = await run();
  const first = iperfOf(value);
  if (first.ok || first.intervals.length > 0) return { value };
  onRetry(first.error);
  await Bun.sleep(pauseMs);
  return { value: await run(), firstError: first.error };
}

/** What the table says of a bare transfer that failed, or ran twice. */
export function bareNote(b: CellResult["bare"][Dir]): string {
  const clean = (e: string) => e.replaceAll("|", "/");
  return `${b.error ? `; bare link's iperf3: ${clean(b.error)}` : ""}${b.retriedAfter ? `; bare link run twice, the first failed: ${clean(b.retriedAfter)}` : ""}`;
}

async function runCell(c: Cell, log: (s: string) => void, cc?: string): Promise<CellResult> {
  const topo: Topology = await createTopology({ uplinks: c.links });
  const servers = [startIperfServer(topo.lab, "inet", topo.internetHost), startIperfServer(topo.lab, "server", topo.serverPublic)];
  const win = [OMIT, OMIT + SECONDS] as const;
  const cap = (i: number, dir: Dir) => capacity(c.links[i]!, dir, win[0], win[1]);
  try {
    await Bun.sleep(300);
    const bare = {} as CellResult["bare"];
    for (const dir of DIRS) {
      const best = bestSingleLink(c.links.map((u, i) => ({ capacityMbit: cap(i, dir), lossPct: u.lossPct ?? 0, delayMs: u.delayMs ?? 0 })));
      const bareTransfer = async () => {
        await topo.rewind();
        return iperf(topo.lab, "client", topo.serverPublic, { seconds: SECONDS, omit: OMIT, reverse: dir === "down", bind: topo.uplinks[best]!.clientAddr, congestion: cc });
      };
      const { value: r, firstError } = await onceMoreIfNoInterval(bareTransfer, (x) => x, (e) => log(`  bare link ${best + 1} ${dir}: iperf3 failed before any interval (${e}); once more`));
      bare[dir] = { link: best, mbps: r.mbps, intervals: r.intervals, retransmits: r.retransmits, ...(r.ok ? {} : { error: r.error }), ...(firstError ? { retriedAfter: firstError } : {}) };
      log(`  bare link ${best + 1} ${dir}: ${f1(r.mbps)} Mbit/s`);
    }
    const runs: RunResult[] = [];
    for (const reorder of REORDER) {
      const tunnel = await startTunnel(topo, { reorderBufferSize: reorder, timeout: 10 });
      log(`  tunnel up (reorder_buffer_size ${reorder})`);
      try {
        const idle = answered(await pingSeries(topo.lab, "lan", topo.internetHost, IDLE_PROBES, PROBE_MS, (IDLE_PROBES * PROBE_MS) / 1000));
        for (const dir of DIRS) {
          /** One transfer from a rewound trace, with the ping probe during its measured seconds. */
          const transferWithProbes = async () => {
            await topo.rewind();
            const transfer = iperf(topo.lab, "lan", topo.internetHost, { seconds: SECONDS, omit: OMIT, reverse: dir === "down", congestion: cc });
            await Bun.sleep(OMIT * 1000);
            const probes = await pingSeries(topo.lab, "lan", topo.internetHost, ((SECONDS - 1) * 1000) / PROBE_MS, PROBE_MS, SECONDS - 1);
            return { t: await transfer, probes };
          };
          // The first error stays in the result.
          const { value, firstError } = await onceMoreIfNoInterval(transferWithProbes, (x) => x.t, (e) => log(`  reorder ${reorder} ${dir}: iperf3 failed before any interval (${e}); once more`));
          const { t, probes } = value;
          const r = measured(reorder, dir, t, idle, answered(probes), `${answered(probes).length}/${probes.sent}`, sum(c.links.map((_, i) => cap(i, dir))));
          if (firstError) r.retriedAfter = firstError;
          derive(c, r, bare[dir], OMIT);
          runs.push(r);
          log(`  reorder ${reorder} ${dir}: ${f1(r.goodputMbps)} Mbit/s (worst 5 s ${f1(r.worst5sMbps)}), ${f1(r.efficiencyPct)} %, ${f1(r.ratioToBest)} × best, ping +${f1(r.loadP99 - r.idleP99)} ms p99`);
        }
      } finally {
        await tunnel.stop();
      }
    }
    return { id: c.id, kind: c.kind, label: c.label, links: c.links, seconds: SECONDS, bare, runs };
  } finally {
    for (const p of servers) p.kill();
    await topo.destroy();
  }
}

/** What a transfer measured, as stored; `derive` computes the rest from it (again when re-rendering). */
function measured(reorder: number, dir: Dir, t: IperfResult, idle: number[], load: number[], probesAnswered: string, capacityMbps: number): RunResult {
  return {
    reorder,
    dir,
    goodputMbps: t.mbps,
    intervals: t.intervals,
    retransmits: t.retransmits,
    capacityMbps,
    idleP50: percentile(idle, 50),
    idleP99: percentile(idle, 99),
    loadP50: percentile(load, 50),
    loadP99: percentile(load, 99),
    probesAnswered,
    ...(t.ok ? {} : { error: t.error }),
    worst5sMbps: 0,
    countedMbps: 0,
    bareCountedMbps: 0,
    efficiencyPct: 0,
    ratioToBest: 0,
    targets: [],
  };
}

/** The counted goodput: the worst 5 s for a constant-rate cell (a fallback counts), the mean for a trace cell. */
const counted = (kind: Cell["kind"], mean: number, intervals: number[]) => (kind === "trace" ? mean : Math.min(mean, worstWindow(intervals, WORST_WINDOW_S)));

/** Fills the derived fields of a run: counted goodput, efficiency, ratio to the bare best link (counted alike), targets. */
function derive(c: { kind: Cell["kind"]; links: UplinkShape[] }, r: RunResult, bare: { mbps: number; intervals: number[] }, omit: number): void {
  r.worst5sMbps = worstWindow(r.intervals, WORST_WINDOW_S);
  r.countedMbps = counted(c.kind, r.goodputMbps, r.intervals);
  r.bareCountedMbps = counted(c.kind, bare.mbps, bare.intervals);
  r.efficiencyPct = (100 * r.countedMbps) / r.capacityMbps;
  r.ratioToBest = r.countedMbps / Math.max(r.bareCountedMbps, 0.001);
  const t: RunResult["targets"] = [];
  if (c.kind === "rate") {
    if (Math.max(...delays(c)) >= 150) t.push({ name: "≥ 1.3 × best single", met: r.ratioToBest >= 1.3 });
    else t.push({ name: "≥ 85 % of sum", met: r.efficiencyPct >= 85 });
    if (spreadMs(c) <= 50) t.push({ name: "p99 ≤ idle + 30 ms", met: r.loadP99 <= r.idleP99 + 30 });
  } else {
    t.push({ name: "≥ 80 % of sum", met: r.efficiencyPct >= 80 }, { name: "≥ 1.2 × best single", met: r.ratioToBest >= 1.2 });
  }
  t.push({ name: "≥ best single", met: r.ratioToBest >= 1 });
  r.targets = t;
  if (c.kind === "trace") {
    // The worst 5 s against the capacity of the same 5 s (interval k is second omit + k after the rewind).
    let worst = Infinity;
    for (let k = 0; k + WORST_WINDOW_S <= r.intervals.length; k++) {
      const got = r.intervals.slice(k, k + WORST_WINDOW_S).reduce((a, b) => a + b, 0) / WORST_WINDOW_S;
      const can = sum(c.links.map((l) => capacity(l, r.dir, omit + k, omit + k + WORST_WINDOW_S)));
      worst = Math.min(worst, (100 * got) / can);
    }
    r.worst5sEfficiencyPct = worst;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : Number.NaN;
}

/** The BENCHMARKS.md section: design, summary (minimum, median per kind), every cell. */
function section(results: CellResult[], header: string): string {
  const out = [SWEEP_BEGIN, "## Sweep (issue 11)", "", header, ""];
  const runs = results.flatMap((r) => r.runs.map((x) => ({ cell: r, run: x })));
  const allTargets = runs.flatMap((x) => x.run.targets);
  out.push(`Targets met: ${allTargets.filter((t) => t.met).length} of ${allTargets.length}${results.some((r) => r.error) ? `; cells that failed to run: ${results.filter((r) => r.error).map((r) => r.id).join(", ")}` : ""}.`, "");
  out.push("| kind | reorder | direction | runs | efficiency min (cell) | efficiency median | × best single min (cell) | × best median |", "|---|---|---|---|---|---|---|---|");
  for (const kind of ["rate", "trace"] as const) {
    for (const reorder of REORDER) {
      for (const dir of DIRS) {
        const xs = runs.filter((x) => x.cell.kind === kind && x.run.reorder === reorder && x.run.dir === dir);
        if (!xs.length) continue;
        const minBy = (f: (r: RunResult) => number) => xs.reduce((m, x) => (f(x.run) < f(m.run) ? x : m));
        const e = minBy((r) => r.efficiencyPct);
        const b = minBy((r) => r.ratioToBest);
        out.push(`| ${kind === "rate" ? "constant rate" : "trace"} | ${reorder} | ${dir} | ${xs.length} | ${f1(e.run.efficiencyPct)} % (${e.cell.id}) | ${f1(median(xs.map((x) => x.run.efficiencyPct)))} % | ${f1(b.run.ratioToBest)} (${b.cell.id}) | ${f1(median(xs.map((x) => x.run.ratioToBest)))} |`);
      }
    }
  }
  out.push(
    "",
    "Every cell (goodput: mean over the window / worst 5 s; counted = worst 5 s for constant-rate cells, the mean for trace cells, for the bare link too; efficiency = counted ÷ capacity × payload share; × best = counted ÷ bare counted; ping: added p50 / p99 of the 10 ms probe under load vs idle, idle p99 in brackets):",
    "",
    "| cell | links | reorder | dir | goodput Mbit/s | bare best Mbit/s (mean / counted) | capacity Mbit/s | efficiency | × best | retrans | ping +p50 / +p99 ms (idle p99) | targets |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
  );
  for (const r of results) {
    if (r.error) {
      out.push(`| ${r.id} | ${r.label} | | | error: ${r.error.replaceAll("|", "/")} | | | | | | | |`);
      continue;
    }
    for (const x of r.runs) {
      const tg = x.targets.map((t) => `${t.name} ${t.met ? "✅" : "❌"}`).join("; ");
      const w = x.worst5sEfficiencyPct !== undefined ? ` (worst 5 s ${f1(x.worst5sEfficiencyPct)} %)` : "";
      out.push(
        `| ${r.id} | ${r.label} | ${x.reorder} | ${x.dir} | ${f1(x.goodputMbps)} / ${f1(x.worst5sMbps)} | ${f1(r.bare[x.dir].mbps)} / ${f1(x.bareCountedMbps)} (link ${r.bare[x.dir].link + 1}) | ${f1(x.capacityMbps)} | ${f1(x.efficiencyPct)} %${w} | ${f1(x.ratioToBest)} | ${x.retransmits} | ${f1(x.loadP50 - x.idleP50)} / ${f1(x.loadP99 - x.idleP99)} (${f1(x.idleP99)}) | ${tg}${x.error ? `; iperf3: ${x.error.replaceAll("|", "/")}` : ""}${x.retriedAfter ? `; run twice, the first failed: ${x.retriedAfter.replaceAll("|", "/")}` : ""}${bareNote(r.bare[x.dir])} |`,
      );
    }
  }
  out.push("", SWEEP_END, "");
  return out.join("\n");
}

/** BENCHMARKS.md with the sweep section replaced (or added at the end). */
export function withSweepSection(current: string, sweep: string): string {
  const a = current.indexOf(SWEEP_BEGIN);
  const b = current.indexOf(SWEEP_END);
  if (a >= 0 && b > a) return current.slice(0, a) + sweep + current.slice(b + SWEEP_END.length).replace(/^\n+/, "");
  return `${current.trimEnd()}\n\n${sweep}`;
}

/** The sweep section of a BENCHMARKS.md text ("" if none), for a run of the scenarios to keep. */
export function sweepSectionOf(text: string): string {
  const a = text.indexOf(SWEEP_BEGIN);
  const b = text.indexOf(SWEEP_END);
  return a >= 0 && b > a ? text.slice(a, b + SWEEP_END.length) + "\n" : "";
}

interface StoredSweep {
  /** The TCP senders' congestion control when --cc chose one. */
  cc?: string;
  date: string;
  commit: string;
  dirty: boolean;
  quick: boolean;
  seconds: number;
  omit: number;
  minutes: number;
  loadAverage: string;
  cores: number;
  shareEthernet: number;
  shareIp: number;
  results: (CellResult & { minutes: number })[];
}

/** Writes the sweep's section of BENCHMARKS.md from a stored result (`--sweep --from FILE` re-renders one); returns it. */
export function writeSweepSection(r: StoredSweep): string {
  const perCell = r.results.reduce((a, c) => a + c.minutes, 0) / Math.max(1, r.results.length);
  const full = sweepCells(false).length;
  const header =
    `Measured on ${r.date}, commit ${r.commit}${r.dirty ? " (with uncommitted changes in src/)" : ""}, ${r.cores} cores, load average ${r.loadAverage} at the end: the machine was shared with other work, so absolute numbers are noisy; each cell compares tunnel and bare link side by side in one run. ` +
    `${r.quick ? `\`--sweep --quick\` (${r.results.length} of the ${full} cells)` : `\`--sweep\` (${r.results.length} cells)`}, ${r.minutes.toFixed(1)} min in all, ${perCell.toFixed(1)} min per cell: the full sweep takes about ${Math.round(perCell * full)} min. ` +
    `Each transfer: one TCP stream, ${r.seconds} s after ${r.omit} s of slow start, 1 s intervals. Reproduce: \`sudo npm run bench -- --sweep\` (\`--quick\`: 3 cells).\n\n` +
    "Grid: rates 20+20, 20+5, 8+30, 50+50 Mbit/s × one-way delays 0.2+0.2, 1+1, 10+10, 5+35, 10+60, 20+150, 30+30 ms with 10 ms jitter, all 28 pairs without loss; 1 % loss on the slower link (the second of equal ones) on a diagonal of 7 (each delay once, the rates in turn); two trace cells (bench/traces). " +
    "Constant-rate cells count by their worst 5 s (so a cell that aggregates and then falls back to one link is judged by the fallback), trace cells by their mean. Efficiency = counted goodput ÷ (Σ capacity × the TCP payload share of a full tunnelled packet): a constant link's rate (Ethernet frames), a trace link's mean over the measured window (IP packets). × best = counted goodput ÷ the bare best single link's, counted alike and measured in the same cell. Targets (issue 11 §3): constant-rate cells ≥ 85 % (20+150 ms cells: ≥ 1.3 × best), trace cells ≥ 80 % and ≥ 1.2 × best, never below the best single link, and ping p99 under load ≤ idle p99 + 30 ms where the delay spread is ≤ 50 ms.";
  const md = join(ROOT, "BENCHMARKS.md");
  let current = "";
  try {
    current = readFileSync(md, "utf8");
  } catch {
    current = "# Benchmarks\n";
  }
  for (const c of r.results) for (const run of c.runs) derive(c, run, c.bare[run.dir], r.omit);
  const text = section(r.results, header);
  writeFileSync(md, withSweepSection(current, text));
  return text;
}

export function rerenderSweep(file: string): void {
  writeSweepSection(JSON.parse(readFileSync(file, "utf8")) as StoredSweep);
  console.error(`sweep: BENCHMARKS.md section written from ${file}`);
}

export async function runSweep(o: { quick: boolean; commit: string; dirty: boolean; cells?: string[]; cc?: string }): Promise<void> {
  const all = sweepCells(false);
  const chosen = (o.cells ?? []).map((id) => all.find((c) => c.id === id) ?? customCell(id));
  const unknown = (o.cells ?? []).filter((_, k) => !chosen[k]);
  if (unknown.length) throw new Error(`unknown sweep cell ${unknown.join(", ")} (cells: ${all.map((c) => c.id).join(" ")}, or A+B with each link RATE@DELAY or TRACE@DELAY, then jJITTER, lLOSS: 12@3+40@25l1)`);
  const cells = o.cells?.length ? (chosen as Cell[]) : sweepCells(o.quick);
  const results: (CellResult & { minutes: number })[] = [];
  const started = performance.now();
  const log = (s: string) => console.error(`${((performance.now() - started) / 1000).toFixed(0).padStart(5)} s ${s}`);
  for (const [k, c] of cells.entries()) {
    log(`sweep: cell ${k + 1}/${cells.length} ${c.id}: ${c.label}`);
    const t0 = performance.now();
    let r: CellResult;
    try {
      r = await runCell(c, log, o.cc);
    } catch (e) {
      r = { id: c.id, kind: c.kind, label: c.label, links: c.links, seconds: SECONDS, bare: {} as CellResult["bare"], runs: [], error: (e as Error).message };
      log(`  error: ${r.error}`);
    }
    results.push({ ...r, minutes: (performance.now() - t0) / 60_000 });
  }
  const minutes = (performance.now() - started) / 60_000;
  const date = new Date().toISOString().slice(0, 10);
  const loadAverage = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
  const jsonFile = join(ROOT, "bench", "results", `${date}-${o.commit}-sweep${o.cells?.length ? `-cells-${o.cells.join("-").replace(/[^\w.-]/g, "_")}` : o.quick ? "-quick" : ""}${o.cc ? `-${o.cc}` : ""}.json`);
  const stored: StoredSweep = { ...(o.cc ? { cc: o.cc } : {}), date, commit: o.commit, dirty: o.dirty, quick: o.quick, seconds: SECONDS, omit: OMIT, minutes, loadAverage, cores: navigator.hardwareConcurrency, shareEthernet: SHARE_ETHERNET, shareIp: SHARE_IP, results };
  writeFileSync(jsonFile, JSON.stringify(stored, null, 2));
  // A chosen subset only gets its JSON: BENCHMARKS.md shows whole runs (--quick or all).
  if (o.cells?.length) console.log(JSON.stringify(results.map((r) => ({ id: r.id, runs: r.runs.map((x) => [x.reorder, x.dir, f1(x.goodputMbps), f1(x.efficiencyPct)]) }))));
  else console.log(writeSweepSection(stored));
  log(`sweep: results in ${jsonFile}${o.cells?.length ? "" : " and BENCHMARKS.md"}`);
}
