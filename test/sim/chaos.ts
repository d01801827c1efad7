/**
 * Chaos on the simulated data plane (corepair.ts): scenarios drawn at random from a seed (1-4
 * links of any rate 0.3-300 Mbit/s or an LTE trace, delays 0.1-300 ms, asymmetry, token buckets,
 * jitter, loss, and faults mid-run: cuts of one link or all, flapping, delay jumps, capacity
 * drops, a link that delivers one direction only), each judged on robustness, not throughput: the
 * run ends, nothing throws, TCP still gets data through once a link has been up for a while, and
 * no queue or buffer is left full. scripts/sim-chaos.ts runs them in a Worker under a wall-clock
 * watchdog (a loop that never ends is reported with its seed instead of hanging);
 * chaos.sim.test.ts keeps a few seeds in npm test. The draw depends on the seed only, so a report
 * names a scenario by its seed, and `--scenario JSON` replays one edited by hand (reduction).
 */
import { STORE_SLOTS } from "../../src/core/linksender.ts";
import { Rng } from "../helpers/random.ts";
import { type LinkPaths, runTransfer, WARMUP_MS } from "./corepair.ts";
import { bucketBytes, type PathSpec, Trace } from "./pathmodel.ts";
import type { CongestionControl } from "./tcpmodel.ts";

export const TRACES = ["ATT-LTE-driving-2016", "Verizon-LTE-short"] as const;

/** One direction of a link before faults. */
export interface Way {
  /** A constant rate, Mbit/s; or `trace`: a Mahimahi trace of bench/traces. */
  rateMbit?: number;
  trace?: string;
  /** A token bucket of one frame plus this many ms of tokens (constant rates only). */
  bucketMs?: number;
  delayMs: number;
  jitterMs?: number;
  loss?: number;
}

export interface ChaosLink {
  up: Way;
  down: Way;
}

/**
 * A fault from `atMs` (transfer time: TCP starts at 0, after corepair.ts's second of warm-up) for
 * `forMs` (absent: to the end). `link` -1: every link. cut: both ways blackholed; flap: cut and
 * restored every `periodMs / 2`; delay: one-way delay `delayMs` both ways; capacity: the rate × `factor`
 * (a trace becomes that share of its mean); oneway: only `way` ("up" or "down") is blackholed.
 */
export interface Fault {
  kind: "cut" | "flap" | "delay" | "capacity" | "oneway";
  link: number;
  atMs: number;
  forMs?: number;
  periodMs?: number;
  delayMs?: number;
  factor?: number;
  way?: "up" | "down";
}

export interface Scenario {
  seed: number;
  links: ChaosLink[];
  faults: Fault[];
  cc: CongestionControl;
  reorder: number;
  download: boolean;
  durationMs: number;
}

export interface Verdict {
  /** "ok", or what went wrong: "stuck" (TCP sent on an up link and nothing arrived), "full" (a queue or buffer left full). */
  status: "ok" | "stuck" | "full";
  detail: string;
  /** Mean goodput of the last 3 s, Mbit/s (for the line; not judged). */
  tailMbit: number;
  /** The most handleTimeout calls of one end in one 100 ms tick (a timer firing in a tight loop shows here first). */
  maxWakeups: number;
}

const round = (x: number, digits: number) => Number(x.toPrecision(digits));

function drawWay(r: Rng): Way {
  const w: Way = { rateMbit: round(r.log(0.3, 300), 2), delayMs: round(r.log(0.1, 300), 2) };
  if (r.chance(0.3)) w.bucketMs = r.pick([10, 50, 200]);
  return w;
}

