/**
 * A busy machine descheduls a tunnel end now and then (issue 11's bimodal lab results): for that
 * long it reads nothing, and what arrives meanwhile is stamped when it wakes. The peer's
 * acknowledgements then say that one round delivered little, with a one-way delay that looks
 * like a queue. One such round must not become the link's capacity: the estimate halved or
 * worse made the scheduler refuse packets as queue-full and TCP settle far below one link.
 *
 * The pauses are simulated outside the core: datagrams to a paused end are held until it
 * resumes, and its timers do not run meanwhile (simnet.ts's filter and inject).
 */
import { describe, expect, test } from "bun:test";
import { type Datagram, numberedPacket, type Side, SimPair } from "./simnet.ts";

const MBIT = 125; // bytes per millisecond in 1 Mbit/s
const RATE_MBIT = 20;
const DELAY_MS = 10;
/** htb's queue in the lab: 100 packets, about 60 ms at 20 Mbit/s. */
const QUEUE_MS = 60;
/** Ethernet, IP and UDP headers that the bottleneck counts on top of the datagram. */
const FRAME_OVERHEAD = 14 + 20 + 8;

/** Two 20 Mbit/s uplinks of 10 ms; `pauses` per side, [start, end) in ms; the client offers `offerMbit` of 1400-byte packets. */
function run(pauses: Record<Side, Array<[number, number]>>, offerMbit: number, untilMs: number, sample: (sim: SimPair) => void): SimPair {
  const sim = new SimPair({ links: [{}, {}], reorderBufferSize: 64 });
  const resumeAt = (side: Side, t: number) => {
    for (const [a, b] of pauses[side]) if (t >= a && t < b) return b;
    return t;
  };
  const busyUntil = [0, 0];
  const held: Array<{ d: Datagram; at: number; to: Side }> = [];
  // Every datagram leaves simnet's network here: the uplinks' bottleneck, then the delay.
  sim.filter = (d) => {
    let depart = d.atMs;
    if (d.from === "client") {
      const start = Math.max(d.atMs, busyUntil[d.link]!);
      if (start - d.atMs > QUEUE_MS) return false;
      depart = busyUntil[d.link] = start + ((d.bytes.length + FRAME_OVERHEAD) * 8) / (RATE_MBIT * 1000);
    }
    held.push({ d, at: depart + DELAY_MS, to: d.from === "client" ? "server" : "client" });
    return false;
  };
  const gap = (1400 * 8) / (offerMbit * 1000);
  let nextTun = Number.POSITIVE_INFINITY;
  let id = 0;
  for (let nextSample = 0, steps = 0; ; steps++) {
    if (steps > 5_000_000) throw new Error("simulation did not finish (livelock?)");
    if (sim.now >= 500 && nextTun === Number.POSITIVE_INFINITY) nextTun = sim.now; // both ends up: offer
    held.sort((a, b) => a.at - b.at);
    const h = held[0];
    const events: Array<[number, () => void]> = [
      [h ? resumeAt(h.to, h.at) : Number.POSITIVE_INFINITY, () => sim.inject(held.shift()!.to, h!.d.link, h!.d.bytes, h!.d.src)],
      [resumeAt("client", sim.client.nextTimeout()), () => sim.client.handleTimeout(sim.now)],
      [resumeAt("server", sim.server.nextTimeout()), () => sim.server.handleTimeout(sim.now)],
      [resumeAt("client", nextTun), () => {
        for (; nextTun <= sim.now; nextTun += gap) sim.client.handleTunPacket(numberedPacket(id++, 1400), sim.now);
      }],
      [nextSample, () => {
        sample(sim);
        nextSample += 5;
      }],
    ];
    events.sort((a, b) => a[0] - b[0]);
    const [t, f] = events[0]!;
    if (t > untilMs) return sim;
    sim.now = Math.max(sim.now, t);
    f();
  }
}

describe("an end descheduled now and then", () => {
  // Offered 45 Mbit/s: both links backlogged, their queues (and the one-way delay) full.
  const STALL_AT = 2500;
  const STALL_MS = 150;
  for (const side of ["server", "client"] as const) {
    test(`one pause of the ${side} does not become the links' capacity`, () => {
      const pauses: Record<Side, Array<[number, number]>> = { client: [], server: [] };
      pauses[side].push([STALL_AT, STALL_AT + STALL_MS]);
      let lowest = Number.POSITIVE_INFINITY;
      let before = 0;
      run(pauses, 45, STALL_AT + 800, (sim) => {
        const est = sim.client.links.map((l) => l.sender.estimator.bandwidth / MBIT);
        if (sim.now > 2000 && sim.now < STALL_AT) before = Math.max(before, Math.min(...est));
        if (sim.now >= STALL_AT) lowest = Math.min(lowest, ...est);
      });
      expect(before).toBeGreaterThan(0.9 * RATE_MBIT);
      // The pause says nothing about the links: their estimates stay near 20 Mbit/s (before
      // the fix: 4.6 after a pause of the server).
      expect(lowest).toBeGreaterThan(0.75 * RATE_MBIT);
    });
  }
});
