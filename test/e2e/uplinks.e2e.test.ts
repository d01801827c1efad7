/**
 * Uplinks as they really are, on the lab: the client's second link is bound to an interface
 * (`bindinterface = "wan1"`, no bindhost), a macvlan on uplink 1 that stands for a DHCP/PPPoE/LTE
 * interface. During a transfer its address changes (DHCP renew: the old address removed, the new
 * one set, the route in its table set again), then it is deleted and made again (PPPoE reconnect: a new interface). Each
 * time, uplink 1 must carry data again within 3 s, the transfer arrives intact and mlvpn is not
 * restarted. Then adsl1 (bindhost) loses its address and gets it back, and a client started
 * without that address waits for it. The client runs as `--user nobody` (opening a socket
 * again needs no privilege).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { buildBinary, removeLab, startEnd, startEnds, writeLanTunnelConfigs } from "../lab/mlvpn.ts";
import { labSkipReason, waitFor } from "../lab/netns.ts";
import { createTopology, type Topology } from "../lab/topology.ts";
import { transfer } from "../lab/transfer.ts";

const skip = labSkipReason();
if (skip) console.log(`skipping the uplinks e2e tests: ${skip}`);

const WAN = "wan1";
let topo: Topology;
let dir: string;
let ends: Record<"client" | "server", Subprocess>;

const ip = (...args: string[]) => topo.lab.exec("client", ["ip", ...args], { check: true });

/** Makes wan1 (a macvlan on uplink 1's interface) with ADDR, and its source-routing table's default route. */
async function makeWan(addr: string): Promise<void> {
  await ip("link", "add", "link", topo.uplinks[1]!.clientIf, "name", WAN, "type", "macvlan", "mode", "bridge");
  await ip("addr", "add", `${addr}/24`, "dev", WAN);
  await ip("link", "set", WAN, "up");
  await ip("route", "replace", "default", "via", topo.uplinks[1]!.serverAddr, "dev", WAN, "table", "101");
}

/**
 * Milliseconds from now until uplink 1 sends data again: at least 30 kB within 500 ms (its rate
 * is 8 Mbit/s, so a link in use sends ~500 kB in that time, and still several times 30 kB on a
 * loaded machine; handshakes and keepalives are a few hundred bytes). Gives up after `limitMs`.
 */
async function msUntilTraffic(limitMs: number): Promise<number> {
  const t0 = performance.now();
  const samples: Array<[number, number]> = [];
  while (performance.now() - t0 < limitMs) {
    const t = performance.now();
    samples.push([t, (await topo.counters(1)).clientTxBytes]);
    const old = samples.find(([ts]) => t - ts <= 500);
    if (old && samples.length > 1 && samples.at(-1)![1] - old[1] >= 30_000 && t - old[0] >= 300) return old[0] - t0;
    await Bun.sleep(50);
  }
  return Number.POSITIVE_INFINITY;
}

