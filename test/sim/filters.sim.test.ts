/**
 * `[filters]` in the core, on a simulated pair: a matching packet goes on its link while that
 * link is up (whatever the scheduler would have chosen, fallback_only too), the first entry
 * whose link is up wins, a down or stalled link's entry is skipped (its traffic then goes
 * elsewhere), no match is scheduled normally, and a reload replaces the set between packets.
 */
import { describe, expect, test } from "bun:test";
import { compileFilterRules } from "../../src/core/filters.ts";
import type { FilterConfig } from "../../src/config/schema.ts";
import { icmp, ipv4, tcp, udp } from "../helpers/packets.ts";
import { SimPair } from "./simnet.ts";

const rules = (...entries: [string, string][]) =>
  compileFilterRules(
    entries.map(([link, expression], i): FilterConfig => ({ link, expression, normalized: expression, line: i + 1 })),
    "tun",
  );

const SIP = Uint8Array.from(ipv4("10.0.0.2", "10.0.1.1", 17, udp(5060, 5060, 900)));
const SSH = Uint8Array.from(ipv4("10.0.0.2", "10.0.1.1", 6, tcp(40000, 22, 0x18, 700)));
const PING = Uint8Array.from(ipv4("10.0.0.2", "10.0.1.1", 1, icmp(8, 0, 56)));
const BULK = Uint8Array.from(ipv4("10.0.0.2", "10.0.1.1", 17, udp(9999, 9999, 1100)));

/** The links that carried the client's datagrams holding `inner` (the kinds differ in size by more than the overhead). */
function linksOf(sim: SimPair, inner: Uint8Array, fromMs: number): Set<number> {
  const links = new Set<number>();
  for (const d of sim.captured) {
    if (d.from === "client" && d.atMs >= fromMs && d.bytes.length >= inner.length && d.bytes.length < inner.length + 80) links.add(d.link);
  }
  return links;
}

function send(sim: SimPair, packets: Uint8Array[], rounds: number, gapMs = 5): void {
  for (let i = 0; i < rounds; i++) {
    for (const p of packets) sim.client.handleTunPacket(p, sim.now);
    sim.run(sim.now + gapMs);
  }
}

describe("[filters] pin traffic to a link", () => {
  test("matching packets go on their link; the rest is scheduled on the fast link", () => {
    const sim = new SimPair({ links: [{ name: "fast", up: { delayMs: 5 } }, { name: "slow", up: { delayMs: 40 } }] });
    sim.run(500);
    sim.client.setFilters(rules(["slow", "udp port 5060"], ["slow", "tcp port 22 or icmp"]));
    const t0 = sim.now;
    send(sim, [SIP, SSH, BULK], 100);
    expect(linksOf(sim, SIP, t0)).toEqual(new Set([1]));
    expect(linksOf(sim, SSH, t0)).toEqual(new Set([1]));
    expect(linksOf(sim, BULK, t0)).toEqual(new Set([0]));
    expect(sim.client.filterMatches).toEqual([100, 100]);
    // Everything arrived.
    sim.run(sim.now + 500);
    expect(sim.rec.server.delivered.length).toBe(300);
  });

  test("small packets (the express lane) are pinned too", () => {
    const sim = new SimPair({ links: [{ name: "fast", up: { delayMs: 5 } }, { name: "slow", up: { delayMs: 40 } }] });
    sim.run(500);
    sim.client.setFilters(rules(["slow", "icmp"]));
    const before = sim.captured.length;
    send(sim, [PING], 20, 20);
    const pings = sim.captured.slice(before).filter((d) => d.from === "client" && d.bytes.length > PING.length && d.bytes.length < PING.length + 100);
    expect(pings.length).toBe(20);
    expect(new Set(pings.map((d) => d.link))).toEqual(new Set([1]));
  });

  test("a down link's entry is skipped: its traffic goes elsewhere, and back when it returns", () => {
    const sim = new SimPair({ links: [{ name: "a", up: { delayMs: 5 }, timeout: 3 }, { name: "b", up: { delayMs: 10 }, timeout: 3 }] });
    sim.run(500);
    sim.client.setFilters(rules(["b", "udp port 5060"]));
    sim.links[1]!.up = { delayMs: 10, cut: true };
    sim.links[1]!.down = { delayMs: 10, cut: true };
    send(sim, [SIP], 20, 10);
    // The cut is noticed (no acknowledgement: stalled) within a few RTTs; then SIP goes on a.
    const t1 = sim.now;
    send(sim, [SIP], 50, 10);
    expect(linksOf(sim, SIP, t1)).toEqual(new Set([0]));
    // b answers again: SIP goes back to b.
    sim.links[1]!.up = { delayMs: 10 };
    sim.links[1]!.down = { delayMs: 10 };
    sim.run(sim.now + 6000);
    const t2 = sim.now;
    send(sim, [SIP], 50, 10);
    expect(linksOf(sim, SIP, t2)).toEqual(new Set([1]));
  });

  test("first match in file order; a fallback_only link takes its pinned traffic while others are up", () => {
    const sim = new SimPair({ links: [{ name: "main", up: { delayMs: 5 } }, { name: "lte", up: { delayMs: 20 }, fallback_only: true }] });
    sim.run(500);
    sim.client.setFilters(rules(["lte", "udp port 5060"], ["main", "udp"]));
    const t0 = sim.now;
    send(sim, [SIP, BULK], 30);
    expect(linksOf(sim, SIP, t0)).toEqual(new Set([1]));
    expect(linksOf(sim, BULK, t0)).toEqual(new Set([0]));
    expect(sim.client.filterMatches).toEqual([30, 30]);
  });

  test("a reload replaces the set between two packets", () => {
    const sim = new SimPair({ links: [{ name: "fast", up: { delayMs: 5 } }, { name: "slow", up: { delayMs: 40 } }] });
    sim.run(500);
    sim.client.setFilters(rules(["slow", "udp port 5060"]));
    send(sim, [SIP], 10);
    sim.client.setFilters(rules(["fast", "udp port 5060"]));
    const t1 = sim.now;
    send(sim, [SIP], 10);
    expect(linksOf(sim, SIP, t1)).toEqual(new Set([0]));
    sim.client.setFilters(rules());
    expect(sim.client.filterMatches).toEqual([]);
  });

  test("an entry for a link removed by a reload is skipped; a link added later is found", () => {
    const sim = new SimPair({ links: [{ name: "a", up: { delayMs: 5 } }, { name: "b", up: { delayMs: 30 } }] });
    sim.run(500);
    sim.client.setFilters(rules(["c", "udp port 5060"], ["b", "udp port 5060"]));
    let t = sim.now;
    send(sim, [SIP], 10);
    expect(linksOf(sim, SIP, t)).toEqual(new Set([1]));
    const c = sim.addLink({ name: "c", up: { delayMs: 20 } });
    sim.run(sim.now + 500);
    t = sim.now;
    send(sim, [SIP], 10);
    expect(linksOf(sim, SIP, t)).toEqual(new Set([c]));
  });
});
