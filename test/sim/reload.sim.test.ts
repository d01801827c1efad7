/**
 * Reload in the core, on the simulated network: a link added under traffic carries data, a link
 * removed under traffic loses nothing, settings changed in place never bounce the link, and link
 * indices stay stable (a removed link's index is never reused).
 */
import { describe, expect, test } from "bun:test";
import { LinkStatus } from "../../src/core/link.ts";
import type { TunnelEvent } from "../../src/core/tunnel.ts";
import { clientAddr, linkConfig, numberedPacket, packetId, SimPair } from "./simnet.ts";

const ofType = (events: TunnelEvent[], type: TunnelEvent["type"]) => events.filter((e) => e.type === type).map((e) => ("link" in e ? e.link : -1));
const dataOn = (sim: SimPair, from: "client" | "server", link: number, sinceMs = 0) =>
  sim.captured.filter((d) => d.from === from && d.link === link && d.atMs >= sinceMs && d.bytes.length > 900).length;
const sorted = (ids: number[]) => [...ids].sort((a, b) => a - b);
const range = (n: number) => [...Array(n).keys()];

/** Sends `count` 1000-byte packets from both ends, `gapMs` apart, numbered from `start`. */
function bothWays(sim: SimPair, start: number, count: number, gapMs: number): void {
  for (let i = start; i < start + count; i++) {
    sim.client.handleTunPacket(numberedPacket(i, 1000), sim.now);
    sim.server.handleTunPacket(numberedPacket(i, 1000), sim.now);
    sim.run(sim.now + gapMs);
  }
}

