/**
 * Unshaped throughput of the tunnel (issue #4): client and server namespaces joined by two veth
 * uplinks, dist/mlvpn at both ends, one iperf3 TCP stream through the tunnel in each direction,
 * with reorder_buffer_size 0 and 64; beside it, the same iperf3 over one bare veth, measured in
 * the same run. Also the CPU time of each mlvpn process per packet it moved through its tun.
 *
 *   bun scripts/bench-throughput.ts [--seconds 8] [--json FILE]
 * Needs root and iperf3 (apt-get install iperf3). Everything it creates is removed at the end.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { allUp, buildBinary, cpuPerPacket, SERVER_TUN, startEnd, writeEndConfigs } from "../test/lab/mlvpn.ts";
import { addVeth, createLab, type Lab, labSkipReason, waitFor } from "../test/lab/netns.ts";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const SECONDS = Number(arg("seconds", "8"));
const JSON_OUT = arg("json", "");

const UPLINKS = [
  { client: "192.168.101.2", server: "192.168.101.1", port: 5080 },
  { client: "192.168.102.2", server: "192.168.102.1", port: 5081 },
];

interface Row {
  what: string;
  direction: "client→server" | "server→client";
  mbps: number;
  retransmits: number;
  clientUsPerPacket?: number;
  serverUsPerPacket?: number;
}

async function iperf(lab: Lab, target: string, reverse: boolean): Promise<{ mbps: number; retransmits: number }> {
  const args = ["iperf3", "-c", target, "-t", String(SECONDS), "-J", "-O", "1"];
  if (reverse) args.push("-R");
  const r = await lab.exec("client", args, { timeoutMs: (SECONDS + 20) * 1000 });
  if (r.code !== 0) throw new Error(`iperf3 failed: ${r.stdout.slice(-500)} ${r.stderr}`);
  const j = JSON.parse(r.stdout);
  return { mbps: j.end.sum_received.bits_per_second / 1e6, retransmits: j.end.sum_sent.retransmits ?? 0 };
}

async function measureTunnel(lab: Lab, reorder: number): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), "mlvpn-bench-"));
  try {
    writeEndConfigs({ dir, uplinks: UPLINKS, reorderBufferSize: reorder, timeout: 10 });
    const server = startEnd(lab, dir, "server");
    const client = startEnd(lab, dir, "client");
    await waitFor(() => allUp(dir, "client", 2) && allUp(dir, "server", 2), { timeoutMs: 15_000, what: "the tunnel" });
    const iperfServer = lab.spawn("server", ["iperf3", "-s", "-B", SERVER_TUN], { stdout: "ignore", stderr: "ignore" });
    await Bun.sleep(300);
    const rows: Row[] = [];
    for (const reverse of [false, true]) {
      const cost = await cpuPerPacket(lab, [
        { pid: client.pid, ns: "client" },
        { pid: server.pid, ns: "server" },
      ]);
      const r = await iperf(lab, SERVER_TUN, reverse);
      const [clientUsPerPacket, serverUsPerPacket] = await cost();
      rows.push({ what: `mlvpn, 2 links, reorder_buffer_size = ${reorder}`, direction: reverse ? "server→client" : "client→server", ...r, clientUsPerPacket, serverUsPerPacket });
    }
    iperfServer.kill();
    client.kill("SIGTERM");
    server.kill("SIGTERM");
    await Promise.all([client.exited, server.exited, iperfServer.exited]);
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measureBare(lab: Lab): Promise<Row[]> {
  const s = lab.spawn("server", ["iperf3", "-s", "-B", UPLINKS[0]!.server], { stdout: "ignore", stderr: "ignore" });
  await Bun.sleep(300);
  const rows: Row[] = [];
  for (const reverse of [false, true]) {
    rows.push({ what: "bare veth (one uplink, no VPN)", direction: reverse ? "server→client" : "client→server", ...(await iperf(lab, UPLINKS[0]!.server, reverse)) });
  }
  s.kill();
  await s.exited;
  return rows;
}

const skip = labSkipReason();
if (skip) {
  console.error(`bench-throughput: ${skip}`);
  process.exit(1);
}
if (Bun.spawnSync(["sh", "-c", "command -v iperf3"]).exitCode !== 0) {
  console.error("bench-throughput: iperf3 is missing (apt-get install iperf3)");
  process.exit(1);
}
buildBinary();
const lab = await createLab({ namespaces: ["client", "server"] });
try {
  for (const [i, u] of UPLINKS.entries()) {
    await addVeth(lab, { ns: "client", ifname: `up${i + 1}`, addr: `${u.client}/24` }, { ns: "server", ifname: `up${i + 1}`, addr: `${u.server}/24` });
  }
  const rows = [...(await measureBare(lab)), ...(await measureTunnel(lab, 0)), ...(await measureTunnel(lab, 64))];
  const commit = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"]).stdout.toString().trim();
  console.log(`\nunshaped throughput, ${SECONDS} s per run, 1 TCP stream (iperf3), commit ${commit}, ${navigator.hardwareConcurrency} cores\n`);
  console.log("| setup | direction | Mbit/s | retransmits | client µs/packet | server µs/packet |\n|---|---|---|---|---|---|");
  const f = (x?: number) => (x === undefined ? "" : x.toFixed(1));
  for (const r of rows) console.log(`| ${r.what} | ${r.direction} | ${r.mbps.toFixed(0)} | ${r.retransmits} | ${f(r.clientUsPerPacket)} | ${f(r.serverUsPerPacket)} |`);
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ commit, seconds: SECONDS, rows }, null, 2));
} finally {
  await lab.destroy();
}
