/**
 * The delay equaliser (src/core/equaliser.ts): sequenced packets from a faster link wait the
 * difference of one-way delays before the reorder buffer; a packet is never later than one sent
 * after it; which links count as carriers; without a reorder buffer (PassThrough), how a late
 * packet's lateness lengthens the others' holds. And the express lane's rule that goes with it
 * (src/core/express.ts, tcpsegment.ts): TCP data and SYNs leave the lane (the peer equalises).
 */
import { describe, expect, test } from "bun:test";
import { CARRIER_MEMORY_MS, Equaliser, NEW_LINK_GRACE_MS, NEW_LINK_GRACE_PACKETS, PassThrough } from "../../src/core/equaliser.ts";
import { ExpressLane } from "../../src/core/express.ts";
import { Link, LinkStatus } from "../../src/core/link.ts";
import { ReorderBuffer } from "../../src/core/reorder.ts";
import { tcpCarriesData } from "../../src/core/tcpsegment.ts";
import { linkConfig } from "../sim/simnet.ts";

/** Up links with these RTTs (ms): one-way delays of half each. */
function links(...rtts: number[]): Link[] {
  return rtts.map((rtt, i) => {
    const l = new Link(i, linkConfig({}, i), 1432, 0);
    l.setStatus(LinkStatus.AuthOk, 0);
    l.rtt.update(rtt);
    return l;
  });
}

/** `buffer` false: reorder_buffer_size = 0 (PassThrough). */
function rig(ls: Link[], buffer = true) {
  const delivered: { seq: number; at: number }[] = [];
  let now = 0;
  const deliver = (p: Uint8Array) => delivered.push({ seq: new DataView(p.buffer).getUint32(0), at: now });
  const reorder = buffer ? new ReorderBuffer(64, deliver, true) : undefined;
  const eq = new Equaliser(reorder ?? new PassThrough(deliver), () => ls);
  /** A bulk packet (`bytes` as sent; the sequence in its first 4 bytes). */
  const arrive = (link: number, seq: number, at: number, bytes = 1200) => {
    now = at;
    const p = new Uint8Array(bytes);
    new DataView(p.buffer).setUint32(0, seq);
    eq.arrive(ls[link]!, seq, p, at);
  };
  /** Runs the timer until `until` as the shell would: at each deadline. */
  const run = (until: number) => {
    for (let i = 0; i < 1000; i++) {
      const t = eq.nextDeadline();
      if (t > until) break;
      now = Math.max(now, t);
      eq.handleTimeout(now);
    }
    now = until;
  };
  return { eq, reorder, delivered, arrive, run };
}

