/**
 * Speed: unshaped lab (two uplinks without rate, delay or loss; the delay lines still carry
 * them), the guide's configuration (reorder_buffer_size = 64), one TCP stream LAN host →
 * internet host. Runs alternate with a baseline so that a noisy shared machine affects both
 * alike: the bare uplink (iperf3 from the client router to the server over uplink 1), and, with
 * a baseline binary, the same tunnel run by that binary. Each tunnel run reports its goodput
 * and the CPU cost per forwarded packet of each mlvpn process (user + system CPU time from
 * /proc ÷ packets through the client's tun, the same packets the server forwards), during the TCP transfer and during a fixed-rate UDP load
 * (the same packet rate for every binary, so the same batching).
 *
 *   sudo bun scripts/bench-speed.ts [--seconds 8] [--repeats 3] [--baseline-bin PATH] [--json FILE]
 *   sudo bun scripts/bench-speed.ts --profile DIR [--source-root CHECKOUT] [--seconds 8]
 * `npm run bench` runs it as scenario 12 (`--baseline-bin` is passed on). --profile runs both
 * ends from source (src/ of this checkout or of CHECKOUT) under `bun --cpu-prof` for one
 * transfer and leaves DIR/{client,server}.cpuprofile and .md (Bun's summary) behind.
 */
import { writeFileSync } from "node:fs";
import { basename } from "node:path";
import { BIN, buildBinary, cpuPerPacket, type Side, type StartOptions } from "../test/lab/mlvpn.ts";
import { iperf, type IperfResult, startIperfServer } from "../test/lab/measure.ts";
import { labSkipReason } from "../test/lab/netns.ts";
import { createTopology, type Topology, type UplinkShape } from "../test/lab/topology.ts";
import { startTunnel } from "../test/lab/tunnel.ts";

export const SPEED_NAME = "speed: unshaped, one TCP stream LAN → internet, guide configuration";
export const SPEED_UPLINKS: UplinkShape[] = [{}, {}];
const REORDER_BUFFER_SIZE = 64;
/** A UDP load every build keeps up with on a busy 2-core machine (~9 000 packets/s). */
const FIXED_UDP_MBIT = 100;
const FIXED_UDP_SECONDS = 4;
/**
 * Both ends' packets are counted at the client's tun, where each LAN packet is read and each
 * acknowledgement written alone: the server's tun counts a run of TCP segments it writes joined
 * (src/io/tun-gro.ts) as one packet, which would make its cost per packet look N times larger.
 */
const PACKETS_COUNTED_AT = "client";

export interface SpeedOptions {
  seconds: number;
  repeats: number;
  /** A binary to compare with, run alternately with dist/mlvpn. */
  baselineBin?: string;
}

export interface SpeedRun {
  /** "bare uplink", "mlvpn" (dist/mlvpn) or "baseline" (the baseline binary). */
  what: string;
  mbps: number;
  retransmits: number;
  /** CPU µs per packet through the tun, client and server (tunnel runs only). */
  clientUs?: number;
  serverUs?: number;
  /** The same at a fixed UDP load (FIXED_UDP_MBIT): equal packet rates for every binary compared. */
  fixedClientUs?: number;
  fixedServerUs?: number;
  error?: string;
}

