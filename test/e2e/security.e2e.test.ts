/**
 * Protocol v2 against a hostile host on the lab (dist/mlvpn at both ends, two shaped uplinks):
 *   - every datagram of a running transfer captured and replayed to every port, for longer than
 *     a rekey period: each end refuses a tenth of what is replayed to it as replays, and no 10 s
 *     window of the transfer falls below 75 % of its median. The client renews its keys every
 *     10 s (`rekey_interval = 10`) during a 30 s attack (two or three rekeys of each link);
 *     MLVPN_REPLAY_E2E=20: 50 s at 20 s rekeys; MLVPN_REPLAY_E2E=long: 140 s against the
 *     protocol's default 120 s (`npm run test:replay` runs this file alone);
 *   - 200 junk datagrams/s per port from the client's own addresses while the client restarts:
 *     all links up within 10 s.
 * The attacker (test/lab/attacker.ts) runs in the client router's namespace, so that it can send
 * from the client's addresses.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { getPriority, setPriority } from "node:os";
import { join } from "node:path";
import { fetchStatus } from "../../src/control/client.ts";
import { buildBinary, ROOT, startEnd } from "../lab/mlvpn.ts";
import { iperf, iperfServerReady, startIperfServer } from "../lab/measure.ts";
import { labSkipReason, waitFor } from "../lab/netns.ts";
import { reportSkip } from "../helpers/skip.ts";
import { createTopology, type Topology } from "../lab/topology.ts";
import { controlSocketOf, destroyLab, type LabTunnel, startTunnel } from "../lab/tunnel.ts";

const skip = reportSkip(import.meta.path, "protocol v2 against a hostile host", labSkipReason() ?? (Bun.spawnSync(["sh", "-c", "command -v iperf3 && command -v tcpdump"]).exitCode !== 0 ? "iperf3 or tcpdump missing" : null));
const ATTACKER = join(ROOT, "test", "lab", "attacker.ts");

let topo: Topology;
let tunnel: LabTunnel;

const niceBefore = getPriority();
const LAB_NICE = -10;

/** 10 s rekeys (`rekey_interval`) by default; MLVPN_REPLAY_E2E=20: 20 s; =long: the default 120 s. */
const REPLAY = process.env.MLVPN_REPLAY_E2E ?? "1";
const LONG = REPLAY === "long";
const REKEY_S = LONG ? 120 : REPLAY === "20" ? 20 : 10;
/** The attack and the transfer: longer than two rekey periods (one when the period is 120 s). */
const SECONDS = LONG ? 140 : REPLAY === "20" ? 50 : 30;

