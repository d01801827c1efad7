/**
 * A rekey under a steady flow loses nothing that the flow would not lose without it (issue 13:
 * the transfer dented at each rekey). What was in flight when the keys changed is still
 * acknowledged and, when the path lost it, sent again. And a packet sent again reaches the
 * receiver while its hole is still held (reorder.ts resendDue), whatever the sender took to
 * find the loss: the resend repairs the hole instead of arriving after it was given up.
 */
import { describe, expect, test } from "bun:test";
import { packetId, SimPair } from "./simnet.ts";

/** 3 % loss on two 4 Mbit/s uplinks, 10 ms each way: at the switch a handful of packets are in flight, one lost now and then. */
const PATH = { delayMs: 10, rateMbit: 4, loss: 0.03 };
const GAP_MS = 2.5; // 1000-byte packets: 3.2 Mbit/s, below the two links' 8
const PACKETS = 12_000; // 30 s

interface FlowResult {
  /** Packets never delivered. */
  missing: number[];
  /** Sessions each client link went through. */
  sessions: number[];
  /** Highest receive loss (%) any link of either end measured during the flow. */
  maxLossPercent: number;
  /** Packets the client found lost on its links (the path's losses, seen through acknowledgements). */
  clientLost: number;
  /** Holes the server's reorder buffer gave up, and packets that came after their hole was given up. */
  holesSkipped: number;
  late: number;
}

function flow(rekeyMs: number | undefined, seed: number, gapMs = GAP_MS, packets = PACKETS, dropFirst = false): FlowResult {
  const link = { up: PATH, down: { delayMs: 10 } };
  const sim = new SimPair({ links: [link, link], seed, rekeyMs, reorderBufferSize: 64 });
  sim.run(1000);
  // The first data packet lost: the receiver's buffer starts from the second.
  let first = dropFirst;
  sim.filter = (d) => !(first && d.from === "client" && d.bytes.length > 500 && !(first = false));
  const sessions = [new Set<number>(), new Set<number>()];
  let maxLossPercent = 0;
  for (let i = 0; i < packets; i++) {
    sim.sendStream("client", 1, gapMs, 1000, i);
    sim.client.links.forEach((l, k) => sessions[k]!.add(l.current!.localIndex));
    for (const t of [sim.client, sim.server]) for (const l of t.links) maxLossPercent = Math.max(maxLossPercent, l.loss.percent() ?? 0);
  }
  sim.run(sim.now + 2000);
  const got = new Set(sim.rec.server.delivered.map(packetId));
  return {
    missing: [...Array(packets).keys()].filter((i) => !got.has(i)),
    sessions: sessions.map((s) => s.size),
    maxLossPercent,
    clientLost: sim.client.links.reduce((n, l) => n + l.sender.lostPackets, 0),
    holesSkipped: sim.server.reorder!.stats.holesSkipped,
    late: sim.server.reorder!.stats.late,
  };
}

describe("a flow across rekeys", () => {
  test("5 s rekeys under 3 % loss: every packet delivered, as without rekeys; losses still found through the switch", () => {
    for (const seed of [1, 2, 3, 4]) {
      const without = flow(undefined, seed);
      const rekeyed = flow(5000, seed);
      const label = `seed ${seed}: ${JSON.stringify({ without: { ...without, missing: without.missing.length }, rekeyed: { ...rekeyed, missing: rekeyed.missing.length } })}`;
      // The rekeys happened: 1 session from the start and one about every 5 s of the 31 s (each
      // starts at the first health tick past the interval, and takes a round trip).
      expect(rekeyed.sessions, label).toEqual([6, 6]);
      expect(without.sessions, label).toEqual([1, 1]);
      // Without rekeys each packet the path loses is found lost and sent again: none is missing.
      expect(without.missing, label).toEqual([]);
      expect(rekeyed.missing, label).toEqual([]);
      // The path's 3 % loss is found with rekeys as without (about 360 of 12 000 sent on the two links).
      expect(rekeyed.clientLost, label).toBeGreaterThan(0.8 * without.clientLost);
      expect(rekeyed.clientLost, label).toBeLessThan(1.25 * without.clientLost);
    }
  }, 120_000);
});

describe("resends and the reorder hold", () => {
  // 3 % loss: some resends are lost too, and their holes given up; at most a tenth of the losses.
  const cases = [
    // Per link a packet every 5 ms: the sender finds a loss 3 packets (15 ms) and a round trip after it.
    { name: "400 packets/s", gapMs: GAP_MS, packets: 4000 },
    // Per link a packet every 20 ms: the loss is found 60 ms and a round trip later, twice the hold.
    { name: "100 packets/s", gapMs: 4 * GAP_MS, packets: 2000 },
  ];
  for (const c of cases) {
    test(`${c.name} under 3 % loss: a resend comes before its hole is given up`, () => {
      for (const seed of [1, 2, 3]) {
        const r = flow(undefined, seed, c.gapMs, c.packets);
        const label = `seed ${seed}: ${JSON.stringify({ ...r, missing: r.missing.length })}`;
        expect(r.missing, label).toEqual([]);
        expect(r.clientLost, label).toBeGreaterThan(0.01 * c.packets);
        // Before resendDue every hole of a lost packet was given up (late = skipped ≈ the losses).
        expect(r.late, label).toBeLessThanOrEqual(0.1 * r.clientLost);
      }
    }, 60_000);
  }

  test("the first data packet lost: delivered when sent again, not dropped by the buffer that started from the second", () => {
    const r = flow(undefined, 1, GAP_MS, 100, true);
    expect(r.missing, JSON.stringify(r)).toEqual([]);
  });
});
