/**
 * An on-path attacker that captures every datagram, keeps some originals from arriving (a
 * flooded socket does that), and replays everything it captured, from its own address, to every
 * port of the other end, around a rekey and during a transfer in both directions; then a link
 * goes down under the same attack. The lab found this (test/e2e/security.e2e.test.ts, replay
 * under transfer): both ends' peers ended up pointing at the attacker's socket, nothing arrived
 * any more, and the client kept handshaking towards the attacker (docs/protocol.md "Threat model").
 *
 * Asserted: no link of either end points at the attacker for more than a bounded time, the
 * tunnel keeps delivering in both directions through the attack, and everything is up and
 * delivering after it and after a link-down.
 */
import { describe, expect, test } from "bun:test";
import type { PeerAddress } from "../../src/core/link.ts";
import { type Datagram, packetId, numberedPacket, SeededRandom, SimPair, type Side } from "./simnet.ts";

const attacker = (link: number): PeerAddress => ({ address: "203.0.113.66", port: 7000 + link });
const isAttacker = (p: PeerAddress | undefined): boolean => p?.address === "203.0.113.66";

/** The attack: state kept between steps of the simulation. */
class Attacker {
  /** Originals kept from arriving, replayed (from the attacker's address) at the next step. */
  private held: Datagram[] = [];
  private seen = 0;
  private readonly rnd = new SeededRandom(4242);
  active = false;

  constructor(private readonly sim: SimPair, private readonly dropEvery: number) {
    sim.filter = (d) => {
      if (!this.active || d.bytes[0] !== 0x13 && d.bytes[0] !== 0x24) return true;
      // Transport packets and CONFIRMs: one in `dropEvery` never arrives, but the attacker has it.
      if (this.rnd.next() % this.dropEvery !== 0) return true;
      this.held.push(d);
      return false;
    };
  }

  private cut(d: Datagram): boolean {
    const spec = this.sim.links[d.link]!;
    return (d.from === "client" ? spec.up : spec.down)?.cut === true;
  }

  /** Replays what was held back, everything captured since the last step, and a few old datagrams (of earlier sessions), to every port. */
  step(): void {
    const sim = this.sim;
    if (!this.active) {
      this.seen = sim.captured.length;
      return;
    }
    // A cut link carries nothing, for the attacker either (else it relays the link's traffic).
    const fresh = sim.captured.slice(this.seen).filter((d) => !this.cut(d));
    this.seen = sim.captured.length;
    const old: Datagram[] = [];
    for (let i = 0; i < 8 && sim.captured.length > 0; i++) {
      const d = sim.captured[this.rnd.next() % sim.captured.length]!;
      if (!this.cut(d)) old.push(d);
    }
    const held = this.held;
    this.held = [];
    for (const d of [...held.filter((d) => !this.cut(d)), ...fresh, ...old]) {
      const to: Side = d.from === "client" ? "server" : "client";
      for (let link = 0; link < sim.links.length; link++) sim.inject(to, link, d.bytes, attacker(link));
    }
  }
}

interface Watch {
  /** Longest time any link of either end pointed at the attacker, ms. */
  longestMs: number;
  worst?: string;
  since: Map<string, number>;
}

function watch(sim: SimPair, w: Watch): void {
  for (const side of ["client", "server"] as const) {
    const t = side === "client" ? sim.client : sim.server;
    for (const l of t.links) {
      const key = `${side}${l.index}`;
      if (isAttacker(l.peer)) {
        if (!w.since.has(key)) w.since.set(key, sim.now);
        if (sim.now - w.since.get(key)! > w.longestMs) w.worst = `${key} since ${w.since.get(key)} until ${sim.now}`;
        w.longestMs = Math.max(w.longestMs, sim.now - w.since.get(key)!);
      } else w.since.delete(key);
    }
  }
}

/** Both ends send a numbered packet every `gapMs` until `untilMs`, the attacker acting after each step. */
function transfer(sim: SimPair, atk: Attacker, w: Watch, untilMs: number, gapMs: number, ids: { next: number }): void {
  while (sim.now < untilMs) {
    const id = ids.next++;
    sim.client.handleTunPacket(numberedPacket(id, 600), sim.now);
    sim.server.handleTunPacket(numberedPacket(id, 600), sim.now);
    sim.run(sim.now + gapMs);
    atk.step();
    watch(sim, w);
  }
}