describe.skipIf(skip)("protocol v2 against a hostile host on the lab", () => {
  beforeAll(async () => {
    // What this file measures is the tunnel under attack, not the other processes of a shared
    // machine: the ends, iperf3 and the attackers (at nice 19 from here, so 9) inherit nice -10;
    // the delay lines run at a wire's priority anyway (test/lab/topology.ts). Restored after.
    setPriority(LAB_NICE);
    buildBinary();
    topo = await createTopology({ uplinks: [{ rateMbit: 4, delayMs: 5 }, { rateMbit: 4, delayMs: 5 }] });
    tunnel = await startTunnel(topo, { timeout: 10, reorderBufferSize: 64, controlSockets: true, general: (side) => (side === "client" && !LONG ? `rekey_interval = ${REKEY_S}\n` : "") });
  }, 60_000);

  afterAll(async () => {
    setPriority(niceBefore);
    await destroyLab(topo, tunnel);
  }, 30_000);

  const clientAddrs = () => topo.uplinks.map((u) => u.clientAddr).join(",");
  const serverPorts = () => topo.uplinks.map((_, i) => `${topo.serverPublic}:${5080 + i}`).join(",");

  // Its 10 s windows are a throughput figure that a machine shared with other CPU-heavy labs
  // moves by itself (the 140 s variant once dipped to 1.6 Mbit/s seconds without any attack at a
  // load of 15): the windows are compared with this run's own median, and the lab's processes
  // run at nice -10 (beforeAll) while the attacker and its captures run 19 lower.
  // The rekeys used to dent the transfer (issue 13: at 20 s rekeys the worst window read 89, 89,
  // 92, 70, 70, 97, 62 and 71 % of the median in eight runs, while the attack without a rekey read
  // 96 and 81 %): each new session forgot what was in flight and ignored its acknowledgements,
  // and the receiver restarted its acknowledgements at each session change. A rekey now
  // continues the counters (docs/protocol.md "Counters"; test/sim/rekey-flight.sim.test.ts).
  // In `npm test` since Session 18: on this machine shared with other labs (load 10–19) the
  // 30 s variant had passed 6 of 8, 5 of 8, 4 of 4 and (at load 6) 0 of 1 runs (worst windows
  // 57–96 % of the median), and the same attack without any rekey read 79 and 79 %: at such loads
  // the transfer dents by itself under the attack, rekeys or not. Alone on the machine (load
  // 0.8–4, as in CI, where the tests run one file at a time) three runs in a row read 99.6, 99.8
  // and 99.6 % of the median (7.1 Mbit/s of 4+4 Mbit/s links).
  test(`every captured datagram replayed to every port for ${SECONDS} s, across rekeys every ${REKEY_S} s: refused as replays, and the transfer keeps ≥ 75 % of its median in every 10 s window`, async () => {
    // The receiving server's own 1 s counts (the sender's move in steps of its 128 KB writes).
    const iperfServer = startIperfServer(topo.lab, "inet", topo.internetHost, 1);
    try {
      await iperfServerReady(topo.lab, "inet", topo.internetHost);
      // Replays go to each end over its own host (not over the shaped uplinks, which would only
      // measure a bandwidth flood): in the server's namespace to the server's ports, in the
      // client's to the client's sockets. At the lowest priority: the tunnel's ends, not the
      // attacker, should have the CPU on this shared 2-core machine.
      const ports = topo.uplinks.map((_, i) => 5080 + i).join(",");
      const attackers = [
        topo.lab.spawn("server", ["nice", "-n", "19", process.execPath, ATTACKER, "replay", "--from", topo.uplinks.map((u) => u.serverAddr).join(","), "--to", serverPorts(), "--ports", ports, "--seconds", String(SECONDS)], { stdout: "pipe", stderr: "inherit" }),
        topo.lab.spawn("client", ["nice", "-n", "19", process.execPath, ATTACKER, "replay", "--from", clientAddrs(), "--peers", "--ports", ports, "--seconds", String(SECONDS)], { stdout: "pipe", stderr: "inherit" }),
      ];
      const status = async () => Promise.all((["client", "server"] as const).map(async (side) => (await fetchStatus({ unix: controlSocketOf(tunnel, side) }, 2000)).doc));
      const drops = async () => (await status()).map((d) => d.drops);
      const dropsBefore = await drops();
      const result = await iperf(topo.lab, "lan", topo.internetHost, { seconds: SECONDS, intervalS: 1, serverOutput: true });
      const after = await status();
      const dropsAfter = after.map((d) => d.drops);
      console.log(`replay: links after the transfer, client: ${after[0]!.tunnels.map((l) => l.status).join(", ")}; server: ${after[1]!.tunnels.map((l) => l.status).join(", ")}`);
      const reports = await Promise.all(attackers.map(async (a) => JSON.parse((await new Response(a.stdout as ReadableStream).text()).trim().split("\n").at(-1) || "{}")));
      const report = { captured: reports[0].captured + reports[1].captured, sent: reports[0].sent + reports[1].sent };
      // What each end refused meanwhile, by reason (the replays land in "replay", those sent to another link's port in "unknown-session").
      const refused = dropsAfter.map((after, k) => Object.entries(after).filter(([r, n]) => n > (dropsBefore[k]![r] ?? 0)).map(([r, n]) => `${r} ${n - (dropsBefore[k]![r] ?? 0)}`).join(", "));
      console.log(`replay: dropped by the client: ${refused[0]}; by the server: ${refused[1]}`);
      expect(result.ok, `iperf3: ${result.error ?? "exit code not 0"}`).toBe(true);
      expect(result.receiverIntervals.length, "the iperf3 server's intervals").toBeGreaterThanOrEqual(SECONDS - 1);
      const s = result.receiverIntervals.slice(3); // after slow start
      const windows = s.slice(0, s.length - 9).map((_, i) => s.slice(i, i + 10).reduce((a, b) => a + b, 0) / 10);
      const sorted = [...windows].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)]!;
      const worst = windows.indexOf(sorted[0]!);
      console.log(`replay: worst 10 s window from second ${worst + 3}: ${s.slice(worst, worst + 10).map((x) => x.toFixed(1)).join(" ")} Mbit/s`);
      console.log(`replay: ${report.captured} datagrams captured (handshake messages: ${reports[0].handshakes} at the server, ${reports[1].handshakes} at the client), ${report.sent} replayed; transfer ${result.mbps.toFixed(2)} Mbit/s, 10 s windows min ${sorted[0]!.toFixed(2)} / median ${median.toFixed(2)} Mbit/s`);
      expect(reports[0].captured).toBeGreaterThan(10_000);
      expect(reports[1].captured).toBeGreaterThan(10_000);
      expect(reports[0].sent).toBeGreaterThan(1.5 * reports[0].captured);
      // Rekeys happened during the capture: their handshakes (5 messages a link each)
      // were replayed too. Each side's tcpdump sees every message, but drops some when its
      // reader (at nice 19) falls behind on a loaded machine (4 of 10 seen at the server once):
      // the better of the two captures. At 10 s rekeys over 30 s (20 messages) the better one
      // read 10 to 27 at loads 10–17: at least one whole handshake, 5 messages, is asked then.
      expect(Math.max(reports[0].handshakes, reports[1].handshakes)).toBeGreaterThanOrEqual(REPLAY === "20" ? 10 : 5);
      // The replays were refused as replays (by the replay window), not taken: each end counted at
      // least a tenth of what was replayed to it as "replay" (the rest went to another link's port
      // or came under a session already gone: "unknown-session"). 22–28 % in eight runs; with the
      // replay window switched off (a local break) none, and the transfer alone did not show it.
      const refusedAsReplays = (k: number) => (dropsAfter[k]!.replay ?? 0) - (dropsBefore[k]!.replay ?? 0);
      expect(refusedAsReplays(1), "replays refused by the server").toBeGreaterThan(0.1 * reports[0].sent);
      expect(refusedAsReplays(0), "replays refused by the client").toBeGreaterThan(0.1 * reports[1].sent);
      expect(sorted[0]!).toBeGreaterThanOrEqual(0.75 * median);
      // A rekey happened during the run on every link, and nothing went down.
      for (const side of ["client", "server"] as const) expect(tunnel.events(side).filter((e) => e.startsWith("rtun_down"))).toEqual([]);
    } finally {
      iperfServer.kill();
    }
  }, (SECONDS + 100) * 1000);

  test("client restart under 200 junk datagrams/s per port from its own addresses: all links up within 10 s", async () => {
    const attacker = topo.lab.spawn("client", [process.execPath, ATTACKER, "junk", "--from", clientAddrs(), "--to", serverPorts(), "--rate", "200", "--seconds", "25"], { stdout: "pipe", stderr: "inherit" });
    await Bun.sleep(2000); // the flood is on
    tunnel.client.kill("SIGKILL");
    await tunnel.client.exited;
    const before = tunnel.events("client").length;
    const restartedAt = performance.now();
    tunnel.client = startEnd(topo.lab, tunnel.dir, "client");
    await waitFor(
      () => {
        const ev = tunnel.events("client").slice(before);
        return topo.uplinks.every((_, i) => ev.includes(`rtun_up adsl${i + 1}`));
      },
      { timeoutMs: 20_000, what: "every client link up again" },
    );
    const seconds = (performance.now() - restartedAt) / 1000;
    const report = JSON.parse((await new Response(attacker.stdout as ReadableStream).text()).trim() || "{}");
    console.log(`junk: every link up ${seconds.toFixed(2)} s after the client restarted, under ${report.sent} junk datagrams`);
    expect(seconds).toBeLessThan(10);
    expect(report.sent).toBeGreaterThan(2 * 200 * 20);
  }, 60_000);
});
