/**
 * Redundant mode end to end on the lab: a VoIP-like stream (irtt, 50 packets/s of 200 bytes
 * each way, UDP port 2112) through two uplinks, 10 ms and 30 ms, the 10 ms one blackholed for 3 s
 * in the middle. With `redundant = "udp port 2112"` on both ends not one packet is lost, either
 * way; without it the same stream loses what the cut link carried until the cut was noticed.
 * Counts only (no delays): the lab's links are emulated in userspace and the machine may be busy.
 * /status shows the copies sent and the duplicates dropped.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { fetchStatus } from "../../src/control/client.ts";
import { irttLost, irttServerReady, startIrttServer, streamThroughCut } from "../lab/irtt.ts";
import { buildBinary } from "../lab/mlvpn.ts";
import { labSkipReason } from "../lab/netns.ts";
import { createTopology, type Topology } from "../lab/topology.ts";
import { controlSocketOf, destroyLab, type LabTunnel, startTunnel } from "../lab/tunnel.ts";

const noIrtt = Bun.spawnSync(["sh", "-c", "command -v irtt"]).exitCode !== 0 ? "irtt is not installed (apt-get install irtt)" : null;
const skip = labSkipReason() ?? noIrtt;
if (skip) console.log(`skipping the redundant mode e2e tests: ${skip}`);

const STREAM = { seconds: 8, intervalMs: 20, packetBytes: 200, cutLink: 0, cutAtS: 2, cutForS: 3 };

let topo: Topology;
let tunnel: LabTunnel | undefined;

async function run(general: string) {
  tunnel = await startTunnel(topo, { timeout: 10, reorderBufferSize: 64, controlSockets: true, general });
  try {
    const server = startIrttServer(topo.lab, "inet", topo.internetHost);
    try {
      await irttServerReady(topo.lab, "inet");
      const { stream } = await streamThroughCut(topo, STREAM);
      expect(stream.error).toBeUndefined();
      const status = (side: "client" | "server") => fetchStatus({ unix: controlSocketOf(tunnel!, side) }, 2000).then((r) => r.doc);
      return { stream, client: await status("client"), server: await status("server") };
    } finally {
      server.kill();
    }
  } finally {
    await tunnel.stop();
    tunnel = undefined;
  }
}

describe.skipIf(skip !== null)("redundant mode on the lab (dist/mlvpn, irtt)", () => {
  beforeAll(async () => {
    buildBinary();
    topo = await createTopology({ uplinks: [{ rateMbit: 20, delayMs: 10 }, { rateMbit: 20, delayMs: 30 }] });
  }, 60_000);

  afterAll(() => destroyLab(topo, tunnel), 30_000);

  test("a 50 packets/s stream loses nothing with redundant while a link is blackholed, and loses packets without", async () => {
    const on = await run('redundant = "udp port 2112"');
    const off = await run("");
    const show = (r: typeof on.stream) => `${r.sent} sent, lost ${r.lostUp} up ${r.lostDown} down ${r.lostUnknown} unknown, max one-way ${r.maxUpMs.toFixed(1)} / ${r.maxDownMs.toFixed(1)} ms`;
    console.log(`with redundant: ${show(on.stream)}; copies sent ${on.client.redundant.redundant_sent} + ${on.server.redundant.redundant_sent}, duplicates dropped ${on.client.redundant.duplicates_dropped} + ${on.server.redundant.duplicates_dropped}`);
    console.log(`without: ${show(off.stream)}`);
    // irtt sent the whole stream both times (8 s at 50/s, give or take its timer on a busy machine).
    expect(on.stream.sent).toBeGreaterThan(300);
    expect(off.stream.sent).toBeGreaterThan(300);
    expect(irttLost(on.stream)).toBe(0);
    expect(irttLost(off.stream)).toBeGreaterThan(0);
    // Both ends copied the stream (client: requests, server: replies) and dropped the later copies.
    for (const doc of [on.client, on.server]) {
      expect(doc.redundant.packets).toBeGreaterThanOrEqual(on.stream.sent - 5);
      expect(doc.redundant.redundant_sent).toBeGreaterThan(doc.redundant.packets);
      expect(doc.redundant.duplicates_dropped).toBeGreaterThan(0);
    }
    expect(off.client.redundant.packets).toBe(0);
  }, 120_000);
});
