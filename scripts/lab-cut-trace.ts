/**
 * What both ends do while an uplink is cut under load, 150 ms at a time (root; about 20 s):
 * bench scenario 14's run (a 50 packets/s irtt stream and a bulk TCP transfer both ways, one
 * uplink blackholed for a while) with both ends' /status and each end's htb backlog on every
 * other uplink polled throughout. It shows where a late packet waited: in our pacing queue
 * (`q`, packets), or in the uplink's bottleneck (`htb`, bytes: the queue the estimate and the
 * in-flight cap let build), and what the estimate (`est`), pacing rate and in-flight bytes were.
 *
 *   sudo bun scripts/lab-cut-trace.ts [--uplinks "20/10,20/30"] [--cut 0] [--at 4] [--for 5] [--without-redundant] [--pcap DIR]
 *
 * Uplinks as in scripts/lab.ts (rate Mbit/s / one-way delay ms [/ jitter / loss % / queue]). Prints the stream's largest
 * one-way delays, the latest packets each way with when they were sent (seconds of the stream),
 * then one line per poll: seconds since the stream started, then per end and
 * uplink the estimate and pacing rate (Mbit/s), bytes in flight, packets queued, srtt and the
 * htb backlog of that end's interface ("STALLED" when the end has stalled the link).
 *
 * --pcap DIR: tcpdump captures both ends' LAN/internet-side interfaces and uplinks into DIR, and
 * the latest packets each way are split into the time their copies spent in the sending end
 * (daemon + htb), on the wire and in the receiving end (test/lab/copy-delays.ts).
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fetchStatus } from "../src/control/client.ts";
import { IRTT_PORT, startIrttServer, streamThroughCut } from "../test/lab/irtt.ts";
import { startIperfServer } from "../test/lab/measure.ts";
import { buildBinary } from "../test/lab/mlvpn.ts";
import { labSkipReason } from "../test/lab/netns.ts";
import { type Datagram, describePath, packetPaths, type UplinkCaptures, udpDatagrams } from "../test/lab/copy-delays.ts";
import { readPcap } from "../src/filter/pcap.ts";
import { createTopology, type Topology, type UplinkShape } from "../test/lab/topology.ts";
import { TUNNEL_OVERHEAD } from "../src/wire/layout.ts";
import { controlSocketOf, type LabTunnel, startTunnel } from "../test/lab/tunnel.ts";
import { number, option, parseUplink, UsageError } from "./lab-args.ts";

const POLL_MS = 150;
const STREAM_TAIL_S = 5;
/** How many of the latest packets each way are listed, with when they were sent. */
const LATEST_SHOWN = 6;

/** A non-negative number option, or its default. */
function count(args: string[], name: string, fallback: number): number {
  const v = option(args, name);
  const n = v === undefined ? fallback : number(v, name);
  if (n < 0) throw new UsageError(`${name}: not a non-negative number`);
  return n;
}

/** htb's backlog on one interface, bytes; undefined when tc shows none. */
async function backlog(topo: Topology, ns: string, dev: string): Promise<number | undefined> {
  const r = await topo.lab.exec(ns, ["tc", "-s", "qdisc", "show", "dev", dev]);
  const m = /backlog (\d+)b/.exec(r.stdout);
  return m ? Number(m[1]) : undefined;
}

async function pollLine(topo: Topology, tunnel: LabTunnel, uplinks: number[], t0: number): Promise<string> {
  const sides = ["client", "server"] as const;
  const docs = await Promise.all(sides.map((side) => fetchStatus({ unix: controlSocketOf(tunnel, side) }, 500).then((x) => x.doc, () => undefined)));
  const parts: string[] = [];
  for (const [k, side] of sides.entries()) {
    for (const i of uplinks) {
      const l = docs[k]?.tunnels[i];
      const u = topo.uplinks[i]!;
      const htb = await backlog(topo, side, side === "client" ? u.clientIf : u.serverIf);
      const mbit = (bps: number) => (bps / 1e6).toFixed(1);
      const link = l ? `est ${mbit(l.capacity_bps)} pace ${mbit(l.send_rate_bps)} infl ${(l.inflight_bytes / 1000).toFixed(0)}K q ${l.queued_packets} srtt ${l.srtt}${l.stalled ? " STALLED" : ""}` : "no status";
      parts.push(`${side[0]}${i} ${link} htb ${htb === undefined ? "?" : `${(htb / 1000).toFixed(0)}K`}`);
    }
  }
  return `${((Date.now() - t0) / 1000).toFixed(2).padStart(6)} | ${parts.join(" | ")}`;
}

const PACKET_BYTES = 200;

/** tcpdump on each end's inner interface and uplinks, UDP only, headers only; stop() ends them. */
function startCaptures(topo: Topology, dir: string): { stop(): Promise<void> } {
  mkdirSync(dir, { recursive: true });
  const where: [string, string][] = [["client", topo.lab.ifname("lanc")], ["server", topo.lab.ifname("inets")], ...topo.uplinks.flatMap((u): [string, string][] => [["client", u.clientIf], ["server", u.serverIf]])];
  const procs = where.map(([ns, dev]) => topo.lab.spawn(ns, ["tcpdump", "-i", dev, "-nn", "-s", "128", "-B", "16384", "-w", join(dir, `${ns}-${dev}.pcap`), "udp"], { stdout: "ignore", stderr: "ignore" }));
  return {
    async stop() {
      for (const p of procs) p.kill("SIGINT");
      await Promise.race([Promise.all(procs.map((p) => p.exited)), Bun.sleep(5000)]);
    },
  };
}