/** The scenario of `seed`: the same on every machine. */
export function drawScenario(seed: number): Scenario {
  const r = new Rng(seed * 2654435761);
  const n = r.pick([1, 2, 2, 2, 3, 3, 4, 4]);
  const links: ChaosLink[] = [];
  for (let i = 0; i < n; i++) {
    let up: Way, down: Way;
    if (r.chance(0.15)) {
      const trace = r.pick(TRACES);
      const delayMs = round(r.log(5, 100), 2);
      up = { trace: `${trace}.up`, delayMs };
      down = { trace: `${trace}.down`, delayMs };
    } else {
      up = drawWay(r);
      // Asymmetric in about half the links (ADSL, cable, LTE); the delay too in one of five.
      down = { ...up, ...(r.chance(0.5) ? { rateMbit: round(Math.min(300, Math.max(0.3, up.rateMbit! * r.log(0.1, 10))), 2) } : {}) };
      if (r.chance(0.2)) down.delayMs = round(r.log(0.1, 300), 2);
    }
    if (r.chance(0.3)) up.jitterMs = down.jitterMs = round(r.log(0.1, 30), 2);
    if (r.chance(0.4)) {
      const loss = round(r.log(0.001, 0.1), 2);
      const which = r.float();
      if (which < 0.7) up.loss = down.loss = loss;
      else if (which < 0.85) up.loss = loss;
      else down.loss = loss;
    }
    links.push({ up, down });
  }
  const durationMs = 1000 * (10 + Math.floor(r.float() * 21));
  const faults: Fault[] = [];
  const count = r.pick([0, 1, 1, 2, 2, 3, 4]);
  for (let i = 0; i < count; i++) {
    const kind = r.pick(["cut", "cut", "flap", "delay", "capacity", "oneway"] as const);
    const f: Fault = { kind, link: n > 1 && kind === "cut" && r.chance(0.4) ? -1 : r.int(n), atMs: 100 * Math.floor(10 + r.float() * (durationMs / 100 - 20)) };
    if (r.chance(0.85)) f.forMs = 100 * Math.round(r.log(1, 150));
    if (kind === "flap") f.periodMs = 100 * Math.round(r.log(2, 30));
    if (kind === "delay") f.delayMs = round(r.log(1, 600), 2);
    if (kind === "capacity") f.factor = round(r.log(0.02, 0.5), 2);
    if (kind === "oneway") f.way = r.pick(["up", "down"] as const);
    faults.push(f);
  }
  return { seed, links, faults, cc: r.pick(["cubic", "bbr"] as const), reorder: r.pick([0, 64, 256]), download: r.chance(0.5), durationMs };
}

const fmtWay = (w: Way) => `${w.trace ?? `${w.rateMbit}${w.bucketMs ? `b${w.bucketMs}` : ""}`}/${w.delayMs}${w.jitterMs ? `±${w.jitterMs}` : ""}${w.loss ? ` ${round(w.loss * 100, 2)}%` : ""}`;
const fmtFault = (f: Fault) =>
  `${f.kind}${f.kind === "oneway" ? `-${f.way}` : ""} ${f.link < 0 ? "all" : `l${f.link}`} @${f.atMs / 1000}s${f.forMs !== undefined ? ` ${f.forMs / 1000}s` : " to end"}${f.periodMs ? ` /${f.periodMs}ms` : ""}${f.delayMs ? ` →${f.delayMs}ms` : ""}${f.factor ? ` ×${f.factor}` : ""}`;

export function describeScenario(s: Scenario): string {
  const links = s.links.map((l, i) => `l${i} ${fmtWay(l.up)} | ${fmtWay(l.down)}`).join(", ");
  return `${s.links.length} link(s) [${links}] faults [${s.faults.map(fmtFault).join("; ")}] ${s.cc} rb ${s.reorder} ${s.download ? "down" : "up"} ${s.durationMs / 1000}s`;
}

const traces = new Map<string, Trace>();
function traceOf(name: string): Trace {
  let t = traces.get(name);
  if (!t) traces.set(name, (t = Trace.load(new URL(`../../bench/traces/${name}`, import.meta.url).pathname)));
  return t;
}

function baseSpec(w: Way): PathSpec {
  if (w.trace) return { trace: traceOf(w.trace), delayMs: w.delayMs, jitterMs: w.jitterMs, loss: w.loss };
  return { rateMbit: w.rateMbit, ...(w.bucketMs ? { burstBytes: bucketBytes(w.rateMbit!, w.bucketMs) } : {}), delayMs: w.delayMs, jitterMs: w.jitterMs, loss: w.loss };
}

const active = (f: Fault, t: number) => t >= f.atMs && (f.forMs === undefined || t < f.atMs + f.forMs);
const hits = (f: Fault, link: number) => f.link < 0 || f.link === link;

/** Whether `way` of `link` is blackholed at transfer time t. */
export function isCut(s: Scenario, link: number, way: "up" | "down", t: number): boolean {
  return s.faults.some(
    (f) =>
      hits(f, link) &&
      active(f, t) &&
      (f.kind === "cut" || (f.kind === "oneway" && f.way === way) || (f.kind === "flap" && Math.floor((t - f.atMs) / (f.periodMs! / 2)) % 2 === 0)),
  );
}

