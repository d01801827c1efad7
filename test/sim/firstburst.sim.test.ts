/**
 * A burst sent right after one received the other way, on links that have no RTT sample yet
 * (as in the two-daemon test, where the event loop is busy deriving keys right after the links
 * come up): every packet is delivered, none refused as queue-full.
 *
 * How it went wrong: a link not yet measured stalls at a guessed timeout (sendpath.ts
 * stallTimeoutMs) when its probes go unanswered; hearing the peer unstalls it, but what it has
 * in flight stalls it again at the next timer until an acknowledgement comes. With every
 * candidate stalled, SendPath.schedule took one anyway ("better to try one than to drop
 * everything") but judged it at an infinite wait, so the whole burst was refused as queue-full.
 */
import { expect, test } from "bun:test";
import { packetId, SimPair } from "./simnet.ts";

/** The two-daemon test's packets: IPv4/UDP with 64 bytes of payload (the express lane's size). */
const SMALL = 92;

for (const size of [SMALL, 1000]) {
  test(`no RTT sample yet, links stalled: 100 packets of ${size} bytes one way, then 100 back the moment they arrived`, () => {
    const sim = new SimPair({ links: [{ up: { delayMs: 10 }, down: { delayMs: 10 } }, { up: { delayMs: 10 }, down: { delayMs: 10 } }] });
    // Up to the moment the server's links come up (the client's answer to the server's first
    // keepalive, which gives it an RTT sample at once, is then still to come).
    for (let i = 0; i < 200 && !sim.server.links.every((l) => l.isUp); i++) sim.run(sim.now + 0.5);
    expect(sim.client.links.every((l) => l.isUp) && sim.server.links.every((l) => l.isUp)).toBe(true);
    // Nothing from the client for a while: the server's probes go unanswered, and its links
    // stall before they have any RTT sample.
    sim.filter = (d) => d.from !== "client" || sim.now >= 300;
    sim.run(300);
    for (const l of sim.server.links) {
      expect([l.rtt.samples, l.sender.estimator.minRttMs, l.stalled]).toEqual([0, Number.POSITIVE_INFINITY, true]);
    }
    sim.sendStream("client", 100, 0, size);
    // One-way delay 10 ms: the burst has arrived, no acknowledgement of the server's probes yet.
    sim.run(sim.now + 10.5);
    expect(sim.server.links.every((l) => l.rtt.samples === 0)).toBe(true);
    sim.sendStream("server", 100, 0, size, 1000);
    sim.run(sim.now + 2000);
    expect([sim.client.drops.get("queue-full"), sim.server.drops.get("queue-full")]).toEqual([0, 0]);
    expect(sim.rec.server.delivered.map(packetId)).toEqual([...Array(100).keys()]);
    expect(sim.rec.client.delivered.map(packetId)).toEqual([...Array(100).keys()].map((i) => 1000 + i));
  });
}