describe("Equaliser", () => {
  test("a packet from the faster link waits the difference of one-way delays; one from the slowest goes at once", () => {
    const r = rig(links(10, 70)); // one-way 5 and 35 ms
    r.arrive(1, 0, 100); // the slow link's: no wait
    expect(r.delivered).toEqual([{ seq: 0, at: 100 }]);
    r.arrive(0, 1, 101); // the fast link's: 30 ms
    expect(r.delivered.length).toBe(1);
    expect(r.eq.nextDeadline()).toBe(131);
    r.run(130.9);
    expect(r.delivered.length).toBe(1);
    r.run(131);
    expect(r.delivered).toEqual([{ seq: 0, at: 100 }, { seq: 1, at: 131 }]);
    expect(r.eq.stats.lastHoldMs).toBe(30);
  });

  test("links of equal delay: nothing waits", () => {
    const r = rig(links(20, 20));
    r.arrive(0, 0, 10);
    r.arrive(1, 1, 10);
    expect(r.delivered.map((d) => d.seq)).toEqual([0, 1]);
    expect(r.eq.stats.held).toBe(0);
  });

  test("a packet that fills a hole goes at once, and takes the held packets numbered below it", () => {
    const r = rig(links(10, 70));
    r.arrive(0, 0, 100); // held until 130
    r.arrive(0, 2, 100.5); // held until 130.5
    r.arrive(1, 3, 101); // slow: in the reorder buffer now, after the held 0 (sent before it)
    expect(r.delivered.map((d) => d.seq)).toEqual([0]);
    expect(r.reorder!.heldCount).toBe(2); // 2 and 3, waiting for 1
    // 1's resend on the fast link: a hole the reorder buffer holds packets behind: no wait.
    r.arrive(0, 1, 102);
    expect(r.delivered.map((d) => d.seq)).toEqual([0, 1, 2, 3]);
    expect(r.delivered.every((d) => d.at <= 102)).toBe(true);
  });

  test("a link's packets leave in the order they came", () => {
    const r = rig(links(10, 70));
    r.arrive(0, 5, 100);
    r.arrive(0, 4, 100.2); // a resend behind it on the same link, nothing held in the reorder buffer
    r.run(200);
    expect(r.delivered.map((d) => d.seq).sort()).toEqual([4, 5]);
    expect(r.eq.stats.holding).toBe(0);
  });

  test("a link unused for CARRIER_MEMORY_MS of data elsewhere stops counting; a link that never carried data, after NEW_LINK_GRACE_MS", () => {
    const r = rig(links(10, 70));
    r.arrive(1, 0, 0); // the slow link carried data once
    // Only the fast link from then on, a packet every 100 ms: each waits while the slow link's memory lasts.
    let seq = 1;
    let t = 100;
    for (; t <= CARRIER_MEMORY_MS; t += 100) {
      const held = r.eq.stats.held;
      r.arrive(0, seq++, t);
      expect(r.eq.stats.held).toBe(held + 1);
      r.run(t + 50);
    }
    const held = r.eq.stats.held;
    r.arrive(0, seq++, t);
    expect(r.eq.stats.held).toBe(held); // went at once
    r.run(t + 100);
    expect(r.delivered.map((d) => d.seq)).toEqual(Array.from({ length: seq }, (_, i) => i));

    const fresh = rig(links(10, 70)); // the slow link never carried anything
    fresh.arrive(0, 0, 0);
    expect(fresh.eq.stats.held).toBe(1); // its first packets wait: the flow's handshake at the aggregate's timing
    // A trickle for longer than the grace's time: still counted (too few packets).
    fresh.arrive(0, 1, NEW_LINK_GRACE_MS / 2);
    fresh.arrive(0, 2, 2 * NEW_LINK_GRACE_MS);
    expect(fresh.eq.stats.held).toBe(3);
    // Then a bulk flow on the fast link alone: counted until both the time and the packets are past.
    let n = 3;
    let at = 2 * NEW_LINK_GRACE_MS + 1;
    for (; n <= NEW_LINK_GRACE_PACKETS + 1; n++, at += 0.1) fresh.arrive(0, n, at);
    const bulkHeld = fresh.eq.stats.held;
    expect(bulkHeld).toBeGreaterThanOrEqual(NEW_LINK_GRACE_PACKETS);
    fresh.run(at + 100);
    fresh.arrive(0, n, at + 100);
    expect(fresh.eq.stats.held).toBe(bulkHeld);
    fresh.run(at + 200);
    expect(fresh.delivered.length).toBe(n + 1);
  });

  test("small packets (acknowledgements over the express lane's share) neither age the memory nor make a carrier", () => {
    const ls = links(10, 70);
    const r = rig(ls);
    r.arrive(1, 0, 0); // the slow link carried bulk data
    let seq = 1;
    for (let t = 1; t <= 3 * CARRIER_MEMORY_MS; t += 2) r.arrive(0, seq++, t, 60); // 30 s of ACKs on the fast link
    r.arrive(0, seq++, 3 * CARRIER_MEMORY_MS + 1);
    expect(r.eq.stats.lastHoldMs).toBe(30); // the slow link still counts
    const fresh = rig(links(10, 70));
    fresh.arrive(1, 0, 0, 60); // only a small packet on the slow link: not a carrier
    for (let t = 1; t <= NEW_LINK_GRACE_MS + 10; t++) fresh.arrive(0, t, t); // (its grace still holds for 1000 packets)
    let s2 = NEW_LINK_GRACE_MS + 11;
    for (let i = 0; i <= NEW_LINK_GRACE_PACKETS; i++) fresh.arrive(0, s2, s2++);
    fresh.run(s2 + 100); // what the grace held goes on
    const held = fresh.eq.stats.held;
    fresh.arrive(0, s2, s2 + 100);
    expect(fresh.eq.stats.held).toBe(held);
  });

  test("an idle tunnel keeps its carriers: the memory ages only while data flows", () => {
    const r = rig(links(10, 70));
    r.arrive(1, 0, 0);
    // Data after a long idle time still waits, for as long as the memory lasts from there.
    r.arrive(0, 1, 10 * CARRIER_MEMORY_MS);
    r.arrive(0, 2, 10 * CARRIER_MEMORY_MS + 5);
    expect(r.eq.stats.held).toBe(2);
  });

  test("a stalled link still counts (a hold that vanished for a stall let BBR take the fast link's RTT for the path's)", () => {
    const ls = links(10, 70);
    const r = rig(ls);
    r.arrive(1, 0, 0);
    ls[1]!.stall(1);
    r.arrive(0, 1, 2);
    expect(r.eq.stats.held).toBe(1);
    expect(r.eq.stats.lastHoldMs).toBe(30);
  });

  test("a down link does not count, nor one of a worse priority tier", () => {
    const ls = links(10, 70);
    const r = rig(ls);
    r.arrive(1, 0, 0);
    ls[1]!.setStatus(LinkStatus.Disconnected, 1);
    r.arrive(0, 1, 2);
    expect(r.eq.stats.held).toBe(0);
    const tiers = links(10, 70);
    tiers[1]!.reconfigure({ ...tiers[1]!.config, priority: 1 });
    const t = rig(tiers);
    t.arrive(1, 0, 0);
    t.arrive(0, 1, 1);
    expect(t.eq.stats.held).toBe(0);
  });

  test("handleTimeout releases everything due, also what a release on a later link uncovered on an earlier one", () => {
    // One-way 5, 15 and 35 ms. Link 0 holds 0 (due at 130) and then 2 (due at 111: the slowest
    // link went down in between, so 2's hold is to link 1's delay only); link 1 holds 1 (due 120).
    const ls = links(10, 30, 70);
    const r = rig(ls);
    r.arrive(0, 0, 100);
    r.arrive(1, 1, 100);
    ls[2]!.setStatus(LinkStatus.Disconnected, 101);
    r.arrive(0, 2, 101);
    expect(r.eq.stats.holding).toBe(3);
    // At 121 link 0's first (0, due 130) is not due; link 1's 1 is, and takes 0 with it (numbered
    // below it): that leaves 2, due at 111, first on link 0, which the timer has already passed.
    r.eq.handleTimeout(121);
    // Before the fix 2 stayed held and nextDeadline() said 111, before the 121 the timer had just
    // run at: the shell's timer fired again at once (a wasted wake-up, and 2 later still).
    expect(r.delivered.map((d) => d.seq)).toEqual([0, 1, 2]);
    expect(r.eq.nextDeadline()).toBe(Infinity);
  });

  test("flush hands everything held to the reorder buffer, which delivers it; reset forgets it", () => {
    const r = rig(links(10, 70));
    r.arrive(1, 0, 0);
    r.arrive(0, 1, 1);
    r.arrive(0, 2, 2);
    r.eq.flush(3);
    expect(r.delivered.map((d) => d.seq)).toEqual([0, 1, 2]);
    r.arrive(0, 3, 4);
    r.eq.reset();
    expect(r.eq.stats.holding).toBe(0);
    r.run(1000);
    expect(r.delivered.length).toBe(3);
  });
});

