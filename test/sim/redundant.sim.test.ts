/**
 * Redundant mode on a simulated pair (src/core/redundant.ts): matching packets go as copies on
 * the best links, the receiver delivers each once, nothing counts a copy as lost, the reorder
 * buffer never waits for one, a blackholed link costs a matching stream nothing (and costs it
 * packets without redundant mode), traffic that does not match is neither copied nor delayed.
 */
import { describe, expect, test } from "bun:test";
import { compileRedundant } from "../../src/core/redundant.ts";
import { type LinkSpec, numberedPacket, packetId, SimPair } from "./simnet.ts";

const rules = (expression: string | undefined, copies = 2) => compileRedundant({ redundant: expression, redundant_copies: copies, tuntap: "tun" });

/** A VoIP-like packet (UDP, 200 bytes) and a bulk one (TCP, 1200 bytes), numbered. */
const voip = (id: number) => numberedPacket(id, 200);
function bulk(id: number): Uint8Array {
  const p = numberedPacket(id, 1200);
  p[9] = 6;
  return p;
}
const isVoip = (p: Uint8Array) => p.length === 200;

interface Run {
  sim: SimPair;
  /** Per VoIP id: virtual ms from sending to delivery (undefined: never delivered). */
  voipDelay: (number | undefined)[];
  voipDeliveries: number;
  bulkIds: number[];
}

/**
 * Client → server: `seconds` of VoIP at 50 packets/s beside `bulkPerTick` bulk packets every
 * 20 ms; link `cutLink` (if any) is blackholed both ways from `cutAtMs` for `cutMs` after start.
 */
function stream(links: LinkSpec[], o: { redundant?: string; copies?: number; seconds: number; bulkPerTick?: number; cutLink?: number; cutAtMs?: number; cutMs?: number; reorder?: number }): Run {
  const sim = new SimPair({ links: links.map((l) => ({ ...l })), reorderBufferSize: o.reorder ?? 64 });
  sim.run(1000);
  sim.client.redundancy.setRules(rules(o.redundant, o.copies));
  const t0 = sim.now;
  const sentAt: number[] = [];
  const ticks = o.seconds * 50;
  let bulkId = 0;
  for (let i = 0; i < ticks; i++) {
    const at = sim.now - t0;
    if (o.cutLink !== undefined) {
      const cut = at >= (o.cutAtMs ?? 0) && at < (o.cutAtMs ?? 0) + (o.cutMs ?? 0);
      const spec = sim.links[o.cutLink]!;
      spec.up = { ...(spec.up ?? { delayMs: 10 }), cut };
      spec.down = { ...(spec.down ?? { delayMs: 10 }), cut };
    }
    sentAt[i] = sim.now;
    sim.client.handleTunPacket(voip(i), sim.now);
    for (let k = 0; k < (o.bulkPerTick ?? 0); k++) sim.client.handleTunPacket(bulk(bulkId++), sim.now);
    sim.run(sim.now + 20);
  }
  sim.run(sim.now + 2000);
  const voipDelay: (number | undefined)[] = new Array(ticks).fill(undefined);
  let voipDeliveries = 0;
  const bulkIds: number[] = [];
  const rec = sim.rec.server;
  rec.delivered.forEach((p, i) => {
    if (!isVoip(p)) return bulkIds.push(packetId(p));
    voipDeliveries++;
    const id = packetId(p);
    voipDelay[id] ??= rec.deliveredAt[i]! - sentAt[id]!;
  });
  return { sim, voipDelay, voipDeliveries, bulkIds };
}

const lost = (r: Run) => r.voipDelay.filter((d) => d === undefined).length;
const maxDelay = (r: Run) => Math.max(...r.voipDelay.map((d) => d ?? Number.POSITIVE_INFINITY));

const TWO: LinkSpec[] = [
  { name: "fast", up: { delayMs: 10, rateMbit: 20 }, down: { delayMs: 10 } },
  { name: "slow", up: { delayMs: 30, rateMbit: 20 }, down: { delayMs: 30 } },
];

