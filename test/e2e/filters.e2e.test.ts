/**
 * `[filters]` end to end on the lab, with the deployment guide's example on both ends:
 *   adsl1 = "udp port 5060"          adsl2 = "tcp port 22 or icmp"
 * Two 20 Mbit/s uplinks, adsl1 with the longer delay (20 ms against 5 ms): at these rates the
 * scheduler alone would send everything on adsl2. The byte counters of the client's uplink
 * interfaces show where each flow went: a ping of 1000-byte packets on adsl2 (both ways: the
 * server pins the replies), UDP to port 5060 on adsl1; with adsl2 down the ping goes over
 * adsl1, and back on adsl2 once it returns; a reload moves it to adsl1.
 * Every packet of a pinned flow crosses its link at least once; the other link may carry a few
 * again: on a starved machine a link can look stalled for a moment (no acknowledgement within a
 * few round trips) and what it had in flight is then sent again on the other, as it should.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BIN, buildBinary } from "../lab/mlvpn.ts";
import { labSkipReason, waitFor } from "../lab/netns.ts";
import { createTopology, type LinkCounters, type Topology } from "../lab/topology.ts";
import { destroyLab, type LabTunnel, startTunnel } from "../lab/tunnel.ts";

const skip = labSkipReason();
if (skip) console.log(`skipping the filters e2e tests: ${skip}`);

const FILTERS = `
[filters]
adsl1 = "udp port 5060"
adsl2 = "tcp port 22 or icmp"
`;

let topo: Topology;
let tunnel: LabTunnel;

async function counters(): Promise<LinkCounters[]> {
  return Promise.all([topo.counters(0), topo.counters(1)]);
}

/** Bytes each uplink sent and received (client side) while `flow` ran. */
async function during(flow: () => Promise<void>): Promise<{ tx: number[]; rx: number[] }> {
  const before = await counters();
  await flow();
  const after = await counters();
  return { tx: after.map((c, i) => c.clientTxBytes - before[i]!.clientTxBytes), rx: after.map((c, i) => c.clientRxBytes - before[i]!.clientRxBytes) };
}

const PING_COUNT = 60;
const PING_BYTES = 1000;

async function bigPing(): Promise<number> {
  const r = await lab().exec("lan", ["ping", "-n", "-q", "-c", String(PING_COUNT), "-i", "0.02", "-s", String(PING_BYTES), "-W", "1", topo.internetHost], { timeoutMs: 15_000 });
  return Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0);
}

const lab = () => topo.lab;