describe("Equaliser without a reorder buffer (reorder_buffer_size = 0)", () => {
  test("the faster link's packets still wait the difference, and leave in sequence order", () => {
    const r = rig(links(10, 70), false); // one-way 5 and 35 ms
    r.arrive(1, 0, 0);
    r.arrive(0, 1, 1);
    r.arrive(0, 2, 2);
    expect(r.delivered).toEqual([{ seq: 0, at: 0 }]);
    r.run(40);
    expect(r.delivered).toEqual([{ seq: 0, at: 0 }, { seq: 1, at: 31 }, { seq: 2, at: 32 }]);
    expect(r.eq.stats.late).toBe(0);
  });

  test("a held packet due later goes on before a later-numbered one of another link", () => {
    const ls = links(10, 70, 40); // one-way 5, 35, 20 ms
    const r = rig(ls, false);
    r.arrive(1, 0, 0);
    r.arrive(0, 1, 1); // due at 31
    r.arrive(2, 2, 2); // due at 17: it may not overtake 1
    r.run(20);
    expect(r.delivered.map((d) => d.seq)).toEqual([0, 1, 2]);
  });

  test("a late packet goes on at once; its lateness lengthens the other links' holds, at most its own one-way delay, and fades", () => {
    const r = rig(links(10, 70), false);
    r.arrive(1, 0, 0);
    r.arrive(0, 2, 1); // due at 31
    r.run(31);
    expect(r.delivered.map((d) => d.seq)).toEqual([0, 2]);
    r.arrive(1, 1, 43); // 12 ms after 2 went on
    expect(r.delivered.map((d) => d.seq)).toEqual([0, 2, 1]);
    expect(r.eq.stats.late).toBe(1);
    r.arrive(0, 3, 44);
    expect(r.eq.stats.lastHoldMs).toBeCloseTo(30 + 12, 0); // the slow link is counted 12 ms later
    // Data keeps flowing on both links: the lateness halves per second of it.
    let seq = 4;
    for (let t = 50; t <= 1044; t += 10) r.arrive(1, seq++, t);
    r.arrive(0, seq++, 1044);
    expect(r.eq.stats.lastHoldMs).toBeGreaterThan(30 + 5);
    expect(r.eq.stats.lastHoldMs).toBeLessThan(30 + 7);
    // A packet stuck far longer than its link's delay (an LTE uplink that stopped): capped at it.
    const s = rig(links(10, 70), false);
    s.arrive(1, 0, 0);
    s.arrive(0, 2, 1);
    s.run(31);
    s.arrive(1, 1, 2000);
    s.arrive(0, 3, 2001);
    expect(s.eq.stats.lastHoldMs).toBeCloseTo(30 + 35, 0);
  });

  test("with a reorder buffer behind it, lateness does not count (the buffer reorders)", () => {
    const r = rig(links(10, 70));
    r.arrive(1, 0, 0);
    r.arrive(0, 2, 1);
    r.run(31);
    r.arrive(1, 1, 43);
    r.arrive(0, 3, 44);
    expect(r.eq.stats.lastHoldMs).toBe(30);
    expect(r.eq.stats.late).toBe(0);
  });

  test("reset forgets what went on: a restarted peer's sequence from 0 is not late", () => {
    const r = rig(links(10, 70), false);
    for (let i = 0; i < 5; i++) r.arrive(1, i, i);
    r.eq.reset();
    r.arrive(1, 0, 10);
    expect(r.eq.stats.late).toBe(0);
    expect(r.delivered.length).toBe(6);
  });
});

