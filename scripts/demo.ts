/**
 * `npm run demo`: mlvpn bonding two 20 Mbit/s uplinks (10 ms and 30 ms) in network namespaces on
 * this machine, as in the MLVPN deployment guide. Builds dist/mlvpn, brings the lab up, starts
 * both ends, then shows with a live per-link view: a ping from the LAN host to the internet host
 * through the tunnel, each uplink alone versus the bonded tunnel, and one uplink cut and
 * restored during a transfer. Each uplink's state comes from the client's `/status` (control
 * socket), polled every 100 ms: "up", "STALLED" (no answer: out of use and probed, while MLVPN's
 * state stays connected until `timeout`) or "DOWN"; a change prints at once, with the time since
 * the cut. Ends with a summary and removes everything (Ctrl-C too).
 * Needs root and iperf3.
 */
import { fetchStatus } from "../src/control/client.ts";
import { isUpStatus } from "../src/control/document.ts";
import { buildBinary } from "../test/lab/mlvpn.ts";
import { answered, iperf, percentile, pingSeries, startIperfServer } from "../test/lab/measure.ts";
import { labSkipReason } from "../test/lab/netns.ts";
import { createTopology, type Topology } from "../test/lab/topology.ts";
import { controlSocketOf, type LabTunnel, startTunnel } from "../test/lab/tunnel.ts";

const RATE = 20;
const DELAYS = [10, 30];
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s = "") => console.log(s);

let topo: Topology | undefined;
let tunnel: LabTunnel | undefined;
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await tunnel?.stop();
    await topo?.destroy();
  })();
  return cleaning;
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    say(`\n${sig}: cleaning up…`);
    void cleanup().then(() => process.exit(130));
  });
}

/** Prints one line per second with each uplink's rate and the tunnel's view of it. */
function liveView(t: Topology, label: () => string): { stop(): void } {
  let last = t.uplinks.map(() => ({ tx: 0, rx: 0 }));
  let first = true;
  const started = performance.now();
  const timer = setInterval(async () => {
    const now = await Promise.all(t.uplinks.map((_, i) => t.counters(i)));
    if (!first) {
      const cols = now.map((c, i) => {
        const up = ((c.clientTxBytes - last[i]!.tx) * 8) / 1e6;
        const down = ((c.clientRxBytes - last[i]!.rx) * 8) / 1e6;
        return `uplink ${i + 1} [${linkState(i)}] ↑${up.toFixed(1).padStart(5)} ↓${down.toFixed(1).padStart(5)} Mbit/s`;
      });
      say(`  ${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s  ${cols.join("   ")}  ${label()}`);
    }
    first = false;
    last = now.map((c) => ({ tx: c.clientTxBytes, rx: c.clientRxBytes }));
  }, 1000);
  return { stop: () => clearInterval(timer) };
}

/** Each uplink's state as the client's /status shows it, refreshed every STATE_POLL_MS. */
const STATE_POLL_MS = 100;
let states: string[] = [];
let cutAt: number | undefined;
/** Seconds from the cut of uplink 1 to its state leaving "up" in /status. */
let shownAfterS: number | undefined;
const linkState = (i: number) => (states[i] ?? "?").padEnd(7);

function watchStates(t: LabTunnel): { stop(): void } {
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const doc = (await fetchStatus({ unix: controlSocketOf(t, "client") }, 1000)).doc;
      const next = doc.tunnels.map((l) => (!isUpStatus(l.status) ? "DOWN" : l.stalled ? "STALLED" : "up"));
      next.forEach((st, i) => {
        if (states.length > 0 && st !== states[i]) {
          const since = cutAt === undefined ? "" : ` (${((performance.now() - cutAt) / 1000).toFixed(2)} s after the cut)`;
          say(`        uplink ${i + 1} is now ${st}${since}`);
          if (i === 0 && cutAt !== undefined && shownAfterS === undefined) shownAfterS = (performance.now() - cutAt) / 1000;
        }
      });
      states = next;
    } catch {
      // the client is starting or stopping: keep the last states
    } finally {
      busy = false;
    }
  }, STATE_POLL_MS);
  return { stop: () => clearInterval(timer) };
}

