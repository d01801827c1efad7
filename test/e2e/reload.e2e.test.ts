/**
 * Reload and shutdown end to end on the lab, with dist/mlvpn on both ends (three uplinks, the
 * tunnel started on the first two):
 *   (a) a configuration with a syntax error + SIGHUP: every error logged with file:line, the
 *       reload refused, ping goes on without loss, the process lives;
 *   (b) adsl1 replaced by adsl3 in both files + SIGHUP, the server first: its adsl1 receives
 *       until the client has acknowledged the DISCONNECT, adsl1 disconnected (rtun_down), adsl3
 *       up (rtun_up), adsl2 untouched (no hook event, no link down), ping goes on;
 *   (c) adsl2's port changed: new socket and handshake (rtun_down, rtun_up); adsl3's tolerance
 *       changed in place without a bounce;
 *   (d) SIGTERM: exit status 0, rtun_down for every link and tuntap_down ran.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { allUp, buildBinary, eventsOf, type Side, startEnd, writeEndConfigs } from "../lab/mlvpn.ts";
import { labSkipReason, pingOk, waitFor } from "../lab/netns.ts";
import { createTopology, type Topology } from "../lab/topology.ts";
import { reportSkip } from "../helpers/skip.ts";
import { parseMemoryLine } from "../../src/io/memory-report.ts";

const skip = labSkipReason();
reportSkip(import.meta.file, "the reload e2e tests", skip);

let topo: Topology;
let dir: string;
/** Each end's configuration text with all three links, from the lab's usual writer. */
const full: Record<Side, string> = { client: "", server: "" };
const ends: Partial<Record<Side, Subprocess>> = {};
const SIDES = ["client", "server"] as const;