describe.skipIf(skip !== null)("[filters] on the lab (dist/mlvpn, the guide's example filters)", () => {
  beforeAll(async () => {
    buildBinary();
    topo = await createTopology({ uplinks: [{ rateMbit: 20, delayMs: 20 }, { rateMbit: 20, delayMs: 5 }] });
    tunnel = await startTunnel(topo, { timeout: 3, reorderBufferSize: 64, general: FILTERS });
  }, 60_000);

  afterAll(() => destroyLab(topo, tunnel), 30_000);

  test("--check shows the filters", () => {
    const check = Bun.spawnSync([BIN, "-t", "-c", `${tunnel.dir}/client.conf`], { stdout: "pipe", stderr: "pipe" });
    expect(check.exitCode).toBe(0);
    expect(check.stdout.toString()).toContain('[filters]\nadsl1 = "udp port 5060"\nadsl2 = "tcp port 22 or icmp"\n');
  });

  test("ICMP goes only over adsl2, both ways", async () => {
    let received = 0;
    const d = await during(async () => void (received = await bigPing()));
    console.log(`ping ×${PING_COUNT} of ${PING_BYTES} bytes: ${received} replies; client tx adsl1/adsl2 ${d.tx.join(" / ")}, rx ${d.rx.join(" / ")}`);
    // The lab's links are emulated in userspace: a starved machine loses a few.
    expect(received).toBeGreaterThanOrEqual(PING_COUNT * 0.9);
    expect(d.tx[1]).toBeGreaterThan(received * PING_BYTES);
    expect(d.rx[1]).toBeGreaterThan(received * PING_BYTES);
    // adsl1 carried keepalives and acknowledgements (and at most a few packets sent again).
    expect(d.tx[0]).toBeLessThan(d.tx[1]! / 2);
    expect(d.rx[0]).toBeLessThan(d.rx[1]! / 2);
  }, 30_000);

  test("UDP to port 5060 goes only over adsl1", async () => {
    // The internet host answers "port unreachable": node:dgram lets the sender ignore that.
    const sender = `import { createSocket } from "node:dgram"; const s = createSocket("udp4"); s.on("error", () => {}); const b = new Uint8Array(1000); for (let i = 0; i < 200; i++) { await new Promise((r) => s.send(b, 5060, ${JSON.stringify(topo.internetHost)}, r)); await Bun.sleep(5); } process.exit(0);`;
    const d = await during(async () => {
      const r = await lab().exec("lan", [process.execPath, "-e", sender], { timeoutMs: 20_000 });
      expect(r.code).toBe(0);
      await Bun.sleep(200);
    });
    console.log(`UDP 200 × 1000 bytes to port 5060: client tx adsl1/adsl2 ${d.tx.join(" / ")}`);
    // Every datagram crossed adsl1, which the scheduler alone would not have used.
    expect(d.tx[0]).toBeGreaterThan(200 * 1000);
    expect(d.tx[1]).toBeLessThan(d.tx[0]! / 2);
  }, 30_000);

  test("adsl2 down: ICMP goes over adsl1; adsl2 back: over adsl2 again", async () => {
    await topo.setLinkDown(1, true);
    try {
      // Both ends: the client sees its interface go at once, the server only silence (stalled within
      // a few hundred ms, down after `timeout`); until then its replies pinned to adsl2 are lost.
      await waitFor(() => tunnel.events("client").includes("rtun_down adsl2") && tunnel.events("server").includes("rtun_down adsl2"), { timeoutMs: 10_000, what: "rtun_down adsl2 on both ends" });
      let received = 0;
      const d = await during(async () => void (received = await bigPing()));
      console.log(`adsl2 down: ${received} replies; client tx adsl1/adsl2 ${d.tx.join(" / ")}`);
      expect(received).toBeGreaterThanOrEqual(PING_COUNT * 0.9);
      expect(d.tx[0]).toBeGreaterThan(received * PING_BYTES);
      expect(d.rx[0]).toBeGreaterThan(received * PING_BYTES);
    } finally {
      await topo.setLinkDown(1, false);
    }
    await waitFor(() => tunnel.events("client").filter((e) => e === "rtun_up adsl2").length >= 2, { timeoutMs: 15_000, what: "rtun_up adsl2 again" });
    let received = 0;
    const d = await during(async () => void (received = await bigPing()));
    console.log(`adsl2 back: ${received} replies; client tx adsl1/adsl2 ${d.tx.join(" / ")}`);
    expect(received).toBeGreaterThanOrEqual(PING_COUNT * 0.9);
    expect(d.tx[1]).toBeGreaterThan(received * PING_BYTES);
    expect(d.tx[0]).toBeLessThan(d.tx[1]! / 2);
  }, 60_000);

  test("SIGHUP with a bad filter keeps the running set; a good one replaces it", async () => {
    const conf = `${tunnel.dir}/client.conf`;
    const original = await Bun.file(conf).text();
    const write = async (text: string) => {
      await Bun.write(conf, text);
      (await import("node:fs")).chmodSync(conf, 0o600);
    };
    const logText = () => Bun.file(`${tunnel.dir}/client.log`).text();
    await write(original.replace('adsl2 = "tcp port 22 or icmp"', 'adsl2 = "tcp port 22 or"'));
    tunnel.client.kill("SIGHUP");
    await waitFor(async () => (await logText()).includes("reload rejected"), { timeoutMs: 5000, what: "the reload to be rejected" });
    expect(await logText()).toContain('[filters] adsl2: "tcp port 22 or": syntax error at the end of the expression');
    let d = await during(async () => void (await bigPing()));
    expect(d.tx[1]).toBeGreaterThan(PING_COUNT * 0.9 * PING_BYTES);
    // Now ICMP to adsl1 (the client's requests; the server still pins the replies on adsl2).
    await write(original.replace('adsl2 = "tcp port 22 or icmp"', 'adsl1 = "icmp"'));
    tunnel.client.kill("SIGHUP");
    await waitFor(async () => (await logText()).includes("[filters] replaced: 2 entries (was 2)"), { timeoutMs: 5000, what: "the filters to be replaced" });
    d = await during(async () => void (await bigPing()));
    console.log(`after the reload (icmp → adsl1): client tx adsl1/adsl2 ${d.tx.join(" / ")}`);
    expect(d.tx[0]).toBeGreaterThan(PING_COUNT * 0.9 * PING_BYTES);
    // adsl2 still carries the acknowledgements of the replies the server pins there.
    expect(d.tx[1]).toBeLessThan(d.tx[0]! / 2);
    await write(original);
  }, 60_000);
});