async function main(): Promise<void> {
  const skip = labSkipReason();
  if (skip) throw new Error(`the demo ${skip}`);
  if (Bun.spawnSync(["sh", "-c", "command -v iperf3"]).exitCode !== 0) throw new Error("iperf3 is missing: apt-get install iperf3");
  const t0 = performance.now();

  say(bold("1. Build dist/mlvpn and bring up the lab"));
  buildBinary();
  topo = await createTopology({ uplinks: DELAYS.map((d) => ({ rateMbit: RATE, delayMs: d })) });
  say(`   LAN host ${topo.lanHost} → client router → uplinks ${DELAYS.map((d, i) => `${i + 1}: ${RATE} Mbit/s, ${d} ms`).join("; ")} → server ${topo.serverPublic} → internet host ${topo.internetHost}`);
  tunnel = await startTunnel(topo, { reorderBufferSize: 64, timeout: 10, controlSockets: true });
  say(`   tunnel up (status script events on the client: ${tunnel.events("client").join(", ")})`);
  const watch = watchStates(tunnel);

  say(bold("\n2. Ping from the LAN host to the internet host, through the tunnel"));
  const ping = await pingSeries(topo.lab, "lan", topo.internetHost, 20, 100);
  const rtts = answered(ping);
  say(`   ${rtts.length}/${ping.sent} replies, RTT median ${percentile(rtts, 50).toFixed(1)} ms, max ${Math.max(...rtts).toFixed(1)} ms`);

  const iperfInet = startIperfServer(topo.lab, "inet", topo.internetHost);
  const iperfServer = startIperfServer(topo.lab, "server", topo.serverPublic);
  await Bun.sleep(300);

  say(bold("\n3. Each uplink alone (no VPN), then both bonded by mlvpn (LAN → internet, 1 TCP stream)"));
  const alone: number[] = [];
  for (const [i, u] of topo.uplinks.entries()) {
    const r = await iperf(topo.lab, "client", topo.serverPublic, { seconds: 5, bind: u.clientAddr, omit: 1 });
    alone.push(r.mbps);
    say(`   uplink ${i + 1} alone: ${r.mbps.toFixed(1)} Mbit/s`);
  }
  let phase = "bonded transfer";
  const view = liveView(topo, () => phase);
  const bonded = await iperf(topo.lab, "lan", topo.internetHost, { seconds: 8, omit: 1 });
  view.stop();
  say(`   mlvpn, both uplinks: ${bold(bonded.mbps.toFixed(1))} Mbit/s (sum of the uplinks alone: ${(alone[0]! + alone[1]!).toFixed(1)})`);

  say(bold("\n4. Uplink 1 cut (blackholed) at 5 s and restored at 12 s, during a 20 s transfer"));
  phase = "";
  const view2 = liveView(topo, () => phase);
  const transfer = iperf(topo.lab, "lan", topo.internetHost, { seconds: 20 });
  await Bun.sleep(5000);
  await topo.cut(0);
  cutAt = performance.now();
  phase = "← uplink 1 cut";
  await Bun.sleep(7000);
  await topo.restore(0);
  cutAt = undefined;
  phase = "← uplink 1 restored";
  const failover = await transfer;
  view2.stop();
  const worst = Math.min(...failover.intervals);
  const events = tunnel.events("client");
  say(`   transfer ${failover.ok ? "completed" : `FAILED (${failover.error})`}: ${failover.mbps.toFixed(1)} Mbit/s on average, worst second ${worst.toFixed(1)} Mbit/s`);
  say(`   client status script events: ${events.slice(-4).join(", ")}`);

  iperfInet.kill();
  iperfServer.kill();
  watch.stop();

  say(bold("\nSummary"));
  say("| measurement | value |\n|---|---|");
  say(`| ping LAN → internet through the tunnel | ${rtts.length}/${ping.sent}, median ${percentile(rtts, 50).toFixed(1)} ms |`);
  say(`| uplink 1 alone (${RATE} Mbit/s, ${DELAYS[0]} ms) | ${alone[0]!.toFixed(1)} Mbit/s |`);
  say(`| uplink 2 alone (${RATE} Mbit/s, ${DELAYS[1]} ms) | ${alone[1]!.toFixed(1)} Mbit/s |`);
  say(`| mlvpn over both | ${bonded.mbps.toFixed(1)} Mbit/s (${((100 * bonded.mbps) / (alone[0]! + alone[1]!)).toFixed(0)} % of the sum) |`);
  say(`| transfer across a cut of uplink 1 | ${failover.ok ? "survived" : "broke"}, ${failover.mbps.toFixed(1)} Mbit/s average |`);
  say(`| uplink 1 shown stalled in /status | ${shownAfterS === undefined ? "not while cut" : `${shownAfterS.toFixed(2)} s after the cut`} |`);
  say(`| took | ${((performance.now() - t0) / 1000).toFixed(0)} s |`);
}

let code = 0;
try {
  await main();
} catch (e) {
  console.error(`demo: ${(e as Error).message}`);
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);
