/**
 * Hostile input on the receive path: replays of every captured datagram (from the original and
 * from another address) and 100 000 random or mutated datagrams. Nothing may throw, and no
 * protocol state may move: only drop counters.
 */
import { describe, expect, test } from "bun:test";
import type { Tunnel } from "../../src/core/tunnel.ts";
import { SeededRandom, SimPair, type Side } from "./simnet.ts";

/** Everything an attacker must not be able to change. */
function snapshot(t: Tunnel, delivered: number, events: number) {
  return {
    delivered,
    events,
    peerInstance: t.peerInstance,
    eligible: [...t.eligibleLinks],
    reorder: t.reorder ? { next: t.reorder.nextExpected, held: t.reorder.stats.held } : undefined,
    links: t.links.map((l) => ({
      status: l.status,
      peer: l.peer ? `${l.peer.address}:${l.peer.port}` : undefined,
      current: l.current?.localIndex,
      currentRecvHighest: l.current?.replay.highest,
      previous: l.previous?.localIndex,
      next: l.next?.localIndex,
      initSent: l.handshake.localIndex,
      lastRecvMs: l.lastRecvMs,
      recvPackets: l.counters.recvPackets,
      rtt: l.rtt.samples,
    })),
  };
}

function establishedPair(): SimPair {
  const sim = new SimPair({ links: [{}, {}], reorderBufferSize: 32, seed: 17 });
  sim.run(200);
  // Traffic both ways, and a rekey, so that every message type has been seen on the wire.
  sim.sendStream("client", 200, 5);
  sim.sendStream("server", 200, 5);
  sim.run(125_000);
  sim.sendStream("client", 50, 5, 300, 1000);
  sim.run(sim.now + 100);
  return sim;
}

const snap = (sim: SimPair, side: Side) => snapshot(side === "client" ? sim.client : sim.server, sim.rec[side].delivered.length, sim.rec[side].events.length);

/** Injects a datagram and checks that whatever it provokes is no larger than it; returns how many answers. */
function injectChecked(sim: SimPair, to: Side, link: number, bytes: Uint8Array, src: { address: string; port: number }): number {
  const before = sim.captured.length;
  sim.inject(to, link, bytes, src);
  const answers = sim.captured.slice(before);
  for (const a of answers) expect(a.bytes.length).toBeLessThanOrEqual(bytes.length);
  return answers.length;
}

describe("replay", () => {
  test("every captured datagram replayed, from its source and from elsewhere, is refused and moves nothing", () => {
    const sim = establishedPair();
    const types = new Set(sim.captured.map((d) => d.bytes[0]));
    expect([...types].sort()).toEqual([0x13, 0x21, 0x22, 0x23, 0x24, 0x25]);
    const before = { client: snap(sim, "client"), server: snap(sim, "server") };
    const dropsBefore = sim.client.drops.total() + sim.server.drops.total();
    const elsewhere = { address: "203.0.113.9", port: 6666 };
    let answered = 0;
    const replayed = sim.captured.slice();
    for (const d of replayed) {
      const to: Side = d.from === "client" ? "server" : "client";
      answered += injectChecked(sim, to, d.link, d.bytes, d.src);
      answered += injectChecked(sim, to, d.link, d.bytes, elsewhere);
    }
    expect(snap(sim, "client")).toEqual(before.client);
    expect(snap(sim, "server")).toEqual(before.server);
    // Only HELLOs are answered (statelessly, with a CHALLENGE of the same size); the client
    // drops the CHALLENGEs it did not ask for.
    const hellos = replayed.filter((d) => d.bytes[0] === 0x21).length;
    expect(answered).toBe(2 * hellos);
    expect(sim.client.drops.total() + sim.server.drops.total() - dropsBefore).toBe(2 * replayed.length - answered);
    // And the tunnel still works afterwards.
    sim.sendStream("client", 10, 1, 100, 5000);
    sim.run(sim.now + 100);
    expect(sim.rec.server.delivered.length).toBe(before.server.delivered + 10);
  });
});

describe("fuzz", () => {
  test("100 000 random and mutated datagrams: no throw, no state change", () => {
    const sim = establishedPair();
    const rnd = new SeededRandom(20261126);
    const before = { client: snap(sim, "client"), server: snap(sim, "server") };
    const samples = sim.captured.map((d) => d.bytes);
    const sources = [{ address: "192.168.1.2", port: 40000 }, { address: "198.51.100.1", port: 5080 }, { address: "203.0.113.5", port: 1 }, { address: "::1", port: 9 }];
    let answered = 0;
    for (let i = 0; i < 100_000; i++) {
      let bytes: Uint8Array;
      const kind = rnd.next() % 4;
      if (kind === 0) {
        bytes = new Uint8Array(rnd.next() % 1600);
        rnd.fill(bytes);
      } else {
        const base = samples[rnd.next() % samples.length]!;
        bytes = base.slice();
        if (kind === 1) {
          // flip 1–4 bits anywhere
          for (let k = 0; k <= rnd.next() % 4; k++) bytes[rnd.next() % bytes.length]! ^= 1 << (rnd.next() % 8);
        } else if (kind === 2) {
          bytes = bytes.subarray(0, rnd.next() % bytes.length); // truncated
        } else {
          // valid-looking header, random body; or a type byte swapped
          bytes[0] = [0x21, 0x22, 0x23, 0x24, 0x25, 0x13, 0x14, 0x00, 0xff][rnd.next() % 9]!;
          if (bytes.length > 20) rnd.fill(bytes.subarray(16 + (rnd.next() % 4)));
        }
      }
      const to: Side = rnd.next() % 2 === 0 ? "client" : "server";
      answered += injectChecked(sim, to, rnd.next() % 3, bytes, sources[rnd.next() % sources.length]!);
    }
    expect(snap(sim, "client")).toEqual(before.client);
    expect(snap(sim, "server")).toEqual(before.server);
    // Every datagram was dropped, but for the HELLOs answered statelessly (no larger than them).
    expect(sim.client.drops.total() + sim.server.drops.total() + answered).toBeGreaterThanOrEqual(100_000);
    expect(answered).toBeLessThan(1000);
  }, 120_000);
});