/** The spec of `way` of `link` at transfer time t: the base with the faults active then. */
function specAt(s: Scenario, link: number, way: "up" | "down", t: number): PathSpec {
  const w = s.links[link]![way];
  let spec = baseSpec(w);
  for (const f of s.faults) {
    if (!hits(f, link) || !active(f, t)) continue;
    if (f.kind === "delay") spec = { ...spec, delayMs: f.delayMs! };
    if (f.kind === "capacity") {
      // Not below 0.1 Mbit/s (a packet per 0.12 s): slower, and a TCP's timers alone would stop it.
      const mbit = Math.max(0.1, (w.trace ? traceOf(w.trace).meanMbit(0, traceOf(w.trace).periodMs) : w.rateMbit!) * f.factor!);
      spec = { ...spec, trace: undefined, rateMbit: mbit, burstBytes: undefined };
    }
  }
  return isCut(s, link, way, t) ? { ...spec, cut: true } : spec;
}

/**
 * Runs a scenario and judges it. Throws what the core throws (the caller reports it). Judged:
 * - stuck: a constant-rate link up both ways for 3 s or more before TCP's last segment sent in
 *   time (2 s, 4 one-way delays and a queue's drain before the end), and no goodput from that
 *   segment to the end (the tunnel repairs its own losses: one segment suffices). TCP's backoff
 *   after a long cut is not a fault: judged from what TCP sent, not from when the link came back. TCP's own backoff after a long cut is not a fault: it is judged
 *   from what TCP sent, not from when the link came back.
 * - full: a link's send queue at its bound (half the store) 2 s before the end and at the end,
 *   nothing sent from it meanwhile; or a reorder buffer holding all it can (its span's ceiling,
 *   maxSpan) at both. A busy queue at its bound is the scheduler's choice, not a fault.
 */
