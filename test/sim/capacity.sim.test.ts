/**
 * Capacity-aware sending on the simulated network (rate-limited links with modem-like queues):
 * estimates without configuration, following a capacity drop, bounded queueing delay under
 * overload, a useless slow link left alone, sub-second failover.
 */
import { describe, expect, test } from "bun:test";
import { TAG_SIZE, TRANSPORT_HEADER_SIZE, TUNNEL_OVERHEAD } from "../../src/wire/layout.ts";
import { numberedPacket, packetId, SimPair } from "./simnet.ts";

const MBIT = 125; // bytes per millisecond in 1 Mbit/s

/** Offers `mbit` Mbit/s of 1000-byte packets from the client for `ms`, returns the ids sent. */
function offer(sim: SimPair, mbit: number, ms: number, startId = 0): { ids: number[]; sentAt: Map<number, number> } {
  const gap = 8 / mbit; // ms between 1000-byte packets
  const ids: number[] = [];
  const sentAt = new Map<number, number>();
  const end = sim.now + ms;
  for (let id = startId; sim.now < end; id++) {
    sim.client.handleTunPacket(numberedPacket(id, 1000), sim.now);
    ids.push(id);
    sentAt.set(id, sim.now);
    sim.run(sim.now + gap);
  }
  return { ids, sentAt };
}

/** Goodput at the server between two times, Mbit/s. */
function goodput(sim: SimPair, fromMs: number, toMs: number): number {
  const rec = sim.rec.server;
  let bytes = 0;
  rec.deliveredAt.forEach((t, i) => {
    if (t >= fromMs && t < toMs) bytes += rec.delivered[i]!.length;
  });
  return (bytes * 8) / 1000 / (toMs - fromMs);
}

/** A pair whose uplinks (client → server) have these rates and one-way delays; 500 ms to come up. */
function shapedPair(uplinks: Array<[rateMbit: number, delayMs: number]>): SimPair {
  const sim = new SimPair({
    links: uplinks.map(([rateMbit, delayMs]) => ({ up: { delayMs, rateMbit }, down: { delayMs } })),
    reorderBufferSize: 256,
  });
  sim.run(500);
  return sim;
}