describe("reload: links added and removed", () => {
  test("a link added under traffic comes up on both ends and carries data; nothing is lost", () => {
    // One 8 Mbit/s link at 5 Mbit/s each way, then 12 Mbit/s: the added link is needed for it.
    const slow = { delayMs: 10, rateMbit: 8 };
    const sim = new SimPair({ links: [{ name: "adsl1", up: slow, down: slow }], reorderBufferSize: 256 });
    sim.run(300);
    bothWays(sim, 0, 1500, (1000 * 8) / 5_000);
    const addedAt = sim.now;
    const index = sim.addLink({ name: "adsl2", up: slow, down: slow });
    expect(index).toBe(1);
    bothWays(sim, 1500, 3000, (1000 * 8) / 12_000);
    sim.run(sim.now + 1000);

    for (const side of ["client", "server"] as const) {
      expect(ofType(sim.rec[side].events, "link-up")).toEqual([0, 1]);
      expect(ofType(sim.rec[side].events, "link-down")).toEqual([]);
      expect(sim.rec[side].events.filter((e) => e.type === "tunnel-up").length).toBe(1);
    }
    expect(sim.client.links.map((l) => l.name)).toEqual(["adsl1", "adsl2"]);
    expect(dataOn(sim, "client", 0, addedAt) + dataOn(sim, "client", 1, addedAt)).toBeGreaterThan(2900);
    expect(dataOn(sim, "client", 1, addedAt)).toBeGreaterThan(900);
    expect(dataOn(sim, "server", 1, addedAt)).toBeGreaterThan(900);
    // Nothing before the reload was lost, and after it both links together carry 12 Mbit/s (at
    // 80 % of their sum the send path refuses a little at its queue limit, as without a reload).
    for (const side of ["client", "server"] as const) {
      const ids = sim.rec[side].delivered.map(packetId);
      expect(ids.filter((id) => id < 1500).length).toBe(1500);
      expect(ids.filter((id) => id >= 2000).length).toBeGreaterThan(0.95 * 2500);
    }
  });

  test("a link removed under traffic: DISCONNECT to the peer, its traffic moves to the other link, nothing is lost", () => {
    const path = { delayMs: 15, rateMbit: 20 };
    const sim = new SimPair({ links: [{ name: "adsl1", up: path, down: path }, { name: "adsl2", up: path, down: path }], reorderBufferSize: 256 });
    sim.run(300);
    // 12 Mbit/s each way: both links busy.
    const gap = (1000 * 8) / 12_000;
    bothWays(sim, 0, 1500, gap);
    expect(dataOn(sim, "client", 0)).toBeGreaterThan(200);
    expect(dataOn(sim, "server", 0)).toBeGreaterThan(200);
    // The client's configuration lost adsl1 (the server's may still have it).
    const removedAt = sim.now;
    sim.client.removeLink(0, sim.now);
    bothWays(sim, 1500, 1500, gap);
    sim.run(sim.now + 1000);

    expect(ofType(sim.rec.client.events, "link-down")).toEqual([0]);
    expect(sim.rec.client.events.find((e) => e.type === "link-down")).toMatchObject({ reason: "removed from the configuration" });
    expect(sim.rec.server.events.find((e) => e.type === "link-down")).toMatchObject({ link: 0, reason: "the peer disconnected" });
    expect(ofType(sim.rec.client.events, "tunnel-down")).toEqual([]);
    // No data went on the removed link after its DISCONNECT, only acknowledgements of what still
    // arrived on it until the server saw the DISCONNECT (reload-departure.sim.test.ts), a round
    // trip (30 ms); the server stops too.
    expect(dataOn(sim, "client", 0, removedAt + 0.001)).toBe(0);
    expect(sim.captured.filter((d) => d.from === "client" && d.link === 0 && d.atMs > removedAt + 2 * 30)).toEqual([]);
    expect(dataOn(sim, "server", 0, removedAt + 100)).toBe(0);
    expect(sorted(sim.rec.server.delivered.map(packetId))).toEqual(range(3000));
    expect(sorted(sim.rec.client.delivered.map(packetId))).toEqual(range(3000));
    // Still only the client's INIT retries would use the server's adsl1; the client has none.
    expect(sim.client.links.map((l) => l.name)).toEqual(["adsl2"]);
    expect(sim.client.snapshot().links.map((l) => l.name)).toEqual(["adsl2"]);
    expect(sim.client.linkAt(0)).toBeUndefined();
  });

  test("a removed link's index is never reused: datagrams for it are dropped, a new link takes the next index", () => {
    const sim = new SimPair({ links: [{ name: "a" }, { name: "b" }] });
    sim.run(200);
    sim.client.removeLink(0, sim.now);
    sim.server.removeLink(0, sim.now);
    sim.run(sim.now + 200);
    // A late datagram on the old index is not taken for anything else.
    const before = sim.client.drops.get("bad-link");
    sim.inject("client", 0, new Uint8Array(80), clientAddr(0));
    expect(sim.client.drops.get("bad-link")).toBe(before + 1);
    expect(sim.addLink({ name: "c" })).toBe(2);
    sim.run(sim.now + 500);
    expect(sim.client.links.map((l) => [l.name, l.index, l.status])).toEqual([
      ["b", 1, LinkStatus.AuthOk],
      ["c", 2, LinkStatus.AuthOk],
    ]);
    expect(sim.client.nameOf(0)).toBe("a");
    // The status lists links in the new configuration's order.
    sim.client.orderLinks([2, 1]);
    expect(sim.client.snapshot().links.map((l) => l.name)).toEqual(["c", "b"]);
    expect(sim.client.eligibleLinks).toEqual([2, 1]);
  });

  test("removing the last link up runs the tunnel-down event; a link never up is removed silently", () => {
    const sim = new SimPair({ links: [{ name: "a" }, { name: "b", up: { delayMs: 10, cut: true }, down: { delayMs: 10, cut: true } }] });
    sim.run(3000);
    expect(sim.client.links.map((l) => l.status)).toEqual([LinkStatus.AuthOk, LinkStatus.AuthSent]);
    sim.client.removeLink(1, sim.now);
    expect(ofType(sim.rec.client.events, "link-down")).toEqual([]);
    sim.client.removeLink(0, sim.now);
    expect(ofType(sim.rec.client.events, "link-down")).toEqual([0]);
    expect(sim.rec.client.events.filter((e) => e.type === "tunnel-down").length).toBe(1);
    expect(sim.client.links).toEqual([]);
    sim.run(sim.now + 5000);
    expect(sim.captured.filter((d) => d.from === "client" && d.atMs > sim.now - 5000)).toEqual([]);
  });
});