describe("redundant mode: copies", () => {
  test("each matching packet goes on both links, is delivered once, and no copy counts as lost", () => {
    const r = stream(TWO, { redundant: "udp", seconds: 4, reorder: 64 });
    expect(lost(r)).toBe(0);
    expect(r.voipDeliveries).toBe(200);
    const client = r.sim.client.snapshot();
    const server = r.sim.server.snapshot();
    expect(client.redundant).toMatchObject({ packets: 200, copiesSent: 400, overShare: 0 });
    expect(server.redundant).toMatchObject({ delivered: 200, duplicatesDropped: 200 });
    // Both copies were acknowledged: no link found anything lost, nothing was resent.
    expect(client.links.map((l) => l.sentLost)).toEqual([0, 0]);
    // The copies never entered the reorder buffer: nothing held, skipped or duplicated there.
    expect(server.reorder).toMatchObject({ delivered: 0, duplicates: 0, holesSkipped: 0 });
    expect(server.drops).toEqual({});
  });

  test("the copies go on the links where they arrive first; never more copies than links", () => {
    const three: LinkSpec[] = [
      { name: "a", up: { delayMs: 5 }, down: { delayMs: 5 } },
      { name: "b", up: { delayMs: 40 }, down: { delayMs: 40 } },
      { name: "c", up: { delayMs: 15 }, down: { delayMs: 15 } },
    ];
    const two = stream(three, { redundant: "udp", copies: 2, seconds: 1 });
    // A copy of a 200-byte packet: header 16 + prefix 8 + 200 + tag 16 bytes.
    const copiesOn = (r: Run) => [0, 1, 2].map((link) => r.sim.captured.filter((d) => d.from === "client" && d.link === link && d.bytes.length === 240).length);
    expect(copiesOn(two)).toEqual([50, 0, 50]);
    expect(two.sim.client.snapshot().redundant?.copiesSent).toBe(100);

    const all = stream(three, { redundant: "udp", copies: 5, seconds: 1 });
    expect(all.sim.client.snapshot().redundant).toMatchObject({ packets: 50, copiesSent: 150 });
    expect(copiesOn(all)).toEqual([50, 50, 50]);
    expect(all.sim.server.snapshot().redundant).toMatchObject({ delivered: 50, duplicatesDropped: 100 });
    expect(lost(all)).toBe(0);
  });

  test("traffic that does not match is neither copied nor held behind the copies", () => {
    const r = stream(TWO, { redundant: "udp", seconds: 3, bulkPerTick: 4 });
    // Every bulk packet delivered exactly once, in order (the reorder buffer evens out the links).
    expect(r.bulkIds.length).toBe(600);
    expect(new Set(r.bulkIds).size).toBe(600);
    const server = r.sim.server.snapshot();
    expect(server.redundant?.delivered).toBe(150);
    expect(server.reorder?.duplicates).toBe(0);
    // Bulk datagrams on the wire: one per packet (no copies, and no loss to resend).
    const bulkDatagrams = r.sim.captured.filter((d) => d.from === "client" && d.bytes.length > 1200 && d.bytes.length < 1300).length;
    expect(bulkDatagrams).toBe(600);
    // The VoIP stream keeps the fast link's delay while bulk fills the queues (+ its wait at the modem).
    expect(lost(r)).toBe(0);
    expect(maxDelay(r)).toBeLessThan(10 + 20);
  });
});