describe("capacity without configuration", () => {
  test("unequal links (20 + 5 Mbit/s): both estimates converge and the sum is delivered", () => {
    const sim = shapedPair([[20, 10], [5, 10]]);
    const start = sim.now;
    offer(sim, 30, 6000);
    const est = sim.client.links.map((l) => l.sender.estimator.bandwidth / MBIT);
    expect(est[0]).toBeGreaterThan(18);
    expect(est[0]).toBeLessThan(23);
    expect(est[1]).toBeGreaterThan(4.2);
    expect(est[1]).toBeLessThan(6);
    // After the first 2 s: close to 25 Mbit/s of datagrams, i.e. ~24 of payload.
    expect(goodput(sim, start + 2000, start + 6000)).toBeGreaterThan(22);
  });

  test("a capacity drop (20 → 4 Mbit/s) is followed within 2 s", () => {
    const sim = shapedPair([[20, 10], [20, 10]]);
    offer(sim, 45, 3000);
    sim.links[0]!.up = { delayMs: 10, rateMbit: 4 };
    const dropAt = sim.now;
    offer(sim, 45, 4000, 1_000_000);
    expect(sim.client.links[0]!.sender.estimator.bandwidth / MBIT).toBeLessThan(5.5);
    // From 2 s after the drop: at least 85 % of the new sum (24 Mbit/s) of datagrams gets through.
    expect(goodput(sim, dropAt + 2000, dropAt + 4000)).toBeGreaterThan(0.85 * 24 * 0.96);
  });

  test("under overload our queues stay short: latency ≤ idle latency + the queue limit", () => {
    const sim = shapedPair([[10, 10], [10, 10]]);
    const { sentAt } = offer(sim, 40, 4000); // twice what the links carry
    sim.run(sim.now + 500);
    const rec = sim.rec.server;
    const late = rec.delivered
      .map((p, i) => ({ id: packetId(p), at: rec.deliveredAt[i]! }))
      .filter((d) => d.at > 2500) // after startup
      .map((d) => d.at - sentAt.get(d.id)!);
    late.sort((a, b) => a - b);
    const p99 = late[Math.floor(late.length * 0.99)]!;
    // idle one-way 10 ms; the modem queue and ours together stay within a few tens of ms
    expect(p99).toBeLessThan(10 + 45);
    expect(sim.client.drops.get("queue-full")).toBeGreaterThan(0);
  });

  test("under overload small packets (ping, TCP acks, DNS) skip the queues: idle latency, and a flood of them is queued like the rest", () => {
    const sim = shapedPair([[10, 10], [10, 10]]);
    const pingSentAt = new Map<number, number>();
    const gap = 8 / 40; // 40 Mbit/s of 1000-byte packets: twice what the links carry
    const end = sim.now + 4000;
    for (let id = 0, ping = 1_000_000; sim.now < end; id++) {
      sim.client.handleTunPacket(numberedPacket(id, 1000), sim.now);
      if (id % 50 === 0) {
        pingSentAt.set(ping, sim.now);
        sim.client.handleTunPacket(numberedPacket(ping++, 84), sim.now);
      }
      sim.run(sim.now + gap);
    }
    sim.run(sim.now + 500);
    const rec = sim.rec.server;
    const pingDelays: number[] = [];
    const bulkAfterStartup: number[] = [];
    rec.delivered.forEach((p, i) => {
      const id = packetId(p);
      if (pingSentAt.has(id) && rec.deliveredAt[i]! > 2500) pingDelays.push(rec.deliveredAt[i]! - pingSentAt.get(id)!);
      else if (p.length === 1000 && rec.deliveredAt[i]! > 2500) bulkAfterStartup.push(id);
    });
    pingDelays.sort((a, b) => a - b);
    expect(pingDelays.length).toBeGreaterThan(50);
    // Idle one-way delay is 10 ms; the bulk traffic waits up to the queue limit behind.
    // Idle one-way delay is 10 ms; a ping waits only behind the modem's own short queue (our
    // pacing keeps it to about 10 ms), never behind our queues.
    expect(pingDelays[Math.floor(pingDelays.length * 0.99)]!).toBeLessThan(10 + 18);
    expect(rec.delivered.filter((p) => pingSentAt.has(packetId(p))).length).toBe(pingSentAt.size); // none dropped
    // The bulk is still delivered in order.
    expect(bulkAfterStartup).toEqual([...bulkAfterStartup].sort((a, b) => a - b));

    // 10 000 packets/s of 100 bytes (about 13 Mbit/s on the wire, within the 20 of the links):
    // far over the express share (10 % of the capacity), so most take the sequenced path.
    const flood = new SimPair({ links: [{ up: { delayMs: 10, rateMbit: 10 }, down: { delayMs: 10 } }, { up: { delayMs: 10, rateMbit: 10 }, down: { delayMs: 10 } }], reorderBufferSize: 256 });
    flood.run(500);
    for (let id = 0; id < 10_000; id++) {
      flood.client.handleTunPacket(numberedPacket(id, 100), flood.now);
      flood.run(flood.now + 0.1);
    }
    flood.run(flood.now + 500);
    const delivered = flood.rec.server.delivered.length;
    expect(delivered).toBeGreaterThan(9_900);
    // Sequenced packets carry an 8-byte prefix, express ones only their kind byte: count by datagram size.
    const expressSize = TRANSPORT_HEADER_SIZE + 1 + 100 + TAG_SIZE;
    const expressSent = flood.captured.filter((d) => d.from === "client" && d.bytes.length === expressSize).length;
    expect(expressSent).toBeGreaterThan(0);
    expect(expressSent).toBeLessThan(0.3 * 10_000);
  });

  test("both directions saturated (upload and download at once): each end keeps its link's real capacity", () => {
    // 8 Mbit/s each way, 12 Mbit/s offered each way. The acknowledgements of our upload queue
    // behind the peer's download, so RTTs double: judged on RTT, the upload's estimate fell to
    // 1.2 Mbit/s and stayed there. The one-way delay of our own direction does not move.
    const sim = new SimPair({ links: [{ up: { delayMs: 10, rateMbit: 8 }, down: { delayMs: 10, rateMbit: 8 } }], reorderBufferSize: 64 });
    sim.run(500);
    const end = sim.now + 6000;
    for (let id = 0; sim.now < end; id++) {
      sim.client.handleTunPacket(numberedPacket(id, 1000), sim.now);
      sim.server.handleTunPacket(numberedPacket(id, 1000), sim.now);
      sim.run(sim.now + 0.67);
    }
    const client = sim.client.snapshot().links[0]!;
    const server = sim.server.snapshot().links[0]!;
    expect(client.srttMs!).toBeGreaterThan(1.5 * client.minRttMs!); // the queues are there
    for (const l of [client, server]) expect((l.capacityBytesPerSec * 8) / 1e6).toBeGreaterThan(7);
    // Each direction delivers nearly its 8 Mbit/s (1000-byte packets: at most 0.94 of the wire,
    // 7.5 Mbit/s): the in-flight cap makes room for the acknowledgements' wait on the way back.
    const perSecond = (n: number) => (n * 1000 * 8) / 1e6 / 6;
    expect(perSecond(sim.rec.server.delivered.length)).toBeGreaterThan(6.9);
    expect(perSecond(sim.rec.client.delivered.length)).toBeGreaterThan(6.9);
  });

  test("a link that cannot help (much slower and much later) is left unused: never worse than the best link", () => {
    const sim = shapedPair([[20, 10], [1, 300]]);
    sim.run(1000);
    const start = sim.now;
    offer(sim, 10, 3000); // the fast link alone can carry this
    // Data: the offered 1000-byte packets, sealed (the slower link's rate train at link-up, train.ts, is of full-size ones).
    const onSlow = sim.captured.filter((d) => d.from === "client" && d.link === 1 && d.atMs > start && d.bytes.length === 1000 + TUNNEL_OVERHEAD).length;
    expect(onSlow).toBe(0);
    expect(goodput(sim, start + 500, start + 3000)).toBeGreaterThan(9.5);
  });
});