describe("reload: settings changed in place", () => {
  test("loss_tolerence lowered and raised again: lossy and back, without a bounce", () => {
    const lossy = { delayMs: 10, loss: 0.1 };
    const sim = new SimPair({ links: [{ name: "a", up: lossy, down: lossy }, { name: "b" }], seed: 3 });
    sim.run(3000);
    expect(sim.client.links[0]!.status).toBe(LinkStatus.AuthOk);
    const session = sim.client.links[0]!.current;
    sim.client.updateLink(0, { ...linkConfig(sim.links[0]!, 0), loss_tolerence: 5 }, sim.now);
    // Loss is measured over the keepalives of a few seconds.
    for (let t = 0; t < 60 && sim.client.links[0]!.status !== LinkStatus.Lossy; t++) sim.run(sim.now + 500);
    expect(sim.client.links[0]!.status).toBe(LinkStatus.Lossy);
    expect(sim.client.eligibleLinks).toEqual([1]);
    sim.client.updateLink(0, linkConfig(sim.links[0]!, 0), sim.now);
    // 100 % turns the check off: the link is healthy again at once.
    expect(sim.client.links[0]!.status).toBe(LinkStatus.AuthOk);
    expect(sim.client.eligibleLinks).toEqual([0, 1]);
    expect(sim.client.links[0]!.current).toBe(session);
    expect(ofType(sim.rec.client.events, "link-down")).toEqual([]);
    expect(sorted(ofType(sim.rec.client.events, "link-up"))).toEqual([0, 1]);
    expect(sim.client.links[0]!.counters.disconnects).toBe(0);
  });

  test("latency_tolerence lowered below the link's RTT: slow link; fallback_only moves traffic", () => {
    const sim = new SimPair({ links: [{ name: "a", up: { delayMs: 40 }, down: { delayMs: 40 } }, { name: "b" }] });
    sim.run(3000);
    sim.client.updateLink(0, { ...linkConfig(sim.links[0]!, 0), latency_tolerence: 50 }, sim.now);
    expect(sim.client.links[0]!.status).toBe(LinkStatus.HighLatency);
    sim.client.updateLink(1, { ...linkConfig(sim.links[1]!, 1), fallback_only: true }, sim.now);
    // b is healthy but now a fallback link, a is slow: a healthy fallback link beats a slow one.
    expect(sim.client.eligibleLinks).toEqual([1]);
    sim.client.updateLink(0, linkConfig(sim.links[0]!, 0), sim.now);
    expect(sim.client.eligibleLinks).toEqual([0]);
    expect(ofType(sim.rec.client.events, "link-down")).toEqual([]);
  });

  test("a shorter timeout takes effect on the running link", () => {
    const sim = new SimPair({ links: [{ name: "a", timeout: 60 }, { name: "b", timeout: 60 }] });
    sim.run(500);
    sim.client.updateLink(0, { ...linkConfig(sim.links[0]!, 0), timeout: 3 }, sim.now);
    const cutAt = sim.now;
    sim.links[0]!.down = { delayMs: 10, cut: true };
    sim.run(cutAt + 10_000);
    const down = sim.rec.client.events.find((e) => e.type === "link-down");
    expect(down).toMatchObject({ link: 0 });
    expect((down as { reason: string }).reason).toContain("timeout 3 s");
    expect(ofType(sim.rec.client.events, "link-down")).toEqual([0]);
  });

  test("bandwidth_upload lowered: the link is paced below the new limit at once", () => {
    const sim = new SimPair({ links: [{ name: "a", bandwidth_upload: 2_000_000 }] });
    sim.run(300);
    expect(sim.client.snapshot().links[0]!.pacingBytesPerSec).toBeGreaterThan(250_000);
    sim.client.updateLink(0, { ...linkConfig(sim.links[0]!, 0), bandwidth_upload: 250_000 }, sim.now);
    expect(sim.client.snapshot().links[0]!.pacingBytesPerSec).toBeLessThanOrEqual(250_000);
    // 4 Mbit/s offered for 2 s through a 2 Mbit/s limit: about half is refused at our queue.
    const start = sim.now;
    sim.sendStream("client", 1000, 2, 1000);
    const bytes = sim.captured.filter((d) => d.from === "client" && d.atMs >= start && d.bytes.length > 900).reduce((n, d) => n + d.bytes.length, 0);
    expect(bytes / ((sim.now - start) / 1000)).toBeLessThan(250_000 * 1.1);
    expect(sim.client.links[0]!.status).toBe(LinkStatus.AuthOk);
  });
});