export function runScenario(s: Scenario, log?: (line: string) => void): Verdict {
  const links: LinkPaths[] = s.links.map((l) => ({ up: baseSpec(l.up), down: baseSpec(l.down) }));
  const n = s.links.length;
  const upSince = new Array<number>(n).fill(0);
  const sends: number[] = [];
  let wakeups = [0, 0];
  let maxWakeups = 0;
  let wrapped = false;
  type State = { queues: number[][]; sent: number[][]; held: number[]; maxSpan: number[]; holding: number[] };
  let end: State | undefined;
  let before: State | undefined;
  const last = new Map<string, string>();
  const r = runTransfer({
    links,
    download: s.download,
    durationMs: s.durationMs,
    reorderSize: s.reorder,
    cc: s.cc,
    seed: s.seed,
    onTick: (now, paths, ends, tcp) => {
      const t = now - WARMUP_MS;
      if (log && t % 500 === 0) log(stateLine(t, ends, tcp, sends));
      if (!wrapped) {
        // Count the ends' wake-ups, and when TCP hands the tunnel a data segment (kind 1).
        wrapped = true;
        ends.forEach((e, i) => {
          const core = e as unknown as { handleTimeout(now: number): void; tun(p: Uint8Array, now: number): void };
          const handle = core.handleTimeout.bind(core);
          core.handleTimeout = (at: number) => (wakeups[i]!++, handle(at));
          if (i === 0) {
            const tun = core.tun.bind(core);
            core.tun = (p: Uint8Array, at: number) => (p[0] === 1 && sends.push(at - WARMUP_MS), tun(p, at));
          }
        });
      }
      maxWakeups = Math.max(maxWakeups, ...wakeups);
      wakeups = [0, 0];
      for (let i = 0; i < n; i++) {
        // paths[i][0] carries the data: the up way for an upload, the down way for a download.
        const ways = s.download ? (["down", "up"] as const) : (["up", "down"] as const);
        for (let k = 0; k < 2; k++) {
          const spec = specAt(s, i, ways[k]!, t);
          const key = JSON.stringify({ ...spec, trace: spec.trace ? "t" : undefined });
          if (last.get(`${i}${k}`) !== key) {
            last.set(`${i}${k}`, key);
            paths[i]![k]!.spec = spec;
          }
        }
        if (isCut(s, i, "up", t) || isCut(s, i, "down", t)) upSince[i] = Number.POSITIVE_INFINITY;
        else if (upSince[i] === Number.POSITIVE_INFINITY) upSince[i] = t;
      }
      // The state 2 s before the end and at the end: a queue or buffer at its bound at both, with
      // nothing sent from that queue meanwhile, is stuck there.
      if (t + 2000 === s.durationMs || t + 100 >= s.durationMs) {
        const state = {
          queues: ends.map((e) => e.links.map((l) => l.sender.queueLength)),
          sent: ends.map((e) => e.links.map((l) => l.sender.sentPackets)),
          held: ends.map((e) => e.reorder?.heldCount ?? 0),
          maxSpan: ends.map((e) => e.reorder?.maxSpan ?? Number.POSITIVE_INFINITY),
          holding: ends.map((e) => (e as unknown as { equaliser: { stats: { holding: number } } }).equaliser.stats.holding),
        };
        if (t + 100 >= s.durationMs) end = state;
        else before = state;
      }
    },
  });
  const goodput = (from: number) => r.goodput100ms.slice(Math.floor(from / 100)).reduce((a, b) => a + b, 0);
  const tailMbit = goodput(s.durationMs - 3000) / 30;
  const verdict = (status: Verdict["status"], detail: string): Verdict => ({ status, detail, tailMbit, maxWakeups });
  // A trace's holes (ATT's uplink has 3 s of nothing) are not faults: only constant-rate links count as up.
  const steady = upSince.map((u, i) => (s.links[i]!.up.trace ? Number.POSITIVE_INFINITY : u));
  const upFrom = Math.min(...steady) + 3000;
  // Time for a segment to get through: round trips at the longest delay, and a bottleneck queue of
  // 64 packets at the slowest rate any link has during the run (0.1 Mbit/s: 7.7 s).
  const maxDelay = Math.max(...s.links.flatMap((l) => [l.up.delayMs, l.down.delayMs]), ...s.faults.map((f) => f.delayMs ?? 0));
  const minRate = Math.max(0.1, Math.min(...s.links.flatMap((l, i) => [l.up, l.down].map((w) => Math.min(w.rateMbit ?? 1, ...s.faults.filter((f) => f.kind === "capacity" && hits(f, i)).map((f) => (w.rateMbit ?? 1) * f.factor!))))));
  const latest = s.durationMs - 2000 - 4 * maxDelay - (64 * 1500 * 8) / (minRate * 1000);
  const lastSend = sends.filter((x) => x <= latest).pop();
  if (lastSend !== undefined && lastSend >= upFrom && goodput(lastSend) === 0) {
    return verdict("stuck", `link up since ${Math.min(...steady) / 1000} s; TCP's last segment in time sent at ${(lastSend / 1000).toFixed(2)} s (${sends.filter((x) => x >= upFrom).length} from ${upFrom / 1000} s), nothing delivered from then`);
  }
  if (end && before) {
    const full: string[] = [];
    const [a, b] = [before, end];
    b.queues.forEach((q, e) => q.forEach((len, i) => len >= STORE_SLOTS / 2 && a.queues[e]![i]! >= STORE_SLOTS / 2 && a.sent[e]![i] === b.sent[e]![i] && full.push(`end ${e} link ${i} queue ${len}, nothing sent for 2 s`)));
    b.held.forEach((h, e) => h >= b.maxSpan[e]! && a.held[e]! >= a.maxSpan[e]! && full.push(`end ${e} reorder holds ${h}, its most, for 2 s`));
    if (full.length > 0) return verdict("full", full.join(", "));
  }
  return verdict("ok", end ? `queues ${end.queues.map((q) => q.join("/")).join(" ")}, held ${end.held.join("/")}, equaliser ${end.holding.join("/")}` : "");
}

type Ends = Parameters<NonNullable<Parameters<typeof runTransfer>[0]["onTick"]>>[2];
type Tcp = Parameters<NonNullable<Parameters<typeof runTransfer>[0]["onTick"]>>[3];

/** One line of state every 500 ms for `--verbose` (scripts/sim-chaos.ts): each end's links (stalled, queue, sent, in flight), held packets, TCP's counters. */
function stateLine(t: number, ends: Ends, tcp: Tcp, sends: number[]): string {
  const x = tcp as unknown as { sndUna: number; sndNxt: number; cwnd: number; inflight: number; rtoBackoff: number };
  const links = ends.map((e, i) => `end${i} ${e.links.map((l) => `[${l.stalled ? "S" : ""}q${l.sender.queueLength} s${l.sender.sentPackets} f${l.sender.inflightBytes}]`).join("")} rb${e.reorder?.heldCount ?? "-"}`);
  return `t ${(t / 1000).toFixed(1)} tcp una ${x.sndUna} nxt ${x.sndNxt} cwnd ${x.cwnd.toFixed(0)} infl ${x.inflight} rtos ${tcp.rtos} backoff ${x.rtoBackoff} segs ${sends.length} | ${links.join(" | ")}`;
}
