/**
 * Issue 11's bimodal lab results, examined: runs one bench scenario's upload (scenario 1 by
 * default: 20+20 Mbit/s, 10+10 ms, reorder_buffer_size 64, one TCP stream) many times and records
 * per run what tells a collapsed run from a good one: goodput and retransmits beside the bare best
 * link in the same round, the sender's TCP state (`ss -tin` in the LAN namespace, sampled every
 * 0.5 s: congestion control, cwnd, rtt, delivery rate), both ends' /status (drops by reason, the
 * reorder buffer, per-link stalled/srtt/capacity/send rate/loss), the delay lines' counters, the
 * kernel's UDP receive-buffer errors in each namespace, and the tunnel ends' CPU.
 *
 *   sudo npx bun scripts/bench-collapse.ts [--scenario 1|2|3|4|r1d1|r1d2|r1d4|r1d5|r2d6|r3d6|r4d5|100/40,5/2] [--rounds N] [--runs K] [--seconds S]
 *        [--download] [--other-way-first] [--cc bbr|cubic|…] [--bin PATH] [--priority | --nice N] [--json FILE] [--keep-logs DIR] [--reorder N] [--omit S]
 *
 * A round is a fresh topology and tunnel (as each bench scenario starts), then the bare link once
 * and K tunnel runs. `--cc` is the iperf3 sockets' congestion control (iperf3 -C: a namespace
 * may not change its default to one the host restricts; default: the host's). `--bin` runs another mlvpn binary (an A/B build); `--keep-logs` copies both ends' logs there;
 * `--priority` runs both ends with the delay lines' priority (topology.ts WIRE_PRIORITY).
 */
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, buildBinary, cpuSeconds } from "../test/lab/mlvpn.ts";
import { iperf, startIperfServer } from "../test/lab/measure.ts";
import { labSkipReason } from "../test/lab/netns.ts";
import { createTopology, type Topology, type UplinkShape, WIRE_PRIORITY } from "../test/lab/topology.ts";
import { controlSocketOf, type LabTunnel, startTunnel } from "../test/lab/tunnel.ts";
import { fetchStatus } from "../src/control/client.ts";
import { parseUplink } from "./lab-args.ts";
import { TUNNEL_OVERHEAD, UDP_IPV4_OVERHEAD } from "../src/wire/layout.ts";

const argv = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : fallback;
};