export interface SpeedMetric {
  name: string;
  value: number | string;
  unit?: string;
  target?: string;
  met?: boolean;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const f1 = (x: number) => Math.round(x * 10) / 10;

/** An iperf3 run, again after a pause while the server still finishes the previous test. */
async function transfer(run: () => Promise<IperfResult>): Promise<IperfResult> {
  let r = await run();
  for (let k = 0; k < 5 && !r.ok && /busy/.test(r.error ?? ""); k++) {
    await Bun.sleep(1000);
    r = await run();
  }
  return r;
}

/** One tunnel run: starts both ends with `bin`, one stream for `seconds`, stops them. */
async function tunnelRun(topo: Topology, what: string, seconds: number, bin?: string, start?: (side: Side) => StartOptions): Promise<SpeedRun> {
  const tunnel = await startTunnel(topo, { reorderBufferSize: REORDER_BUFFER_SIZE, timeout: 10, start: start ?? (() => ({ bin })) });
  try {
    await Bun.sleep(300);
    const cost = await cpuPerPacket(topo.lab, [
      { pid: tunnel.client.pid, ns: "client" },
      { pid: tunnel.server.pid, ns: PACKETS_COUNTED_AT },
    ]);
    const r = await transfer(() => iperf(topo.lab, "lan", topo.internetHost, { seconds }));
    const [clientUs, serverUs] = await cost();
    // CPU per packet depends on the packet rate (fixed costs per wake-up are shared by the
    // packets of a batch): at one fixed rate every binary gets the same batches.
    const fixed = await cpuPerPacket(topo.lab, [
      { pid: tunnel.client.pid, ns: "client" },
      { pid: tunnel.server.pid, ns: PACKETS_COUNTED_AT },
    ]);
    await transfer(() => iperf(topo.lab, "lan", topo.internetHost, { seconds: FIXED_UDP_SECONDS, udpMbit: FIXED_UDP_MBIT, length: 1400 }));
    const [fixedClientUs, fixedServerUs] = await fixed();
    return { what, mbps: r.mbps, retransmits: r.retransmits, clientUs, serverUs, fixedClientUs, fixedServerUs, error: r.ok ? undefined : r.error };
  } finally {
    await tunnel.stop();
  }
}

/** One transfer with both ends run from source under Bun's sampling profiler. */
async function profileRun(topo: Topology, dir: string, seconds: number, sourceRoot?: string): Promise<SpeedRun> {
  const servers = [startIperfServer(topo.lab, "inet", topo.internetHost)];
  try {
    return await tunnelRun(topo, "mlvpn (profiled)", seconds, undefined, (side) => ({
      fromSource: true,
      sourceRoot,
      runtimeArgs: ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${side}.cpuprofile`],
    }));
  } finally {
    for (const s of servers) s.kill();
  }
}

/** The runs, alternating: bare uplink, [baseline,] mlvpn — `repeats` times. No tunnel may be running. */
export async function speedRuns(topo: Topology, o: SpeedOptions, progress?: (r: SpeedRun) => void, startServers = true): Promise<SpeedRun[]> {
  // iperf3 servers on the internet host and on the server (for the bare uplink), unless running.
  const servers = startServers ? [startIperfServer(topo.lab, "inet", topo.internetHost), startIperfServer(topo.lab, "server", topo.serverPublic)] : [];
  const runs: SpeedRun[] = [];
  const add = (r: SpeedRun) => {
    runs.push(r);
    progress?.(r);
  };
  try {
    await Bun.sleep(300);
    for (let k = 0; k < o.repeats; k++) {
      const bare = await transfer(() => iperf(topo.lab, "client", topo.serverPublic, { seconds: o.seconds, bind: topo.uplinks[0]!.clientAddr }));
      add({ what: "bare uplink", mbps: bare.mbps, retransmits: bare.retransmits, error: bare.ok ? undefined : bare.error });
      if (o.baselineBin) add(await tunnelRun(topo, "baseline", o.seconds, o.baselineBin));
      add(await tunnelRun(topo, "mlvpn", o.seconds));
    }
  } finally {
    for (const s of servers) s.kill();
  }
  return runs;
}

/** Medians per kind of run, the ratios to the baseline, every run, and the issue's target. */
export function speedMetrics(runs: SpeedRun[], o: SpeedOptions): SpeedMetric[] {
  const of = (what: string) => runs.filter((r) => r.what === what);
  const med = (what: string, key: "mbps" | "clientUs" | "serverUs" | "fixedClientUs" | "fixedServerUs") => median(of(what).map((r) => r[key] ?? 0));
  const note = `median of ${o.repeats}, ${o.seconds} s each`;
  const metrics: SpeedMetric[] = [{ name: `bare uplink (${note})`, value: f1(med("bare uplink", "mbps")), unit: "Mbit/s" }];
  const kinds = o.baselineBin ? [["baseline", `baseline ${basename(o.baselineBin)}`], ["mlvpn", "mlvpn"]] : [["mlvpn", "mlvpn"]];
  for (const [what, label] of kinds) {
    metrics.push(
      { name: `${label}, 1 stream up (${note})`, value: f1(med(what!, "mbps")), unit: "Mbit/s" },
      { name: `${label}, CPU per forwarded packet, client / server`, value: `${f1(med(what!, "clientUs"))} / ${f1(med(what!, "serverUs"))}`, unit: "µs" },
      { name: `${label}, CPU per forwarded packet at a fixed ${FIXED_UDP_MBIT} Mbit/s UDP load, client / server`, value: `${f1(med(what!, "fixedClientUs"))} / ${f1(med(what!, "fixedServerUs"))}`, unit: "µs" },
      { name: `${label}, every run: Mbit/s (client µs, server µs; at ${FIXED_UDP_MBIT} Mbit/s UDP)`, value: of(what!).map((r) => `${f1(r.mbps)} (${f1(r.clientUs ?? 0)}, ${f1(r.serverUs ?? 0)}; ${f1(r.fixedClientUs ?? 0)}, ${f1(r.fixedServerUs ?? 0)})`).join("; ") },
    );
  }
  if (o.baselineBin) {
    metrics.push(
      { name: "mlvpn ÷ baseline, Mbit/s", value: f1(med("mlvpn", "mbps") / Math.max(0.001, med("baseline", "mbps"))), unit: "×" },
      {
        name: "mlvpn ÷ baseline, CPU per packet, client / server",
        value: `${(med("mlvpn", "clientUs") / Math.max(0.001, med("baseline", "clientUs"))).toFixed(2)} / ${(med("mlvpn", "serverUs") / Math.max(0.001, med("baseline", "serverUs"))).toFixed(2)}`,
        unit: "×",
        target: "≤ 0.67 ×",
        met: med("mlvpn", "clientUs") <= 0.67 * med("baseline", "clientUs") && med("mlvpn", "serverUs") <= 0.67 * med("baseline", "serverUs"),
      },
      {
        name: `mlvpn ÷ baseline, CPU per packet at ${FIXED_UDP_MBIT} Mbit/s UDP, client / server`,
        value: `${(med("mlvpn", "fixedClientUs") / Math.max(0.001, med("baseline", "fixedClientUs"))).toFixed(2)} / ${(med("mlvpn", "fixedServerUs") / Math.max(0.001, med("baseline", "fixedServerUs"))).toFixed(2)}`,
        unit: "×",
      },
    );
  }
  const up = med("mlvpn", "mbps");
  metrics.push({ name: "target: mlvpn 1 stream up", value: f1(up), unit: "Mbit/s", target: "≥ 700 Mbit/s", met: up >= 700 });
  for (const r of runs) if (r.error) metrics.push({ name: `iperf3 error (${r.what})`, value: r.error });
  return metrics;
}

if (import.meta.main) {
  const arg = (name: string, fallback: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
  };
  const o: SpeedOptions = { seconds: Number(arg("seconds", "8")), repeats: Number(arg("repeats", "3")), baselineBin: arg("baseline-bin", "") || undefined };
  const json = arg("json", "");
  const skip = labSkipReason();
  if (skip) {
    console.error(`bench-speed: ${skip}`);
    process.exit(1);
  }
  if (o.baselineBin && !(await Bun.file(o.baselineBin).exists())) {
    console.error(`bench-speed: --baseline-bin ${o.baselineBin}: no such file`);
    process.exit(1);
  }
  const profileDir = arg("profile", "");
  if (!profileDir) buildBinary();
  const topo = await createTopology({ uplinks: SPEED_UPLINKS });
  try {
    if (profileDir) {
      const r = await profileRun(topo, profileDir, o.seconds, arg("source-root", "") || undefined);
      console.log(`profiled run: ${f1(r.mbps)} Mbit/s, ${f1(r.clientUs ?? 0)} / ${f1(r.serverUs ?? 0)} µs per packet (client / server); profiles in ${profileDir}`);
    } else await benchmark(topo);
  } finally {
    await topo.destroy();
  }
  async function benchmark(topo: Topology): Promise<void> {
    const runs = await speedRuns(topo, o, (r) => console.error(`bench-speed: ${r.what}: ${f1(r.mbps)} Mbit/s${r.clientUs !== undefined ? `, ${f1(r.clientUs)} / ${f1(r.serverUs ?? 0)} µs per packet (client / server); at ${FIXED_UDP_MBIT} Mbit/s UDP ${f1(r.fixedClientUs ?? 0)} / ${f1(r.fixedServerUs ?? 0)} µs` : ""}${r.error ? ` (${r.error})` : ""}`));
    const commit = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"]).stdout.toString().trim();
    console.log(`\n${SPEED_NAME}; commit ${commit} (${BIN}), ${navigator.hardwareConcurrency} cores\n\n| metric | value | target |\n|---|---|---|`);
    for (const m of speedMetrics(runs, o)) console.log(`| ${m.name} | ${m.value}${m.unit ? ` ${m.unit}` : ""} | ${m.target ? `${m.target} ${m.met ? "✅ met" : "❌ missed"}` : ""} |`);
    if (json) writeFileSync(json, JSON.stringify({ commit, options: o, runs }, null, 2));
  }
}