describe("failover", () => {
  test("a blackholed link: traffic moves within a few RTTs, what was in flight is sent again", () => {
    const sim = shapedPair([[20, 10], [20, 10]]);
    const before = offer(sim, 10, 2000);
    sim.links[0]!.up = { delayMs: 10, cut: true };
    sim.links[0]!.down = { delayMs: 10, cut: true };
    const cutAt = sim.now;
    const during = offer(sim, 10, 3000, 100_000);
    sim.run(sim.now + 500);
    const delivered = new Set(sim.rec.server.delivered.map(packetId));
    // Nothing is lost: packets in flight on the dead link were sent again on the other one.
    const settled = before.ids.filter((id) => before.sentAt.get(id)! > 1500);
    expect([...settled, ...during.ids].filter((id) => !delivered.has(id))).toEqual([]);
    expect(sim.client.links[0]!.stalled).toBe(true);
    // The longest pause in deliveries around the cut.
    const times = sim.rec.server.deliveredAt.filter((t) => t > cutAt - 100 && t < cutAt + 2000);
    let gap = 0;
    for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
    expect(gap).toBeLessThan(300);
    // Restored: the link answers its probes and carries data again within 2 s.
    sim.links[0]!.up = { delayMs: 10, rateMbit: 20 };
    sim.links[0]!.down = { delayMs: 10 };
    const restoredAt = sim.now;
    offer(sim, 30, 2000, 200_000);
    const back = sim.captured.find((d) => d.from === "client" && d.link === 0 && d.atMs > restoredAt && d.bytes.length > 1000);
    expect(back).toBeDefined();
    expect(back!.atMs - restoredAt).toBeLessThan(2000);
    expect(sim.client.links[0]!.stalled).toBe(false);
  });
});

describe("status model", () => {
  test("the snapshot exposes each link's estimates and state as plain data", () => {
    const sim = new SimPair({ links: [{ name: "adsl1", up: { delayMs: 10, rateMbit: 8 } }, { name: "lte", up: { delayMs: 20, rateMbit: 8 } }], reorderBufferSize: 64 });
    sim.run(500);
    offer(sim, 12, 2000);
    const snap = sim.client.snapshot();
    expect(snap.links.map((l) => [l.name, l.status, l.scheduled])).toEqual([
      ["adsl1", "connected", true],
      ["lte", "connected", true],
    ]);
    const a = snap.links[0]!;
    expect(a.srttMs).toBeGreaterThan(15);
    expect(a.minRttMs).toBeGreaterThan(15);
    expect(a.capacityBytesPerSec / 125_000).toBeGreaterThan(6);
    expect(a.capacityBytesPerSec / 125_000).toBeLessThan(10);
    expect(a.sentPackets).toBeGreaterThan(500);
    expect(a.stalled).toBe(false);
    expect(snap.reorder?.holdMs).toBeGreaterThan(0);
    // A copy: changing it changes nothing inside.
    a.name = "x";
    expect(sim.client.snapshot().links[0]!.name).toBe("adsl1");
  });
});