describe.skipIf(skip !== null)("a link bound to an interface whose address changes, deleted and made again", () => {
  beforeAll(async () => {
    buildBinary();
    topo = await createTopology({ uplinks: [{ rateMbit: 8, delayMs: 5 }, { rateMbit: 8, delayMs: 5 }] });
    // Uplink 1's address moves from its interface to wan1 on top of it.
    await ip("addr", "del", `${topo.uplinks[1]!.clientAddr}/24`, "dev", topo.uplinks[1]!.clientIf);
    // A lab artefact, not a real uplink's: the macvlan's lower device would also answer ARP for
    // wan1's addresses (arp_ignore 0), and the server would send to its MAC, where a socket bound
    // to wan1 never sees the packets. arp_ignore 1: it answers for its own addresses only. The
    // server forgets what it learnt before, and the lab's permanent entry for the lower device's
    // MAC (topology.ts, pinNeighbours): wan1 has a MAC of its own, learnt by ARP as a DHCP
    // uplink's would be.
    await topo.lab.exec("client", ["sysctl", "-q", "-w", `net.ipv4.conf.${topo.uplinks[1]!.clientIf}.arp_ignore=1`], { check: true });
    await makeWan(topo.uplinks[1]!.clientAddr);
    await topo.lab.exec("server", ["ip", "neigh", "del", topo.uplinks[1]!.clientAddr, "dev", topo.uplinks[1]!.serverIf], { check: true });
    await topo.lab.exec("server", ["ip", "neigh", "flush", "dev", topo.uplinks[1]!.serverIf], { check: true });
    dir = mkdtempSync(join(tmpdir(), "mlvpn-uplinks-"));
    writeLanTunnelConfigs({
      dir,
      uplinks: topo.uplinks.map((u, i) => ({ client: i === 1 ? "" : u.clientAddr, server: topo.serverPublic, port: 5080 + i })),
      link: (i, side) => (i === 1 && side === "client" ? `bindinterface = "${WAN}"` : ""),
    });
    ends = await startEnds(topo.lab, dir, 2, { user: "nobody" });
  }, 60_000);

  afterAll(() => removeLab(topo, dir), 30_000);

  const clientLog = () => readFileSync(join(dir, "client.log"), "utf8");

  test("the link's socket is bound to wan1, from wan1's address", () => {
    expect(clientLog()).toMatch(/\[adsl2\] 0\.0\.0\.0:\d+ on wan1 → 172\.31\.255\.1:5081/);
  });

  test("wan1's address changes during a transfer: uplink 1 carries data again within 3 s; the transfer arrives intact", async () => {
    let ms = Number.POSITIVE_INFINITY;
    const { sent, received } = await transfer(topo, dir, 16, 0, async () => {
      await Bun.sleep(2500);
      // As udhcpc renews to a new address: the old one flushed, the new one set, the route again.
      await ip("addr", "del", `${topo.uplinks[1]!.clientAddr}/24`, "dev", WAN);
      await ip("addr", "add", "192.168.102.3/24", "dev", WAN);
      await ip("route", "replace", "default", "via", topo.uplinks[1]!.serverAddr, "dev", WAN, "table", "101");
      ms = await msUntilTraffic(10_000);
    });
    console.log(`address change: uplink 1 carried data again after ${ms.toFixed(0)} ms`);
    expect(received.sha256).toBe(sent.sha256);
    expect(ms).toBeLessThanOrEqual(3000);
    expect(ends.client.exitCode).toBeNull();
  }, 120_000);

  test("wan1 deleted, then made again 2 s later: uplink 1 carries data within 3 s of its return", async () => {
    let ms = Number.POSITIVE_INFINITY;
    const { sent, received } = await transfer(topo, dir, 20, 0, async () => {
      await Bun.sleep(2500);
      await ip("link", "del", WAN);
      await waitFor(() => clientLog().includes("[adsl2] link down"), { timeoutMs: 12_000, what: "adsl2 down once wan1 is gone" });
      await Bun.sleep(1000);
      await makeWan("192.168.102.4");
      ms = await msUntilTraffic(10_000);
    });
    console.log(`interface made again: uplink 1 carried data again after ${ms.toFixed(0)} ms`);
    expect(received.sha256).toBe(sent.sha256);
    expect(ms).toBeLessThanOrEqual(3000);
    expect(clientLog()).toMatch(/\[adsl2\] bound again: 0\.0\.0\.0:\d+ on wan1/);
    // Logged once while it was gone, not on every attempt.
    expect(clientLog().match(/\[adsl2\] interface wan1 is gone: waiting for it/g)?.length).toBe(1);
    expect(ends.client.exitCode).toBeNull();
  }, 120_000);

  // A socket stays bound to an address that goes away: once the address is back, it works again
  // (here the link went down because the address's routes went with it: ENETUNREACH).
  test("adsl1's bindhost address removed, then back 2 s later (no bindinterface): the link comes back by itself", async () => {
    const u = topo.uplinks[0]!;
    const ups = () => clientLog().split("[adsl1] link up").length - 1;
    const before = ups();
    const { sent, received } = await transfer(topo, dir, 12, 0, async () => {
      await Bun.sleep(2000);
      await ip("addr", "del", `${u.clientAddr}/24`, "dev", u.clientIf);
      await waitFor(() => clientLog().includes("[adsl1] link down"), { timeoutMs: 12_000, what: "adsl1 down once its address is gone" });
      await Bun.sleep(2000);
      await ip("addr", "add", `${u.clientAddr}/24`, "dev", u.clientIf);
      await ip("route", "replace", "default", "via", u.serverAddr, "dev", u.clientIf, "table", "100");
      await waitFor(() => ups() > before, { timeoutMs: 3_000, what: "adsl1 up again within 3 s" });
    });
    expect(received.sha256).toBe(sent.sha256);
    expect(ends.client.exitCode).toBeNull();
  }, 120_000);

  test("a client started while adsl1's bindhost is missing waits for it (logged once), binds when it appears, and comes up", async () => {
    const u = topo.uplinks[0]!;
    ends.client.kill("SIGTERM");
    expect(await ends.client.exited).toBe(0);
    await ip("addr", "del", `${u.clientAddr}/24`, "dev", u.clientIf);
    renameSync(join(dir, "client.log"), join(dir, "client-before-restart.log"));
    ends.client = startEnd(topo.lab, dir, "client", { user: "nobody" });
    await waitFor(() => clientLog().includes("[adsl2] link up"), { timeoutMs: 15_000, what: "the client up on adsl2 alone" });
    await Bun.sleep(3000); // three reconnect attempts of adsl1 without its address
    await ip("addr", "add", `${u.clientAddr}/24`, "dev", u.clientIf);
    await ip("route", "replace", "default", "via", u.serverAddr, "dev", u.clientIf, "table", "100");
    await waitFor(() => clientLog().includes("[adsl1] link up"), { timeoutMs: 5_000, what: "adsl1 up once its address is there" });
    expect(clientLog().match(/\[adsl1\] bindhost 192\.168\.101\.2 is not an address of this machine: waiting for it/g)?.length).toBe(1);
    expect(clientLog()).toMatch(/\[adsl1\] bound again: 192\.168\.101\.2:\d+ → 172\.31\.255\.1:5080/);
  }, 60_000);
});
