/**
 * A handshake relayed between links, with the server's source port forged (docs/protocol.md
 * "Threat model"): the attacker sees every HELLO, INIT and CONFIRM the client sends on link 0,
 * sends each at once to the server's link 1 port from its own address, and hands the server's
 * answers (CHALLENGE, RESP) back to the client's link 0 as if they came from the server's link 0
 * port — before the real answers arrive. And an attacker holding a cookie of its own sends an
 * INIT to a link while the real client's handshake there is pending; and CHALLENGEs forged from
 * a seen HELLO (random cookie and salt, the server's source port) that reach the client first.
 *
 * Asserted, through both links' rekeys under traffic both ways: no session ever pairs a client
 * link with another server link; every link keeps delivering in every 100 ms step; both links
 * rekey on time (both sides' keepalives, 1 s apart, arrive in every 1.5 s window on every link);
 * the pending session of the real client is never replaced.
 */
import { describe, expect, test } from "bun:test";
import type { Session } from "../../src/core/session.ts";
import type { Tunnel } from "../../src/core/tunnel.ts";
import { type Datagram, serverAddr, SimPair } from "./simnet.ts";

const T = { HELLO: 0x21, CHALLENGE: 0x22, INIT: 0x23, RESP: 0x24, CONFIRM: 0x25 } as const;
const ATTACKER = { address: "203.0.113.66", port: 6666 };

function indices(t: Tunnel, link: number): number[] {
  const l = t.links[link]!;
  return [l.current, l.previous, l.next].filter((s): s is Session => s !== undefined).map((s) => s.localIndex);
}

/** A session of `side`'s link whose other end is a session of the other side's *other* link. */
function crossPaired(sim: SimPair): string | undefined {
  for (const [side, t, other] of [["client", sim.client, sim.server], ["server", sim.server, sim.client]] as const) {
    for (const l of t.links) {
      const s = l.current;
      if (!s) continue;
      for (const o of other.links) if (o.index !== l.index && indices(other, o.index).includes(s.remoteIndex)) return `${side} link ${l.index} is paired with link ${o.index} at ${sim.now} ms`;
    }
  }
  return undefined;
}

describe("a handshake relayed to another link's port, answers with a forged source port", () => {
  test("no session pairs two links, no link stops delivering, both links rekey", () => {
    const sim = new SimPair({ links: [{}, {}], seed: 17 });
    sim.run(1000);
    const relay: Datagram[] = [];
    let active = false;
    sim.filter = (d) => {
      if (active && d.from === "client" && d.link === 0 && (d.bytes[0] === T.HELLO || d.bytes[0] === T.INIT || d.bytes[0] === T.CONFIRM)) relay.push(d);
      return true;
    };
    let relayed = 0;
    let forged = 0;
    const attack = () => {
      // Bounded: a handshake is a few messages; the client sends nothing else the attacker takes.
      for (let i = 0; i < 100 && relay.length > 0; i++) {
        const d = relay.shift()!;
        const n = sim.captured.length;
        sim.inject("server", 1, d.bytes, ATTACKER);
        relayed++;
        for (const a of sim.captured.slice(n)) {
          if (a.from !== "server" || (a.bytes[0] !== T.CHALLENGE && a.bytes[0] !== T.RESP)) continue;
          sim.inject("client", 0, a.bytes, serverAddr(0));
          forged++;
        }
      }
    };
    active = true;
    const received = { client: [0, 0], server: [0, 0] };
    let gaps = 0;
    let firstCross: string | undefined;
    while (sim.now < 200_000) {
      for (let i = 0; i < 15; i++) {
        sim.client.handleTunPacket(new Uint8Array(1000).fill(0x45, 0, 1), sim.now);
        sim.server.handleTunPacket(new Uint8Array(1000).fill(0x45, 0, 1), sim.now);
        for (let ms = 0; ms < 10; ms++) {
          sim.run(sim.now + 1);
          attack();
          firstCross ??= crossPaired(sim);
        }
      }
      // Every link, in each direction, received something authentic in these 1.5 s.
      for (const side of ["client", "server"] as const) {
        const t = side === "client" ? sim.client : sim.server;
        for (const l of [0, 1]) {
          const now = t.links[l]!.counters.recvPackets;
          if (sim.now > 2000 && now === received[side][l]) gaps++;
          received[side][l] = now;
        }
      }
    }
    expect(relayed).toBeGreaterThan(0);
    expect(forged).toBeGreaterThan(0);
    expect(firstCross).toBeUndefined();
    expect(gaps).toBe(0);
    // Both links rekeyed (every 120 s) with the right server link, despite the relay.
    for (const l of [0, 1]) {
      const s = sim.client.links[l]!.current!;
      expect(s.createdMs).toBeGreaterThan(120_000);
      expect(sim.server.links[l]!.current!.remoteIndex).toBe(s.localIndex);
    }
  }, 120_000);
});

