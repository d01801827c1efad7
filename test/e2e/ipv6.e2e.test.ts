/**
 * IPv6 uplinks on the lab: the guide's topology with uplink addresses fd00:10N::2 (client) and
 * fd00:10N::1 (server), the server's public IPv6 address fd00:ffff::1 on its loopback, and source
 * routing per uplink for IPv6 as the guide does it for IPv4. Two tunnels: one whose uplinks are
 * IPv6 only, one mixing an IPv4 and an IPv6 link. The server's links set no bindhost: they
 * listen on `::`, for both families. Ping and a 6 MB transfer through the tunnel, both uplinks
 * carrying data.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBinary, removeLab, startEnds, writeLanTunnelConfigs } from "../lab/mlvpn.ts";
import { labSkipReason, pingOk, waitFor } from "../lab/netns.ts";
import { createTopology, type Topology } from "../lab/topology.ts";
import { transfer } from "../lab/transfer.ts";

const skip = labSkipReason();
if (skip) console.log(`skipping the IPv6 uplinks e2e tests: ${skip}`);
const dnsSkip = skip ?? (Bun.which("nft") ? null : "needs nft (Debian: nftables)");
if (!skip && dnsSkip) console.log(`skipping the dynamic DNS e2e test: ${dnsSkip}`);

const SERVER6 = "fd00:ffff::1";
const v6 = (i: number, host: 1 | 2) => `fd00:${102 + i - 1}::${host}`;

/** Gives uplink i IPv6 addresses (no duplicate address detection: usable at once) and the client's IPv6 source routing. */
async function ipv6Uplink(topo: Topology, i: number): Promise<void> {
  const u = topo.uplinks[i]!;
  const run = (ns: string, ...cmd: string[]) => topo.lab.exec(ns, cmd, { check: true });
  await run("client", "sysctl", "-q", "-w", `net.ipv6.conf.${u.clientIf}.disable_ipv6=0`);
  await run("server", "sysctl", "-q", "-w", `net.ipv6.conf.${u.serverIf}.disable_ipv6=0`);
  await run("client", "ip", "-6", "addr", "add", `${v6(i, 2)}/64`, "dev", u.clientIf, "nodad");
  await run("server", "ip", "-6", "addr", "add", `${v6(i, 1)}/64`, "dev", u.serverIf, "nodad");
  await run("client", "ip", "-6", "route", "add", "default", "via", v6(i, 1), "dev", u.clientIf, "table", String(100 + i));
  await run("client", "ip", "-6", "rule", "add", "from", `fd00:${102 + i - 1}::/64`, "table", String(100 + i));
}

for (const kind of ["IPv6 only", "mixed IPv4 and IPv6"] as const) {
  describe.skipIf(skip !== null)(`a tunnel over ${kind} uplinks`, () => {
    let topo: Topology;
    let dir: string;
    const v6Links = kind === "IPv6 only" ? [0, 1] : [1];

    beforeAll(async () => {
      buildBinary();
      topo = await createTopology({ uplinks: [{ rateMbit: 8, delayMs: 5 }, { rateMbit: 8, delayMs: 5 }] });
      await topo.lab.exec("server", ["sysctl", "-q", "-w", "net.ipv6.conf.lo.disable_ipv6=0"], { check: true });
      await topo.lab.exec("server", ["ip", "-6", "addr", "add", `${SERVER6}/128`, "dev", "lo"], { check: true });
      for (const i of v6Links) await ipv6Uplink(topo, i);
      if (kind === "IPv6 only") {
        // No IPv4 left on the uplinks: the client's IPv4 addresses and routes go.
        for (const u of topo.uplinks) await topo.lab.exec("client", ["ip", "-4", "addr", "flush", "dev", u.clientIf], { check: true });
      }
      dir = mkdtempSync(join(tmpdir(), "mlvpn-ipv6-"));
      writeLanTunnelConfigs({
        dir,
        uplinks: topo.uplinks.map((u, i) => (v6Links.includes(i) ? { client: v6(i, 2), server: SERVER6, port: 5080 + i } : { client: u.clientAddr, server: topo.serverPublic, port: 5080 + i })),
      });
      await startEnds(topo.lab, dir, 2);
    }, 60_000);

    afterAll(() => removeLab(topo, dir), 30_000);

    test("the server listens on :: for both families; the client's IPv6 links send to the server's IPv6 address", () => {
      const server = readFileSync(join(dir, "server.log"), "utf8");
      expect(server).toContain("[adsl1] listening on :::5080");
      expect(server).toContain("[adsl2] listening on :::5081");
      const client = readFileSync(join(dir, "client.log"), "utf8");
      for (const i of v6Links) expect(client).toMatch(new RegExp(`\\[adsl${i + 1}\\] ${v6(i, 2)}:\\d+ → ${SERVER6}:${5080 + i}`));
    });

    test("ping and 6 MB through the tunnel, over both uplinks", async () => {
      await waitFor(async () => (await pingOk(topo.lab, "lan", topo.internetHost, { count: 1, intervalMs: 200 })).received === 1, { timeoutMs: 10_000, what: "a ping through the tunnel" });
      const before = await Promise.all([topo.counters(0), topo.counters(1)]);
      const { sent, received } = await transfer(topo, dir, 6, 0);
      expect(received.sha256).toBe(sent.sha256);
      const after = await Promise.all([topo.counters(0), topo.counters(1)]);
      const d = after.map((c, i) => c.clientTxBytes - before[i]!.clientTxBytes);
      console.log(`${kind}: 6 MB in ${sent.seconds.toFixed(2)} s; uplink bytes ${d[0]} / ${d[1]}`);
      expect(d[0]).toBeGreaterThan(1_000_000);
      expect(d[1]).toBeGreaterThan(1_000_000);
    }, 90_000);
  });
}