const SHAPES: Record<string, UplinkShape[]> = {
  "1": [{ rateMbit: 20, delayMs: 10 }, { rateMbit: 20, delayMs: 10 }],
  // The sweep's near cells (scripts/bench-sweep.ts r1d1, r1d2): a nearby server.
  r1d1: [{ rateMbit: 20, delayMs: 0.2 }, { rateMbit: 20, delayMs: 0.2 }],
  r1d2: [{ rateMbit: 20, delayMs: 1 }, { rateMbit: 20, delayMs: 1 }],
  // A satellite-like second link (the sweep's r2d6): 20+5 Mbit/s, 20+150 ms.
  r2d6: [{ rateMbit: 20, delayMs: 20 }, { rateMbit: 5, delayMs: 150 }],
  // The same delays with the slower link the larger (the sweep's r3d6): 8+30 Mbit/s.
  r3d6: [{ rateMbit: 8, delayMs: 20 }, { rateMbit: 30, delayMs: 150 }],
  // The sweep's r1d4 and r1d5: 20+20 Mbit/s at 5+35 and 10+60 ms.
  r1d4: [{ rateMbit: 20, delayMs: 5 }, { rateMbit: 20, delayMs: 35 }],
  r1d5: [{ rateMbit: 20, delayMs: 10 }, { rateMbit: 20, delayMs: 60 }],
  // The sweep's r4d5: 50+50 Mbit/s, 10+60 ms.
  r4d5: [{ rateMbit: 50, delayMs: 10 }, { rateMbit: 50, delayMs: 60 }],
  "2": [{ rateMbit: 20, delayMs: 10 }, { rateMbit: 5, delayMs: 10 }],
  "3": [{ rateMbit: 20, delayMs: 10 }, { rateMbit: 20, delayMs: 40 }],
  "4": [
    { rateMbit: 8, delayMs: 15, jitterMs: 5, lossPct: 0.5 },
    { rateMbit: 30, delayMs: 35, jitterMs: 5, lossPct: 0.5 },
  ],
};
const scenario = option("scenario", "1");
// Any pair as uplink shapes, comma-separated (lab-args.ts parseUplink: rate/delay/jitter/loss/queue).
const shapes = SHAPES[scenario] ?? (scenario.includes("/") ? scenario.split(",").map(parseUplink) : undefined);
if (!shapes) throw new Error(`--scenario must be one of ${Object.keys(SHAPES).join(", ")}, or uplinks as rate/delay[,rate/delay…]`);
const ROUNDS = Number(option("rounds", "4"));
const RUNS = Number(option("runs", "2"));
const SECONDS = Number(option("seconds", "10"));
const CC = option("cc", "");
/** iperf3's options for `--cc` (its sockets' congestion control), the same for every run. */
const CC_OPTION = CC ? { congestion: CC } : {};
/** Seconds iperf3 leaves out at the start (--omit 0 shows TCP's start, where the early-phase faults are). */
const OMIT = Number(option("omit", "2"));
const BIN_OVERRIDE = option("bin", "");
const JSON_OUT = option("json", "");
const KEEP_LOGS = option("keep-logs", "");
/** The download instead (iperf3 -R: the internet host sends, the server end schedules). */
const DOWNLOAD = argv.includes("--download");
/** Before the measured runs, one transfer the other way on the same tunnel (as the sweep does: up, then down). */
const OTHER_WAY_FIRST = argv.includes("--other-way-first");
/** reorder_buffer_size of both ends (the guide's 64 by default). */
const REORDER = Number(option("reorder", "64"));
/** Both mlvpn ends with the wire's priority (SCHED_FIFO): does the collapse follow CPU starvation? */
const PRIORITY = argv.includes("--priority");
/** Both mlvpn ends at `nice -n N` instead (a gentler way to keep them ahead of unrelated load). */
const NICE = option("nice", "");
const sum = shapes.reduce((a, s) => a + (s.rateMbit ?? 0), 0);
/** As scripts/bench.ts: a full TCP segment's payload share of a tunnelled frame on the uplink (1432-byte tun MTU). */
const PAYLOAD_SHARE = (1432 - 52) / (1432 + TUNNEL_OVERHEAD + UDP_IPV4_OVERHEAD + 14);

/** One `ss -tin` sample of the iperf3 data connection (the one with the most bytes acked). */
interface TcpSample {
  t: number;
  cc: string;
  cwnd: number;
  rtt: number;
  deliveryMbps: number;
  retrans: number;
  bbr?: string;
  pacingMbps: number;
}

function parseSs(text: string, t: number): TcpSample | undefined {
  let bestSample: TcpSample | undefined;
  let bestAcked = -1;
  for (const block of text.split(/\n(?=\S)/)) {
    if (!block.includes("5201")) continue;
    const acked = Number(/bytes_acked:(\d+)/.exec(block)?.[1] ?? -1);
    if (acked <= bestAcked) continue;
    bestAcked = acked;
    const mbit = (re: RegExp) => {
      const m = re.exec(block);
      if (!m) return 0;
      const v = Number(m[1]);
      return m[2] === "Gbps" ? v * 1000 : m[2] === "Kbps" ? v / 1000 : m[2] === "bps" ? v / 1e6 : v;
    };
    bestSample = {
      t,
      cc: /\b(bbr|cubic|reno|bbr2|bbr3)\b/.exec(block)?.[1] ?? "?",
      cwnd: Number(/cwnd:(\d+)/.exec(block)?.[1] ?? 0),
      rtt: Number(/\brtt:([\d.]+)/.exec(block)?.[1] ?? 0),
      deliveryMbps: mbit(/delivery_rate ([\d.]+)(\w+)/),
      pacingMbps: mbit(/pacing_rate ([\d.]+)(\w+)/),
      retrans: Number(/retrans:\d+\/(\d+)/.exec(block)?.[1] ?? 0),
      bbr: /bbr:\(([^)]*)\)/.exec(block)?.[1],
    };
  }
  return bestSample;
}