/** Packets delivered per second over [fromMs, toMs), per end. */
function perSecond(sim: SimPair, side: Side, fromMs: number, toMs: number): number[] {
  const out: number[] = [];
  for (let s = fromMs; s < toMs; s += 1000) out.push(sim.rec[side].deliveredAt.filter((t) => t >= s && t < s + 1000).length);
  return out;
}

const movedLines = (sim: SimPair, side: Side) => sim.rec[side].logs.filter((l) => l.includes("peer moved")).length;

describe("replays from the attacker's address around a rekey, during a transfer", () => {
  test("no link follows the attacker while the client is there, the tunnel keeps delivering, and recovers after a link-down", () => {
    const sim = new SimPair({ links: [{ timeout: 5 }, { timeout: 5 }], reorderBufferSize: 32, seed: 9 });
    // The attacker's copies arrive before the originals (it is nearer than the 10 ms path), and
    // one transport packet or CONFIRM in six reaches it only.
    const atk = new Attacker(sim, 6);
    const ids = { next: 0 };
    sim.run(110_000);
    expect(sim.client.links.every((l) => l.isUp)).toBe(true);

    // 110–135 s: the client rekeys every link at ~120 s.
    atk.active = true;
    const rekeyPhase: Watch = { longestMs: 0, since: new Map() };
    const startedMs = sim.now;
    const rekeyed = sim.client.links.map((l) => l.current!.localIndex);
    transfer(sim, atk, rekeyPhase, 135_000, 5, ids);
    expect(sim.client.links.map((l) => l.current?.localIndex)).not.toEqual(rekeyed);
    // The client's address never went silent: no link of either end ever pointed at the attacker.
    expect(rekeyPhase.longestMs).toBe(0);
    expect(movedLines(sim, "server")).toBe(0);
    // One packet every 5 ms each way: ~200 per second offered, every second delivers most of it.
    for (const side of ["client", "server"] as const) for (const r of perSecond(sim, side, startedMs, sim.now)) expect(r).toBeGreaterThan(150);

    // Still under attack: link 0 is cut for longer than its timeout (5 s), goes down, and comes back.
    const downPhase: Watch = { longestMs: 0, since: new Map() };
    sim.links[0]!.up = { delayMs: 10, cut: true };
    sim.links[0]!.down = { delayMs: 10, cut: true };
    transfer(sim, atk, downPhase, sim.now + 8000, 20, ids);
    expect(sim.client.links[0]!.isUp).toBe(false);
    sim.links[0]!.up = { delayMs: 10 };
    sim.links[0]!.down = { delayMs: 10 };
    const restoredMs = sim.now;
    transfer(sim, atk, downPhase, sim.now + 10_000, 20, ids);
    expect(sim.client.links.map((l) => l.isUp)).toEqual([true, true]);
    expect(sim.server.links.map((l) => l.isUp)).toEqual([true, true]);
    const upAgainMs = sim.rec.client.events.filter((e) => e.type === "link-up" && e.link === 0).length;
    expect(upAgainMs).toBeGreaterThan(0);
    for (const side of ["client", "server"] as const) for (const r of perSecond(sim, side, restoredMs + 3000, sim.now)) expect(r).toBeGreaterThan(25);
    // The client never follows anybody: it sends to its server's configured address; and the
    // server took its peer from the INIT of the new handshake, not from a replay.
    expect(movedLines(sim, "client")).toBe(0);
    expect(downPhase.longestMs).toBe(0);

    // After the attack: within a silence period (1 s + max(0.5 s, 2·srtt)) and a tick, no link
    // points at the attacker, and everything sent is delivered, both ways.
    atk.active = false;
    const after: Watch = { longestMs: 0, since: new Map() };
    transfer(sim, atk, after, sim.now + 3000, 10, ids);
    for (const side of ["client", "server"] as const) for (const l of (side === "client" ? sim.client : sim.server).links) expect(isAttacker(l.peer)).toBe(false);
    const from = sim.now;
    const base = ids.next;
    transfer(sim, atk, after, sim.now + 2000, 10, ids);
    sim.run(sim.now + 500);
    for (const side of ["client", "server"] as const) {
      const got = new Set(sim.rec[side].delivered.filter((_, i) => sim.rec[side].deliveredAt[i]! >= from).map(packetId));
      for (let id = base; id < ids.next; id++) expect(got.has(id)).toBe(true);
    }
    console.log(`replay-roam: rekey phase ${rekeyPhase.longestMs} ms at the attacker; link-down phase ${downPhase.longestMs} ms (${downPhase.worst ?? "-"}); server moves ${movedLines(sim, "server")}`);
  }, 120_000);
});