function readCapture(dir: string, ns: string, dev: string): Datagram[] {
  return udpDatagrams(readPcap(new Uint8Array(readFileSync(join(dir, `${ns}-${dev}.pcap`)))));
}

/** The latest packets each way, each split into sender, wire and receiver time per copy. */
function copyDelays(topo: Topology, shapes: UplinkShape[], dir: string): string[] {
  const lan = readCapture(dir, "client", topo.lab.ifname("lanc"));
  const inet = readCapture(dir, "server", topo.lab.ifname("inets"));
  const ups = topo.uplinks.map((u) => ({ client: readCapture(dir, "client", u.clientIf), server: readCapture(dir, "server", u.serverIf) }));
  const irttAt = `${topo.internetHost}.${IRTT_PORT}`;
  const stream = (ds: Datagram[], up: boolean) => ds.filter((d) => d.ipLength === PACKET_BYTES && (up ? d.dst === irttAt : d.src === irttAt));
  const uplinks = (up: boolean): UplinkCaptures[] =>
    topo.uplinks.map((u, i) => ({ senderAddr: up ? u.clientAddr : u.serverAddr, sent: up ? ups[i]!.client : ups[i]!.server, received: up ? ups[i]!.server : ups[i]!.client, delayMs: shapes[i]!.delayMs ?? 0 }));
  const out: string[] = [];
  for (const up of [true, false]) {
    const paths = packetPaths(stream(up ? lan : inet, up), stream(up ? inet : lan, up), uplinks(up), PACKET_BYTES + TUNNEL_OVERHEAD);
    out.push(`${up ? "up" : "down"}, ${paths.length} packets, the latest (ms; sender = daemon + htb):`);
    for (const p of [...paths].sort((a, b) => b.totalMs - a.totalMs).slice(0, LATEST_SHOWN)) out.push(`  ${describePath(p)}`);
  }
  return out;
}

async function main(args: string[]): Promise<void> {
  const shapes = (option(args, "--uplinks") ?? "20/10,20/30").split(",").map(parseUplink);
  const cutLink = count(args, "--cut", 0);
  const cutAtS = count(args, "--at", 4);
  const cutForS = count(args, "--for", 5);
  if (cutLink >= shapes.length) throw new Error(`--cut ${cutLink}: there are ${shapes.length} uplinks`);
  const redundant = !args.includes("--without-redundant");
  const pcapDir = option(args, "--pcap");
  await buildBinary();
  const topo = await createTopology({ uplinks: shapes });
  let tunnel: LabTunnel | undefined;
  const servers = [startIrttServer(topo.lab, "inet", topo.internetHost), startIperfServer(topo.lab, "inet", topo.internetHost, 0.5)];
  try {
    tunnel = await startTunnel(topo, { reorderBufferSize: 64, timeout: 10, controlSockets: true, general: redundant ? `redundant = "udp port ${IRTT_PORT}"` : "" });
    await Bun.sleep(500);
    const captures = pcapDir === undefined ? undefined : startCaptures(topo, pcapDir);
    if (captures) await Bun.sleep(1000); // tcpdump attached before the stream starts
    const lines: string[] = [];
    const t0 = Date.now();
    let done = false;
    const others = shapes.map((_, i) => i);
    const polling = (async () => {
      // Bounded by the stream's own length as well as by `done`.
      const until = t0 + (cutAtS + cutForS + STREAM_TAIL_S + 10) * 1000;
      while (!done && Date.now() < until) {
        lines.push(await pollLine(topo, tunnel!, others, t0));
        await Bun.sleep(POLL_MS);
      }
    })();
    const m = await streamThroughCut(topo, { seconds: cutAtS + cutForS + STREAM_TAIL_S, intervalMs: 20, packetBytes: PACKET_BYTES, cutLink, cutAtS, cutForS, bulk: true });
    done = true;
    await polling;
    await captures?.stop();
    if (!m.stream.ok) throw new Error(`irtt: ${m.stream.error}`);
    console.log(`redundant ${redundant ? "on" : "off"}; uplink ${cutLink} cut from ${cutAtS} s to ${cutAtS + cutForS} s of the stream (its start is ~0.1 s after the poll's 0)`);
    console.log(`stream: largest one-way delay up ${m.stream.maxUpMs.toFixed(1)} ms, down ${m.stream.maxDownMs.toFixed(1)} ms; lost ${m.stream.lostUp}+${m.stream.lostDown}; bulk both ways ${(m.bulkMbps ?? 0).toFixed(1)} Mbit/s`);
    const late = (ms: number[], at: number[]) => ms.map((d, k) => [d, at[k]!] as const).sort((a, b) => b[0] - a[0]).slice(0, LATEST_SHOWN);
    const show = (xs: ReturnType<typeof late>) => xs.map(([d, at]) => `${d.toFixed(1)} ms at ${(at / 1000).toFixed(2)} s`).join(", ");
    console.log(`latest up: ${show(late(m.stream.upMs, m.stream.upSentAtMs))}`);
    console.log(`latest down: ${show(late(m.stream.downMs, m.stream.downSentAtMs))}`);
    if (pcapDir !== undefined) console.log(copyDelays(topo, shapes, pcapDir).join("\n"));
    console.log(lines.join("\n"));
  } finally {
    for (const s of servers) s.kill();
    await tunnel?.stop();
    await topo.destroy();
  }
}

const skip = labSkipReason();
if (skip) {
  console.error(`lab-cut-trace: ${skip}`);
  process.exit(1);
}
main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(`lab-cut-trace: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
