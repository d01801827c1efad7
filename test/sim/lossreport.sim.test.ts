/**
 * Loss reports (src/core/lossreport.ts) through the whole tunnel: a data packet lost on the
 * slower of two links is reported on the faster one, and sent again before the slower link's
 * own acknowledgement could have come back. Links of 5 and 80 ms one way, both rate-limited so
 * that a stream uses both; the reorder buffer at the guide's 64.
 */
import { describe, expect, test } from "bun:test";
import { LinkStatus } from "../../src/core/link.ts";
import { type Datagram, numberedPacket, packetId, SimPair } from "./simnet.ts";

const FAST_MS = 5;
const SLOW_MS = 80;
/** A PACKET_BYTES packet every GAP_MS: 4 Mbit/s over two 3 Mbit/s links, so both carry data. */
const PACKET_BYTES = 1000;
const GAP_MS = 2;
const COUNT = 600;

function pair(): SimPair {
  const path = (delayMs: number) => ({ delayMs, rateMbit: 3, queueMs: 200 });
  return new SimPair({ links: [{ up: path(FAST_MS), down: path(FAST_MS) }, { up: path(SLOW_MS), down: path(SLOW_MS) }], reorderBufferSize: 64 });
}

/** Runs the stream, dropping the first data datagrams the client sends on link 1 from `dropFromMs` on; when each was dropped. */
function streamWithLosses(sim: SimPair, dropFromMs: number, drops: number): number[] {
  const droppedAt: number[] = [];
  sim.filter = (d: Datagram) => {
    if (d.from !== "client" || d.link !== 1 || d.bytes.length < PACKET_BYTES || d.atMs < dropFromMs || droppedAt.length >= drops) return true;
    droppedAt.push(d.atMs);
    return false;
  };
  for (let i = 0; i < COUNT; i++) {
    sim.client.handleTunPacket(numberedPacket(i, PACKET_BYTES), sim.now);
    sim.run(sim.now + GAP_MS);
  }
  sim.run(sim.now + 1000);
  return droppedAt;
}

describe("loss reports", () => {
  test("a packet lost on the slower link is sent again within a short round trip of the next one's arrival, and nothing is skipped", () => {
    const sim = pair();
    sim.run(3000);
    expect(sim.client.links.map((l) => l.status)).toEqual([LinkStatus.AuthOk, LinkStatus.AuthOk]);
    const start = sim.now;
    const droppedAt = streamWithLosses(sim, start + 500, 3);
    expect(droppedAt.length).toBe(3);
    const ids = sim.rec.server.delivered.map(packetId);
    // Everything arrived, in order: each hole waited for its resend.
    expect(ids).toEqual([...Array(COUNT).keys()]);
    expect(sim.server.reorder!.stats.holesSkipped).toBe(0);
    // The resend followed the report on the fast link: the loss is seen when the slower link's
    // next packet arrives (dropped + 80 ms + its queue), reported in 5 ms and sent again in 5 ms
    // more. The slower link's own acknowledgement could not be back before dropped + 160 ms, and
    // a resend it caused would arrive later still. (Without the reports, the holes are given up.)
    const resends = sim.client.links[1]!.sender.lostPackets;
    expect(resends).toBeGreaterThanOrEqual(3);
    // The stream hands packet i to the tunnel at start + i × GAP_MS and the pacer sends it at
    // once, so the datagram dropped at t carried packet (t − start) / GAP_MS.
    const lateness = droppedAt.map((t) => sim.rec.server.deliveredAt[ids.indexOf(Math.round((t - start) / GAP_MS))]! - t);
    for (const late of lateness) expect(late).toBeLessThan(2 * SLOW_MS);
  });

  test("the report is taken for its losses only: no RTT sample of the other path", () => {
    const sim = pair();
    sim.run(3000);
    streamWithLosses(sim, sim.now + 500, 3);
    // An acknowledgement of the 60 ms link carried on the 10 ms link would have given RTT samples
    // near 70 ms; the link's minimum RTT stays its own (the rate limit adds ~3 ms per packet to
    // data; a keepalive's sample, from clocks in whole ms, may read up to 1 ms under the path's).
    expect(sim.client.links[1]!.rtt.min).toBeGreaterThanOrEqual(2 * SLOW_MS - 1);
    expect(sim.client.links[1]!.sender.estimator.minRttMs).toBeGreaterThanOrEqual(2 * SLOW_MS);
  });
});