describe("an INIT from an attacker with its own cookie, while the real client's handshake is pending", () => {
  test("the real client's session is confirmed all the same", () => {
    const sim = new SimPair({ links: [{}], seed: 23 });
    sim.run(1000);
    const first = sim.client.links[0]!.current!.localIndex;
    // The attacker gets a cookie of its own for link 0 (it receives the server's answers).
    let injectAfterInit = false;
    sim.filter = (d) => {
      if (d.from === "client" && d.bytes[0] === T.INIT && d.atMs > 100_000) injectAfterInit = true;
      return true;
    };
    while (!injectAfterInit && sim.now < 130_000) sim.run(sim.now + 1);
    expect(injectAfterInit).toBe(true);
    // The client's INIT is on its way (10 ms): the attacker's HELLO and INIT reach the server first.
    const hello = new Uint8Array(64);
    hello[0] = T.HELLO;
    hello[1] = 2;
    hello.fill(7, 4, 20);
    let n = sim.captured.length;
    sim.inject("server", 0, hello, ATTACKER);
    const challenge = sim.captured.slice(n).find((d) => d.bytes[0] === T.CHALLENGE)!;
    const init = new Uint8Array(72);
    init[0] = T.INIT;
    init.set(challenge.bytes.subarray(4, 20), 8);
    init.set(challenge.bytes.subarray(20, 36), 24);
    init.fill(9, 40, 72);
    init[4] = 1;
    // After the real INIT reached the server (its session pending), the attacker's INIT arrives.
    sim.run(sim.now + 11);
    n = sim.captured.length;
    sim.inject("server", 0, init, ATTACKER);
    expect(sim.captured.slice(n).some((d) => d.bytes[0] === T.RESP)).toBe(true); // answered: curve work, a pending session
    sim.run(sim.now + 100);
    const s = sim.client.links[0]!.current!;
    expect(s.localIndex).not.toBe(first);
    expect(sim.server.links[0]!.current!.remoteIndex).toBe(s.localIndex);
    expect(sim.server.drops.get("unknown-session")).toBe(0);
  }, 60_000);
});

describe("CHALLENGEs forged from a seen HELLO, arriving before the real one", () => {
  test("the rekey completes with the real CHALLENGE (no 5 s wait), and the password is stretched once for all the forged salts", () => {
    const sim = new SimPair({ links: [{}], seed: 29 });
    sim.run(1000);
    let hello: Datagram | undefined;
    sim.filter = (d) => {
      if (!hello && d.from === "client" && d.bytes[0] === T.HELLO && d.atMs > 100_000) hello = d;
      return true;
    };
    while (!hello && sim.now < 130_000) sim.run(sim.now + 1);
    expect(hello).toBeDefined();
    const stretches = sim.crypto.client.stretches;
    for (let i = 0; i < 10; i++) {
      const forged = new Uint8Array(64);
      forged[0] = T.CHALLENGE;
      forged[1] = 2;
      forged.set(hello!.bytes.subarray(4, 20), 4);
      forged.fill(i + 1, 20, 52); // cookie and salt of its own
      sim.inject("client", 0, forged, serverAddr(0));
    }
    // The real CHALLENGE arrives 20 ms after the HELLO left, its RESP 20 ms after our INIT.
    sim.run(hello!.atMs + 200);
    const s = sim.client.links[0]!.current!;
    expect(s.createdMs).toBeGreaterThan(hello!.atMs);
    expect(sim.server.links[0]!.current!.remoteIndex).toBe(s.localIndex);
    expect(sim.crypto.client.stretches - stretches).toBe(1);
  }, 60_000);
});