describe("redundant mode: a link blackholed for 5 s", () => {
  // The faster link dies: without copies, what it carried until the cut was noticed is lost.
  const cut = { seconds: 9, bulkPerTick: 2, cutLink: 0, cutAtMs: 2000, cutMs: 5000 };

  test("with redundant: not one matching packet lost, none later than the slower link's delay + 20 ms", () => {
    const r = stream(TWO, { ...cut, redundant: "udp" });
    expect(lost(r)).toBe(0);
    expect(r.voipDeliveries).toBe(450);
    expect(maxDelay(r)).toBeLessThanOrEqual(30 + 20);
    // Copies went on the dead link until it stalled, on the other alone during the stall, and
    // on both again once the dead link answered.
    const c = r.sim.client.snapshot().redundant!;
    expect(c.packets).toBe(450);
    expect(c.copiesSent).toBeGreaterThan(450 + 150);
    expect(c.copiesSent).toBeLessThan(900 - 200);
  });

  test("every link stalled: the copies still go out, on the stalled links", () => {
    const sim = new SimPair({ links: TWO.map((l) => ({ ...l })) });
    sim.run(1000);
    sim.client.redundancy.setRules(rules("udp"));
    const cut = (on: boolean) => sim.links.forEach((l) => ((l.up = { ...l.up!, cut: on }), (l.down = { ...l.down!, cut: on })));
    cut(true);
    sim.sendStream("client", 50, 20, 200);
    cut(false);
    expect(sim.client.snapshot().links.map((l) => l.stalled)).toEqual([true, true]);
    const before = sim.client.snapshot().redundant!.copiesSent;
    sim.client.handleTunPacket(numberedPacket(999, 200), sim.now);
    expect(sim.client.snapshot().redundant!.copiesSent).toBe(before + 2);
    sim.run(sim.now + 200);
    expect(sim.rec.server.delivered.map(packetId)).toContain(999);
  });

  test("with redundant, a link that goes down takes no copies until it is back; still nothing lost", () => {
    const short = TWO.map((l) => ({ ...l, timeout: 2 }));
    const r = stream(short, { ...cut, redundant: "udp" });
    expect(lost(r)).toBe(0);
    expect(maxDelay(r)).toBeLessThanOrEqual(30 + 20);
    const c = r.sim.client.snapshot().redundant!;
    // Down after 2 s of the 5 s cut, up again within about a second of its end.
    expect(c.copiesSent).toBeLessThan(900 - 50 * 2);
    expect(c.copiesSent).toBeGreaterThan(450 + 50 * 2);
  });

  test("without redundant: the same stream loses packets (the comparison)", () => {
    const r = stream(TWO, { ...cut });
    expect(lost(r)).toBeGreaterThan(0);
    expect(r.sim.client.snapshot().redundant?.packets).toBe(0);
  });
});

describe("redundant mode: limits and restarts", () => {
  test("beyond the capacity share, matching packets go the normal way, still delivered once", () => {
    const sim = new SimPair({ links: TWO.map((l) => ({ ...l })), reorderBufferSize: 64 });
    sim.run(1000);
    sim.client.redundancy.setRules(rules("udp"));
    // 1200-byte UDP packets at 40 Mbit/s of copies: far over 25 % of 2 × 20 Mbit/s.
    for (let i = 0; i < 400; i++) {
      sim.client.handleTunPacket(numberedPacket(i, 1200), sim.now);
      sim.run(sim.now + 0.5);
    }
    sim.run(sim.now + 2000);
    const c = sim.client.snapshot().redundant!;
    expect(c.overShare).toBeGreaterThan(0);
    expect(c.packets + c.overShare).toBe(400);
    const ids = sim.rec.server.delivered.map(packetId);
    expect(new Set(ids).size).toBe(ids.length);
    // What the share refused was queued like any packet (and may meet the queue limit, like any).
    expect(ids.length).toBeGreaterThanOrEqual(c.packets);
  });

  test("a restarted peer's sequence (from 0 again) is not taken for duplicates", () => {
    const sim = new SimPair({ links: TWO.map((l) => ({ ...l })) });
    sim.run(1000);
    sim.client.redundancy.setRules(rules("udp"));
    sim.sendStream("client", 20, 20, 200);
    expect(sim.server.snapshot().redundant?.delivered).toBe(20);
    sim.restart("client", 99);
    sim.run(sim.now + 5000);
    sim.client.redundancy.setRules(rules("udp"));
    sim.sendStream("client", 20, 20, 200, 1000);
    sim.run(sim.now + 500);
    const ids = sim.rec.server.delivered.map(packetId).filter((id) => id >= 1000);
    expect(ids.length).toBe(20);
    expect(sim.server.snapshot().redundant?.delivered).toBe(40);
  });

  test("a reload to no expression stops the copies at the next packet", () => {
    const sim = new SimPair({ links: TWO.map((l) => ({ ...l })) });
    sim.run(1000);
    sim.client.redundancy.setRules(rules("udp"));
    sim.sendStream("client", 10, 20, 200);
    sim.client.redundancy.setRules(rules(undefined));
    sim.sendStream("client", 10, 20, 200, 100);
    sim.run(sim.now + 500);
    expect(sim.client.snapshot().redundant).toMatchObject({ packets: 10, copiesSent: 20 });
    expect(sim.rec.server.delivered.length).toBe(20);
  });
});