/** The configuration text without the given link sections. */
function without(text: string, ...links: string[]): string {
  return text
    .split(/(?=^\[)/m)
    .filter((block) => !links.some((l) => block.startsWith(`[${l}]`)))
    .join("");
}
const confPath = (side: Side) => join(dir, `${side}.conf`);
const writeConf = (side: Side, text: string) => writeFileSync(confPath(side), text, { mode: 0o600 });
const logOf = (side: Side) => readFileSync(join(dir, `${side}.log`), "utf8");
const events = (side: Side) => eventsOf(dir, side);

/**
 * Pings through the tunnel while `during` runs; returns what ping saw. Each reply is waited for
 * up to 5 s (test/lab/netns.ts pingOk): on a busy machine a reply can come after 1 s (three of 40
 * did, at a load of 18 with a core held busy), and a late reply is not a lost one.
 */
async function pingDuring(count: number, during: () => Promise<void>) {
  const ping = pingOk(topo.lab, "lan", topo.internetHost, { count, intervalMs: 50, replyTimeoutMs: 5000 });
  await Bun.sleep(300);
  await during();
  return ping;
}

describe.skipIf(skip !== null)("reload and shutdown on the lab (dist/mlvpn, three uplinks)", () => {
  beforeAll(async () => {
    buildBinary();
    topo = await createTopology({ uplinks: [{ rateMbit: 20, delayMs: 5 }, { rateMbit: 20, delayMs: 5 }, { rateMbit: 20, delayMs: 5 }] });
    dir = mkdtempSync(join(tmpdir(), "mlvpn-reload-"));
    writeEndConfigs({
      dir,
      uplinks: topo.uplinks.map((u, i) => ({ client: u.clientAddr, server: topo.serverPublic, port: 5080 + i })),
      timeout: 10,
      reorderBufferSize: 64,
      clientRoutes: "0.0.0.0/1 128.0.0.0/1",
      serverRoutes: "10.10.0.0/24",
    });
    for (const side of SIDES) {
      full[side] = readFileSync(confPath(side), "utf8");
      writeConf(side, without(full[side], "adsl3"));
    }
    ends.server = startEnd(topo.lab, dir, "server");
    ends.client = startEnd(topo.lab, dir, "client");
    await waitFor(() => allUp(dir, "client", 2) && allUp(dir, "server", 2), { timeoutMs: 20_000, what: "adsl1 and adsl2 up on both ends" });
  }, 60_000);

  afterAll(async () => {
    for (const p of Object.values(ends)) p?.kill("SIGKILL");
    await topo?.destroy();
    if (dir && !process.env.MLVPN_KEEP_E2E) rmSync(dir, { recursive: true, force: true });
    else if (dir) console.log(`e2e files kept in ${dir}`);
  }, 30_000);

  test("a configuration with errors is refused with file:line, and the tunnel keeps running", async () => {
    const good = readFileSync(confPath("client"), "utf8");
    // An unclosed section header (syntax) and a bad value: both must be reported.
    writeConf("client", good.replace("[adsl2]", "[adsl2\n").replace("timeout = 10", 'timeout = "soon"'));
    const eventsBefore = events("client").length;
    const ping = await pingDuring(40, async () => {
      ends.client!.kill("SIGHUP");
      await waitFor(() => logOf("client").includes("reload rejected"), { timeoutMs: 5000, what: "the reload to be rejected" });
    });
    const log = logOf("client");
    expect(log).toMatch(new RegExp(`${confPath("client").replace(/[.]/g, "\\.")}:\\d+: error: .*no closing`));
    expect(log).toMatch(/client\.conf:\d+: error: .*timeout/);
    expect(log).toContain("reload rejected, keeping the running configuration");
    expect(ping.received).toBe(40);
    expect(ends.client!.exitCode).toBeNull();
    expect(events("client").length).toBe(eventsBefore);
    writeConf("client", good);
  }, 30_000);

  test("adsl1 replaced by adsl3: adsl1 disconnected, adsl3 up, adsl2 untouched, traffic flows", async () => {
    const before: Record<Side, number> = { client: events("client").length, server: events("server").length };
    const logBefore: Record<Side, number> = { client: logOf("client").length, server: logOf("server").length };
    for (const side of SIDES) writeConf(side, without(full[side], "adsl1"));
    const ping = await pingDuring(60, async () => {
      // The server first: its adsl1 leaves while the client still sends on it, until the client
      // has seen the DISCONNECT (src/core/departure.ts; what came meanwhile was lost before).
      ends.server!.kill("SIGHUP");
      await waitFor(() => logOf("client").slice(logBefore.client).includes("[adsl1] link down: the peer disconnected"), { timeoutMs: 5000, what: "the client to hear adsl1's DISCONNECT" });
      ends.client!.kill("SIGHUP");
      await waitFor(() => SIDES.every((s) => events(s).includes("rtun_up adsl3")), { timeoutMs: 10_000, what: "adsl3 up on both ends" });
    });
    for (const side of SIDES) {
      const changed = events(side).slice(before[side]);
      expect(changed.sort()).toEqual(["rtun_down adsl1", "rtun_up adsl3"]);
      const log = logOf(side).slice(logBefore[side]);
      expect(log).toContain("[adsl1] removed");
      expect(log).toContain("[adsl3] added");
      expect(log).not.toContain("[adsl2] link down");
      expect(log).not.toContain("[adsl2] link up");
    }
    // The server kept adsl1's socket until the client had acknowledged the DISCONNECT; the
    // client's adsl1, down by then, went at once.
    const gone = /\[adsl1\] gone: [^\n]*/.exec(logOf("server").slice(logBefore.server))?.[0];
    console.log(`ping during the reload: ${ping.received}/${ping.transmitted}; server: ${gone}`);
    expect(gone).toMatch(/the peer acknowledged its DISCONNECT after \d+ ms/);
    // Nothing is lost: one ping in the window between the server's removal and the client's
    // hearing of it was, before adsl1 kept receiving (59/60 in 2 of 5 runs under load, 58/60 seen).
    expect(ping.received).toBe(ping.transmitted);
    // adsl1's uplink is quiet now (no keepalive, no data), adsl3's carries the tunnel's keepalives.
    const [q0, q2] = await Promise.all([topo.counters(0), topo.counters(2)]);
    const again = await pingOk(topo.lab, "lan", topo.internetHost, { count: 20, intervalMs: 50 });
    const [r0, r2] = await Promise.all([topo.counters(0), topo.counters(2)]);
    expect(again.received).toBe(20);
    expect(r0.clientTxPackets - q0.clientTxPackets).toBeLessThanOrEqual(2);
    expect(r2.clientTxPackets - q2.clientTxPackets).toBeGreaterThan(0);
  }, 40_000);

  test("adsl2's port changed (new socket, new handshake), adsl3's latency_tolerence changed in place", async () => {
    const before: Record<Side, number> = { client: events("client").length, server: events("server").length };
    const logBefore: Record<Side, number> = { client: logOf("client").length, server: logOf("server").length };
    const moved = (side: Side) =>
      without(full[side], "adsl1")
        .replace(side === "client" ? "remoteport = 5081" : "bindport = 5081", side === "client" ? "remoteport = 5091" : "bindport = 5091")
        .replace("[adsl3]\n", "[adsl3]\nlatency_tolerence = 900\n");
    for (const side of SIDES) writeConf(side, moved(side));
    const ping = await pingDuring(60, async () => {
      ends.server!.kill("SIGHUP");
      ends.client!.kill("SIGHUP");
      await waitFor(() => SIDES.every((s) => events(s).slice(before[s]).includes("rtun_up adsl2")), { timeoutMs: 10_000, what: "adsl2 up again on both ends" });
    });
    for (const side of SIDES) {
      expect(events(side).slice(before[side])).toEqual(["rtun_down adsl2", "rtun_up adsl2"]);
      const log = logOf(side).slice(logBefore[side]);
      expect(log).toContain(side === "client" ? "[adsl2] remoteport 5081 → 5091: new socket, new handshake" : "[adsl2] bindport 5081 → 5091: new socket, new handshake");
      expect(log).toContain("[adsl3] latency_tolerence 1000 → 900 (applied, the link stays up)");
      expect(log).not.toContain("[adsl3] link down");
    }
    expect(logOf("server").slice(logBefore.server)).toContain("[adsl2] listening on :::5091");
    console.log(`ping while adsl2 moved: ${ping.received}/${ping.transmitted}`);
    expect(ping.received).toBe(ping.transmitted);
  }, 40_000);

  test("SIGUSR1: one memory line (live heap after a full collection), and the tunnel keeps running", async () => {
    const from = logOf("server").length;
    const lines = () => logOf("server").slice(from).split("\n").filter((l) => l.includes("[INFO/memory]"));
    ends.server!.kill("SIGUSR1");
    await waitFor(() => lines().length > 0, { timeoutMs: 5000, what: "the memory line" });
    const m = parseMemoryLine(lines()[0]!);
    expect(m).not.toBeNull();
    // The daemon's live heap: its modules, link state and packet stores (MiBs), not a made-up 0.
    expect(m!.liveHeapMiB).toBeGreaterThan(1);
    expect(m!.objects).toBeGreaterThan(1000);
    expect(m!.rssAnonMiB).toBeGreaterThan(m!.liveHeapMiB / 4);
    expect((await pingOk(topo.lab, "lan", topo.internetHost, { count: 3, intervalMs: 50, replyTimeoutMs: 5000 })).ok).toBe(true);
    expect(ends.server!.exitCode).toBeNull();
  }, 30_000);

  test("SIGTERM: exit status 0 after DISCONNECT and the down hooks", async () => {
    ends.client!.kill("SIGTERM");
    expect(await ends.client!.exited).toBe(0);
    const ev = events("client");
    expect(ev.at(-1)).toBe("tuntap_down");
    expect(ev.slice(-3, -1).sort()).toEqual(["rtun_down adsl2", "rtun_down adsl3"]);
    // The server heard the DISCONNECTs (its timeout is 10 s: this is faster).
    await waitFor(() => events("server").includes("tuntap_down"), { timeoutMs: 3000, what: "the server to see the DISCONNECTs" });
    ends.server!.kill("SIGINT");
    expect(await ends.server!.exited).toBe(0);
    expect(logOf("server")).toContain("SIGINT received, stopping");
  }, 30_000);
});