async function udpErrors(topo: Topology, ns: string): Promise<Record<string, number>> {
  const r = await topo.lab.exec(ns, ["cat", "/proc/net/snmp"]);
  const lines = r.stdout.split("\n").filter((l) => l.startsWith("Udp:"));
  if (lines.length < 2) return {};
  const names = lines[0]!.split(/\s+/).slice(1);
  const vals = lines[1]!.split(/\s+/).slice(1).map(Number);
  const out: Record<string, number> = {};
  names.forEach((n, i) => {
    if (n === "RcvbufErrors" || n === "SndbufErrors" || n === "InErrors") out[n] = vals[i]!;
  });
  return out;
}

interface Snapshot {
  status: Record<string, unknown>;
  delayLines: unknown[];
  udp: Record<string, Record<string, number>>;
  cpu: number[];
}

async function snapshot(topo: Topology, tunnel: LabTunnel): Promise<Snapshot> {
  const status: Record<string, unknown> = {};
  for (const side of ["client", "server"] as const) {
    const doc = await fetchStatus({ unix: controlSocketOf(tunnel, side) }, 2000).then((r) => r.doc, (e: Error) => ({ error: e.message }));
    status[side] = doc;
  }
  const delayLines = await Promise.all(topo.uplinks.map((_, i) => topo.delayLine(i).then((d) => d.counters)));
  const udp: Record<string, Record<string, number>> = {};
  for (const ns of ["client", "server"]) udp[ns] = await udpErrors(topo, ns);
  return { status, delayLines, udp, cpu: [cpuSeconds(tunnel.client.pid), cpuSeconds(tunnel.server.pid)] };
}

/** A compact per-link view of one end's /status. */
function links(doc: any): string {
  if (!doc?.tunnels) return JSON.stringify(doc);
  return doc.tunnels
    .map((t: any) => `${t.name}: ${t.status}${t.stalled ? " STALLED" : ""} srtt ${t.srtt} min ${t.min_rtt} cap ${(t.capacity_bps / 1e6).toFixed(1)} send ${(t.send_rate_bps / 1e6).toFixed(1)} infl ${t.inflight_bytes} q ${t.queued_packets} lost ${t.lost_packets} sent ${t.sentpackets}`)
    .join(" | ");
}