/**
 * Dynamic DNS: the client knows the server by a name with only an IPv6 address (AAAA), from its
 * namespace's /etc/hosts (`ip netns exec` mounts /etc/netns/NS/hosts there). The server moves to
 * another address and the name follows; the links, silent past their timeout (3 s), go down,
 * re-resolve the name on their reconnect attempts and come up on the new address. The server
 * answers from its public address (the routes back to the uplinks carry it as source), as a
 * server whose public address is on its interface does.
 */
describe.skipIf(dnsSkip !== null)("a server name with only an IPv6 address, re-resolved after the server moves", () => {
  let topo: Topology;
  let dir: string;
  let hostsDir = "";
  let madeNetnsDir = false;
  const NEW6 = "fd00:ffff::2";
  const events = () => readFileSync(join(dir, "client-events.log"), "utf8").split("\n");
  const count = (e: string) => events().filter((l) => l === e).length;
  const sourceRoutes = (src: string) =>
    Promise.all(topo.uplinks.map((u, i) => topo.lab.exec("server", ["ip", "-6", "route", "replace", `fd00:${101 + i}::/64`, "dev", u.serverIf, "src", src, "metric", "256", "proto", "kernel"], { check: true })));

  beforeAll(async () => {
    buildBinary();
    topo = await createTopology({ uplinks: [{ rateMbit: 8, delayMs: 5 }, { rateMbit: 8, delayMs: 5 }] });
    await topo.lab.exec("server", ["sysctl", "-q", "-w", "net.ipv6.conf.lo.disable_ipv6=0"], { check: true });
    await topo.lab.exec("server", ["ip", "-6", "addr", "add", `${SERVER6}/128`, "dev", "lo"], { check: true });
    for (const i of [0, 1]) await ipv6Uplink(topo, i);
    await sourceRoutes(SERVER6);
    madeNetnsDir = !existsSync("/etc/netns");
    hostsDir = `/etc/netns/${topo.lab.ns("client")}`;
    mkdirSync(hostsDir, { recursive: true });
    writeFileSync(join(hostsDir, "hosts"), `127.0.0.1 localhost\n${SERVER6} vpn.lab\n`);
    dir = mkdtempSync(join(tmpdir(), "mlvpn-dns-"));
    writeLanTunnelConfigs({ dir, uplinks: topo.uplinks.map((_u, i) => ({ client: v6(i, 2), server: "vpn.lab", port: 5080 + i })), timeout: 3 });
    await startEnds(topo.lab, dir, 2);
  }, 60_000);

  afterAll(async () => {
    if (hostsDir) rmSync(hostsDir, { recursive: true, force: true });
    if (madeNetnsDir) rmSync("/etc/netns", { recursive: true, force: true });
    await removeLab(topo, dir);
  }, 30_000);

  test("resolved to its IPv6 address at start", () => {
    const log = readFileSync(join(dir, "client.log"), "utf8");
    expect(log).toMatch(/\[adsl1\] fd00:101::2:\d+ → vpn\.lab:5080/);
  });

  test("the server moves to another address, the name follows: both links down after their timeout, then up on the new address", async () => {
    // The server takes the links' packets only on its new address from now on (its old one goes,
    // and nothing sent to its uplink addresses is taken either): without a new lookup of the
    // name the client can no longer reach it.
    const only = `table inet moved {
  chain input {
    type filter hook input priority 0; policy accept;
    ip6 daddr != ${NEW6} udp dport 5080-5081 drop
  }
}
`;
    const r = Bun.spawnSync(["ip", "netns", "exec", topo.lab.ns("server"), "nft", "-f", "-"], { stdin: new TextEncoder().encode(only), stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    await topo.lab.exec("server", ["ip", "-6", "addr", "del", `${SERVER6}/128`, "dev", "lo"], { check: true });
    await waitFor(() => count("rtun_down adsl1") === 1 && count("rtun_down adsl2") === 1, { timeoutMs: 10_000, what: "both links down after 3 s of silence" });
    await topo.lab.exec("server", ["ip", "-6", "addr", "add", `${NEW6}/128`, "dev", "lo", "nodad"], { check: true });
    await sourceRoutes(NEW6);
    writeFileSync(join(hostsDir, "hosts"), `127.0.0.1 localhost\n${NEW6} vpn.lab\n`); // in place: the mount shows it
    const t0 = performance.now();
    await waitFor(() => count("rtun_up adsl1") === 2 && count("rtun_up adsl2") === 2, { timeoutMs: 10_000, what: "both links up again on the new address" });
    console.log(`dynamic DNS: links up on the new address ${(performance.now() - t0).toFixed(0)} ms after the name changed`);
    const ping = await pingOk(topo.lab, "lan", topo.internetHost, { count: 3, intervalMs: 100 });
    expect(ping.received).toBe(3);
  }, 30_000);
});
