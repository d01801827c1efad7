/**
 * A link removed by a reload keeps receiving until the peer has seen its DISCONNECT
 * (src/core/departure.ts). Small packets (ping, DNS, TCP acknowledgements) take the express
 * lane, which is never resent: before this, the removing end dropped at once what the peer still
 * sent on the link until the DISCONNECT reached it, and the lab's reload test lost pings (58/60,
 * test/e2e/reload.e2e.test.ts). On the virtual clock: a stream of small packets both ways, the
 * link removed on one end, then on the other (each end's SIGHUP is handled when it is), or never
 * acknowledged.
 */
import { describe, expect, test } from "bun:test";
import { DEPARTURE_MAX_MS, DEPARTURE_MIN_MS, departureBoundMs } from "../../src/core/departure.ts";
import { TAG_SIZE, TRANSPORT_HEADER_SIZE } from "../../src/wire/layout.ts";
import { numberedPacket, packetId, type Side, SimPair } from "./simnet.ts";

/** A DISCONNECT is the only transport message with a 1-byte payload. */
const DISCONNECT_BYTES = TRANSPORT_HEADER_SIZE + 1 + TAG_SIZE;
const SMALL = 84; // a ping
const GAP_MS = 2;
const COUNT = 200;
const other = (s: Side): Side => (s === "client" ? "server" : "client");
const gone = (sim: SimPair, side: Side) => sim.rec[side].events.some((e) => e.type === "link-gone" && e.link === 0);

/**
 * Two links; the express lane takes link 0 (5 ms each way, link 1 20 ms). Small packets go both
 * ways every GAP_MS; `first` removes link 0 at 200 ms of the stream, the other end `lagMs` later
 * (never if undefined). Returns the pair once everything has arrived.
 */
function removeUnderPings(first: Side, lagMs: number | undefined, filter?: (sim: SimPair) => SimPair["filter"]): { sim: SimPair; removedAt: number } {
  const sim = new SimPair({ links: [{ name: "near", up: { delayMs: 5 }, down: { delayMs: 5 } }, { name: "far", up: { delayMs: 20 }, down: { delayMs: 20 } }], reorderBufferSize: 64 });
  sim.run(500);
  expect(sim.client.links.every((l) => l.isUp)).toBe(true);
  let removedAt = Number.NaN;
  for (let i = 0; i < COUNT; i++) {
    if (i === 100) {
      removedAt = sim.now;
      sim[first].removeLink(0, sim.now);
      sim.filter = filter?.(sim);
    }
    if (lagMs !== undefined && i === 100 + lagMs / GAP_MS) sim[other(first)].removeLink(0, sim.now);
    sim.client.handleTunPacket(numberedPacket(i, SMALL), sim.now);
    sim.server.handleTunPacket(numberedPacket(i, SMALL), sim.now);
    sim.run(sim.now + GAP_MS);
  }
  sim.run(sim.now + 3 * DEPARTURE_MAX_MS);
  return { sim, removedAt };
}

const received = (sim: SimPair, side: Side) => [...new Set(sim.rec[side].delivered.map(packetId))].length;

describe("a link removed by a reload receives until the peer has seen its DISCONNECT", () => {
  for (const first of ["server", "client"] as const) {
    test(`${first} first, the other end 30 ms later: every small packet arrives, both ways`, () => {
      const { sim } = removeUnderPings(first, 30);
      // The stream used link 0 before the removal (the express lane's fastest link).
      expect(sim.captured.filter((d) => d.link === 0 && d.bytes.length > SMALL).length).toBeGreaterThan(100);
      expect(received(sim, "client")).toBe(COUNT);
      expect(received(sim, "server")).toBe(COUNT);
      for (const side of ["client", "server"] as const) {
        expect(gone(sim, side)).toBe(true);
        expect(sim[side].links.map((l) => l.name)).toEqual(["far"]);
      }
      // The end that removed first was gone once its DISCONNECT was acknowledged (one RTT, no resend).
      expect(sim.rec[first].logs.filter((l) => l.includes("[near] gone:"))).toEqual([expect.stringMatching(/the peer acknowledged its DISCONNECT after 1\d ms/)]);
      expect(sim.captured.filter((d) => d.from === first && d.link === 0 && d.bytes.length === DISCONNECT_BYTES).length).toBe(1);
    });
  }

  test("both ends at once: each is gone on the other's DISCONNECT, nothing lost", () => {
    const { sim } = removeUnderPings("client", 0);
    expect(received(sim, "client")).toBe(COUNT);
    expect(received(sim, "server")).toBe(COUNT);
    for (const side of ["client", "server"] as const) expect(sim.rec[side].logs.filter((l) => l.includes("[near] gone:"))).toEqual([expect.stringContaining("the peer disconnected it too")]);
  });

  test("a peer that never acknowledges (an older build, or every answer lost): the DISCONNECT again at 1, 3, 7 RTOs, gone at the bound, then the index receives nothing", () => {
    // Everything the server sends on link 0 from the removal on is lost.
    const { sim, removedAt } = removeUnderPings("client", undefined, () => (d) => !(d.from === "server" && d.link === 0));
    const disconnects = sim.captured.filter((d) => d.from === "client" && d.link === 0 && d.bytes.length === DISCONNECT_BYTES).map((d) => d.atMs - removedAt);
    const rto = disconnects[1]!;
    expect(rto).toBeGreaterThan(10); // the RTT (10 ms) and its variance
    expect(disconnects.length).toBeGreaterThanOrEqual(3);
    expect(disconnects.slice(0, 3)).toEqual([0, rto, 3 * rto]);
    const log = sim.rec.client.logs.find((l) => l.includes("[near] gone:"))!;
    const heldMs = Number(/within (\d+) ms/.exec(log)?.[1]);
    expect(heldMs).toBeGreaterThanOrEqual(DEPARTURE_MIN_MS);
    expect(heldMs).toBeLessThanOrEqual(DEPARTURE_MAX_MS);
    expect(disconnects.at(-1)!).toBeLessThan(heldMs);
    // Gone: a datagram on the old index is dropped.
    const before = sim.client.drops.get("bad-link");
    sim.filter = undefined;
    sim.inject("client", 0, sim.captured.find((d) => d.from === "server" && d.link === 0)!.bytes, { address: "198.51.100.1", port: 5080 });
    expect(sim.client.drops.get("bad-link")).toBe(before + 1);
  });

  test("the bound: RTT-derived, at least a tick, at most the suspect time", () => {
    const sim = new SimPair({ links: [{ up: { delayMs: 5 }, down: { delayMs: 5 } }, { up: { delayMs: 400 }, down: { delayMs: 400 } }] });
    sim.run(3000);
    const [near, far] = sim.client.links;
    expect(departureBoundMs(near!)).toBe(DEPARTURE_MIN_MS);
    expect(departureBoundMs(far!)).toBe(DEPARTURE_MAX_MS);
  });
});