function diff(a: any, b: any): any {
  if (typeof a === "number" && typeof b === "number") return b - a;
  if (a && b && typeof a === "object") {
    const out: any = Array.isArray(a) ? [] : {};
    for (const k of Object.keys(b)) {
      const d = diff(a[k], b[k]);
      if (d !== undefined && d !== 0) out[k] = d;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return undefined;
}

const skip = labSkipReason();
if (skip) {
  console.error(`bench-collapse: ${skip}`);
  process.exit(1);
}
if (!BIN_OVERRIDE) buildBinary();
const records: unknown[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const topo = await createTopology({ uplinks: shapes });
  let tunnel: LabTunnel | undefined;
  const servers = [];
  try {
    const bin = BIN_OVERRIDE || BIN;
    tunnel = await startTunnel(topo, { reorderBufferSize: REORDER, timeout: 10, controlSockets: true, start: () => (PRIORITY ? { program: [...WIRE_PRIORITY, bin] } : NICE ? { program: ["nice", "-n", NICE, bin] } : { bin }) });
    servers.push(startIperfServer(topo.lab, "inet", topo.internetHost), startIperfServer(topo.lab, "server", topo.serverPublic));
    await Bun.sleep(300);
    const bi = shapes.reduce((bi, u, i) => ((u.rateMbit ?? 0) > (shapes[bi]!.rateMbit ?? 0) ? i : bi), 0);
    const bare = await iperf(topo.lab, "client", topo.serverPublic, { seconds: SECONDS, bind: topo.uplinks[bi]!.clientAddr, omit: OMIT, reverse: DOWNLOAD, ...CC_OPTION });
    if (OTHER_WAY_FIRST) await iperf(topo.lab, "lan", topo.internetHost, { seconds: SECONDS, omit: OMIT, intervalS: 1, reverse: !DOWNLOAD, ...CC_OPTION });
    for (let k = 0; k < RUNS; k++) {
      const before = await snapshot(topo, tunnel);
      const samples: TcpSample[] = [];
      const caps: string[] = [];
      const t0 = performance.now();
      const run = iperf(topo.lab, "lan", topo.internetHost, { seconds: SECONDS, omit: OMIT, intervalS: 1, reverse: DOWNLOAD, ...CC_OPTION });
      let done = false;
      void run.then(() => (done = true));
      while (!done && performance.now() - t0 < (SECONDS + 20) * 1000) {
        const r = await topo.lab.exec(DOWNLOAD ? "inet" : "lan", ["ss", "-tin", "dst", DOWNLOAD ? topo.lanHost : topo.internetHost]);
        const s = parseSs(r.stdout, (performance.now() - t0) / 1000);
        if (s) samples.push(s);
        const doc = await fetchStatus({ unix: controlSocketOf(tunnel, DOWNLOAD ? "server" : "client") }, 1000).then((r) => r.doc, () => undefined);
        // The receiving end's equaliser: its last hold (ms) and the packets that came late (buffer off).
        const rx = await fetchStatus({ unix: controlSocketOf(tunnel, DOWNLOAD ? "client" : "server") }, 1000).then((r) => r.doc, () => undefined);
        const eq = rx?.equaliser ? ` eq ${rx.equaliser.equalise_ms}/${rx.equaliser.late}` : "";
        if (doc) caps.push(doc.tunnels.map((t) => `${(t.capacity_bps / 1e6).toFixed(1)}${t.stalled ? "S" : ""}`).join("/") + `:${doc.drops["queue-full"] ?? 0}${eq}`);
        await Bun.sleep(250);
      }
      const up = await run;
      const after = await snapshot(topo, tunnel);
      const eff = (100 * up.mbps) / (sum * PAYLOAD_SHARE);
      const rec = {
        round,
        run: k,
        bareMbps: bare.mbps,
        mbps: up.mbps,
        eff,
        retransmits: up.retransmits,
        intervals: up.intervals.map((x) => Math.round(x * 10) / 10),
        tcp: samples,
        clientCapacity: caps,
        clientLinksAfter: links((after.status as any).client),
        serverLinksAfter: links((after.status as any).server),
        delta: diff(before, after),
      };
      records.push(rec);
      const d = rec.delta as any;
      console.log(
        `round ${round} run ${k}: bare ${bare.mbps.toFixed(1)}  mlvpn ${up.mbps.toFixed(1)} Mbit/s (${eff.toFixed(1)} %)  retr ${up.retransmits}  intervals ${rec.intervals.join(" ")}`,
      );
      const mid = samples[Math.floor(samples.length / 2)];
      console.log(`  tcp mid: ${mid ? `${mid.cc} cwnd ${mid.cwnd} rtt ${mid.rtt} deliv ${mid.deliveryMbps.toFixed(1)} pacing ${mid.pacingMbps.toFixed(1)} ${mid.bbr ?? ""}` : "-"}`);
      const minRtt = (s: TcpSample) => {
        const m = /mrtt:([\d.]+)/.exec(s.bbr ?? "");
        return m ? `/${Math.round(Number(m[1]))}` : "";
      };
      console.log(`  tcp series (cwnd/rtt/pacing Mbit/s[/BBR min RTT]): ${samples.map((s) => `${s.cwnd}/${Math.round(s.rtt)}/${s.pacingMbps.toFixed(0)}${minRtt(s)}`).join(" ")}`);
      console.log(`  ${DOWNLOAD ? "server" : "client"} capacity Mbit/s per link:queue-full drops, every ~0.3 s: ${caps.join(" ")}`);
      console.log(`  client: ${rec.clientLinksAfter}`);
      console.log(`  server: ${rec.serverLinksAfter}`);
      console.log(`  drops client ${JSON.stringify(d?.status?.client?.drops ?? {})} server ${JSON.stringify(d?.status?.server?.drops ?? {})}`);
      const receiver = DOWNLOAD ? "client" : "server";
      console.log(`  reorder ${receiver} ${JSON.stringify(d?.status?.[receiver]?.reorder ?? {})}`);
      console.log(`  delay lines ${JSON.stringify(d?.delayLines ?? {})}`);
      console.log(`  udp ${JSON.stringify(d?.udp ?? {})}  cpu client/server ${(d?.cpu ?? []).map((x: number) => x?.toFixed?.(2)).join("/")}`);
    }
  } finally {
    for (const p of servers) p.kill();
    if (tunnel && KEEP_LOGS) for (const side of ["client", "server"]) copyFileSync(join(tunnel.dir, `${side}.log`), join(KEEP_LOGS, `round${round}-${side}.log`));
    await tunnel?.stop();
    await topo.destroy();
  }
}
if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify(records, null, 2));
