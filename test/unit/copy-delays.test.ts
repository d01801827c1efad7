import { describe, expect, test } from "bun:test";
import { PCAP_FIRST_SECOND, readPcap, writePcap } from "../../src/filter/pcap.ts";
import { type Datagram, describePath, packetPaths, type UplinkCaptures, udpDatagrams } from "../lab/copy-delays.ts";

/** An Ethernet frame: IPv4 (IHL 5) carrying `proto`, or IPv6 when `v6`. */
function frame(o: { proto?: number; v6?: boolean; id?: number; udpPayload?: number }): Uint8Array {
  const payload = o.udpPayload ?? 0;
  const f = new Uint8Array(14 + 20 + 8 + payload);
  f[12] = o.v6 ? 0x86 : 0x08;
  f[13] = o.v6 ? 0xdd : 0x00;
  f[14] = o.v6 ? 0x60 : 0x45;
  const ipLength = 20 + 8 + payload;
  f.set([ipLength >> 8, ipLength & 0xff, (o.id ?? 0) >> 8, (o.id ?? 0) & 0xff], 16);
  f[14 + 9] = o.proto ?? 17;
  f.set([192, 168, 102, 2, 172, 31, 255, 1], 14 + 12);
  f.set([0x13, 0xd9, 0x13, 0xd9, (8 + payload) >> 8, (8 + payload) & 0xff], 34); // ports 5081 → 5081
  return f;
}

const inner = (t: number, id: number): Datagram => ({ t, id, src: "10.10.0.2.1", dst: "10.20.0.2.2112", ipLength: 200, udpLength: 172 });
const copy = (t: number, from: string): Datagram => ({ t, id: 0, src: `${from}.5080`, dst: "x.5080", ipLength: 268, udpLength: 240 });
const bulk = (t: number, from: string): Datagram => ({ ...copy(t, from), ipLength: 1500, udpLength: 1472 });

describe("copy delays from captures", () => {
  test("a capture's IPv4 UDP datagrams, with their capture times (src/filter/pcap.ts); TCP and IPv6 skipped", () => {
    const records = [frame({ id: 22187, udpPayload: 240 }), frame({ proto: 6 }), frame({ v6: true }), frame({ id: 7, udpPayload: 1 })].map((data) => ({ data, length: data.length }));
    const bytes = writePcap(1, records);
    new DataView(bytes.buffer).setUint32(24 + 4, 296405, true); // the first record's microseconds
    expect(udpDatagrams(readPcap(bytes))).toEqual([
      { t: PCAP_FIRST_SECOND + 0.296405, id: 22187, src: "192.168.102.2.5081", dst: "172.31.255.1.5081", ipLength: 268, udpLength: 240 },
      { t: PCAP_FIRST_SECOND + 3, id: 7, src: "192.168.102.2.5081", dst: "172.31.255.1.5081", ipLength: 29, udpLength: 1 },
    ]);
  });

  test("each packet's time splits into sender, wire and receiver per copy; lost, missing and restored copies are told apart", () => {
    // Uplink 0: 10 ms one way, uplink 1: 30 ms. Packets enter every 20 ms.
    const entering = [inner(0, 1), inner(0.02, 2), inner(0.04, 3), inner(0.06, 4)];
    // Packet 1: both copies at +1 ms; delivered by uplink 0 (arrives 11 ms, out 12 ms).
    // Packet 2: both at +2 ms; uplink 0's copy lost (the cut); uplink 1's arrives at 0.052, out at 0.075 (a 23 ms receiver stall).
    // Packet 3: uplink 0 stalled, no copy; uplink 1 only, sent at +15 ms (a sender stall).
    // Packet 4: uplink 0 restored: both at +1 ms.
    const a0 = "192.168.101.2";
    const a1 = "192.168.102.2";
    const u0: UplinkCaptures = {
      senderAddr: a0,
      delayMs: 10,
      sent: [copy(0.001, a0), bulk(0.0015, a0), copy(0.022, a0), copy(0.061, a0)],
      received: [copy(0.011, a0), bulk(0.0115, a0), copy(0.0712, a0)],
    };
    const u1: UplinkCaptures = {
      senderAddr: a1,
      delayMs: 30,
      sent: [copy(0.001, a1), copy(0.022, a1), copy(0.055, a1), copy(0.061, a1)],
      received: [copy(0.031, a1), copy(0.052, a1), copy(0.085, a1), copy(0.091, a1)],
    };
    const leaving = [inner(0.012, 1), inner(0.075, 2), inner(0.086, 3), inner(0.072, 4)];
    const paths = packetPaths(entering, leaving, [u0, u1], 240);
    const r = (x: number) => Math.round(x * 10) / 10;
    const rounded = paths.map((p) => ({ atS: r(p.atS), totalMs: r(p.totalMs), copies: p.copies.map((c) => Object.fromEntries(Object.entries(c).map(([k, v]) => [k, r(v)]))) }));
    expect(rounded).toEqual([
      { atS: 0, totalMs: 12, copies: [{ uplink: 0, senderMs: 1, wireMs: 10, receiverMs: 1 }, { uplink: 1, senderMs: 1, wireMs: 30, receiverMs: -19 }] },
      { atS: 0, totalMs: 55, copies: [{ uplink: 0, senderMs: 2 }, { uplink: 1, senderMs: 2, wireMs: 30, receiverMs: 23 }] },
      { atS: 0, totalMs: 46, copies: [{ uplink: 1, senderMs: 15, wireMs: 30, receiverMs: 1 }] },
      { atS: 0.1, totalMs: 12, copies: [{ uplink: 0, senderMs: 1, wireMs: 10.2, receiverMs: 0.8 }, { uplink: 1, senderMs: 1, wireMs: 30, receiverMs: -19 }] },
    ]);
    expect(describePath(paths[1]!)).toBe("55.0 ms at 0.02 s — uplink 0: sender 2.0, lost; uplink 1: sender 2.0, wire 30.0, receiver 23.0");
  });

  test("a packet nobody delivered is left out; one with no copy seen says so", () => {
    const paths = packetPaths([inner(0, 1), inner(0.02, 2)], [inner(0.5, 2)], [{ senderAddr: "a", delayMs: 10, sent: [], received: [] }], 240);
    expect(paths.length).toBe(1);
    expect(describePath(paths[0]!)).toBe("480.0 ms at 0.02 s — no copy seen");
  });
});