/** An IPv4 TCP segment: `flags`, `payload` bytes of data. */
function tcp4(flags: number, payload: number): Uint8Array {
  const p = new Uint8Array(20 + 20 + payload);
  p[0] = 0x45;
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[9] = 6;
  p[20 + 12] = 5 << 4;
  p[20 + 13] = flags;
  return p;
}

function tcp6(flags: number, payload: number): Uint8Array {
  const p = new Uint8Array(40 + 20 + payload);
  p[0] = 0x60;
  p[4] = (20 + payload) >> 8;
  p[5] = (20 + payload) & 0xff;
  p[6] = 6;
  p[40 + 12] = 5 << 4;
  p[40 + 13] = flags;
  return p;
}

const ACK = 0x10;
const SYN = 0x02;

describe("tcpCarriesData", () => {
  test("data and SYNs, IPv4 and IPv6; not pure acknowledgements, UDP or ICMP", () => {
    expect(tcpCarriesData(tcp4(ACK, 37))).toBe(true); // iperf3's cookie
    expect(tcp4(ACK, 37).length).toBeLessThan(200);
    expect(tcpCarriesData(tcp4(SYN, 0))).toBe(true);
    expect(tcpCarriesData(tcp4(SYN | ACK, 0))).toBe(true);
    expect(tcpCarriesData(tcp4(ACK, 0))).toBe(false);
    expect(tcpCarriesData(tcp6(ACK, 10))).toBe(true);
    expect(tcpCarriesData(tcp6(ACK, 0))).toBe(false);
    const udp = tcp4(ACK, 10);
    udp[9] = 17;
    expect(tcpCarriesData(udp)).toBe(false);
    // A pure ACK with padding past the IP total length (Ethernet minimum frames) is still pure.
    const padded = new Uint8Array(46);
    padded.set(tcp4(ACK, 0));
    expect(tcpCarriesData(padded)).toBe(false);
    expect(tcpCarriesData(new Uint8Array(10))).toBe(false);
  });

  test("a fragment of TCP counts as data (its header may be elsewhere)", () => {
    const frag = tcp4(ACK, 0);
    frag[7] = 1; // fragment offset 8 bytes
    expect(tcpCarriesData(frag)).toBe(true);
  });
});

describe("ExpressLane", () => {
  function lane(tap = false) {
    const sent: number[] = [];
    const ls = links(10, 70);
    const l = new ExpressLane((link, p) => sent.push(link.index * 1000 + p.length), tap);
    return { take: (p: Uint8Array) => l.take(p, 0, ls), sent };
  }

  test("small TCP data and SYNs take the sequenced way (the peer equalises); pure ACKs and UDP keep the lane", () => {
    const eq = lane();
    expect(eq.take(tcp4(ACK, 37))).toBe(false);
    expect(eq.take(tcp4(SYN, 0))).toBe(false);
    expect(eq.take(tcp4(ACK, 0))).toBe(true);
    const udp = tcp4(ACK, 10);
    udp[9] = 17;
    expect(eq.take(udp)).toBe(true);
    expect(eq.sent).toEqual([40, 50]); // on the fastest link (index 0)
  });

  test("tap: the IP packet inside an Ethernet frame", () => {
    const eq = lane(true);
    const frame = (ip: Uint8Array, type = 0x0800) => {
      const f = new Uint8Array(14 + ip.length);
      f[12] = type >> 8;
      f[13] = type & 0xff;
      f.set(ip, 14);
      return f;
    };
    expect(eq.take(frame(tcp4(ACK, 37)))).toBe(false);
    expect(eq.take(frame(tcp4(ACK, 0)))).toBe(true);
    expect(eq.take(frame(tcp6(SYN, 0), 0x86dd))).toBe(false);
    expect(eq.take(frame(tcp4(ACK, 37), 0x0806))).toBe(true); // not IP
  });
});
