/**
 * The express lane's choice of link (src/core/express.ts): the shortest one-way delay, counting
 * what waits at each link's bottleneck behind our own traffic.
 */
import { describe, expect, test } from "bun:test";
import type { LinkConfig } from "../../src/config/schema.ts";
import { ExpressLane } from "../../src/core/express.ts";
import { Link, LinkStatus } from "../../src/core/link.ts";
import { isPureTcpAck } from "../../src/core/tcpsegment.ts";
import { type Ip4Options, ipv4, ipv6, tcp } from "../helpers/packets.ts";

const config = (name: string, bandwidthUpload: number) => ({ name, bindfib: 0, bandwidth_upload: bandwidthUpload, timeout: 30, loss_tolerence: 100, latency_tolerence: 1000, fallback_only: false, priority: 0 }) as LinkConfig;

/** A link of `rateMbit` (its bandwidth_upload: the estimate) with minimum RTT `rttMs`, holding `inflightBytes` of ours. */
function measured(index: number, rateMbit: number, rttMs: number, inflightBytes: number): Link {
  const l = new Link(index, config(`l${index}`, (rateMbit * 1e6) / 8), 1400, 0);
  l.setStatus(LinkStatus.AuthOk, 0);
  l.heard(0);
  l.sender.estimator.onRttSample(rttMs, 0);
  l.sender.inflightBytes = inflightBytes;
  return l;
}

/** An express lane that records the index of each link it sends on. */
function recording(): { lane: ExpressLane; chosen: number[] } {
  const chosen: number[] = [];
  return { lane: new ExpressLane((l) => chosen.push(l.index), false), chosen };
}

/** A 92-byte IPv4/UDP packet (protocol 17 at offset 9). */
const small = (): Uint8Array => {
  const p = new Uint8Array(92);
  p[0] = 0x45;
  p[9] = 17;
  return p;
};

test("an idle link of shorter delay takes a small packet; once our traffic queues on it past the other link's delay, the other does", () => {
  const { lane, chosen } = recording();
  // An ADSL uplink (0.5 Mbit/s, 40 ms RTT) beside a 10 Mbit/s link of 80 ms RTT.
  const adsl = measured(0, 0.5, 40, 0);
  const fast = measured(1, 10, 80, 0);
  expect(lane.take(small(), 10, [adsl, fast])).toBe(true);
  // Four full packets in flight on the ADSL link (the in-flight cap's floor): 6 kB, where its
  // product is 2.5 kB: 56 ms of wait at its bottleneck on top of 20 ms one way; the fast link
  // has a fifth of its product queued, 16 ms on top of 40.
  adsl.sender.inflightBytes = 6000;
  fast.sender.inflightBytes = 120_000;
  expect(lane.take(small(), 20, [adsl, fast])).toBe(true);
  expect(chosen).toEqual([0, 1]);
});

test("a link whose bottleneck holds more of ours than the in-flight rules let stand is passed over for one within them, later but not by much", () => {
  const { lane, chosen } = recording();
  // Two thin uplinks of a download: 0.5 Mbit/s at 2 ms RTT and 2.5 Mbit/s at 40 ms RTT. The
  // near one holds 1.2 kB beyond its product: 19 ms at its bottleneck, which still arrives
  // before the far link's 20 ms one way, but is past the 9 ms the rules let stand there (half
  // an RTT and two acknowledgement holds: estimator.ts standingQueueMs), where it would hold
  // that link's own FEEDBACKs too.
  const near = measured(0, 0.5, 2, 1300);
  const far = measured(1, 2.5, 40, 0);
  expect(lane.take(small(), 10, [near, far])).toBe(true);
  // Within the rules (a 5 ms queue), the near link again.
  near.sender.inflightBytes = 400;
  expect(lane.take(small(), 20, [near, far])).toBe(true);
  // Both past them (bulk traffic at its cap on each): the earliest arrival, as before.
  near.sender.inflightBytes = 1300;
  far.sender.inflightBytes = 25_000;
  expect(lane.take(small(), 30, [near, far])).toBe(true);
  expect(chosen).toEqual([1, 0, 0]);
});

test("a link within the rules is preferred only if it arrives within the queue they let stand of the earliest: not a far link", () => {
  const { lane, chosen } = recording();
  // The same thin near uplink, 19 ms past its product, beside an idle link of 300 ms RTT: 150 ms
  // one way is far more than the 9 ms the near link's rules let stand. The near link.
  const near = measured(0, 0.5, 2, 1300);
  const far = measured(1, 20, 300, 0);
  expect(lane.take(small(), 10, [near, far])).toBe(true);
  expect(chosen).toEqual([0]);
});

/** A TCP segment with timestamps (a 32-byte header): IPv4 (52 bytes with no payload) or IPv6 (72). */
function segment(v6 = false, flags = 0x10, payload = 0, o: Ip4Options = {}): Uint8Array {
  const t = tcp(40000, 443, flags, payload, 8);
  return new Uint8Array(v6 ? ipv6("fd00::1", "fd00::2", 6, t) : ipv4("10.0.0.1", "10.0.0.2", 6, t, o));
}
const pureAck = (): Uint8Array => segment();

test("isPureTcpAck: the ACK flag, no payload, no SYN, not a fragment, IPv4 or IPv6", () => {
  expect(isPureTcpAck(segment())).toBe(true);
  expect(isPureTcpAck(segment(true))).toBe(true);
  expect(isPureTcpAck(segment(false, 0x11))).toBe(true); // a FIN
  expect(isPureTcpAck(segment(false, 0x10, 1))).toBe(false); // one byte of payload
  expect(isPureTcpAck(segment(true, 0x10, 100))).toBe(false);
  expect(isPureTcpAck(segment(false, 0x12))).toBe(false); // a SYN-ACK
  expect(isPureTcpAck(segment(false, 0x04))).toBe(false); // a RST without ACK
  expect(isPureTcpAck(segment(false, 0x10, 0, { fragOffset: 1 }))).toBe(false);
  expect(isPureTcpAck(small())).toBe(false); // UDP
  expect(isPureTcpAck(segment().subarray(0, 30))).toBe(false); // cut inside the TCP header
});

describe("pure acknowledgements take the lane outside its share, one per data packet that arrived", () => {
  /** A tenth (EXPRESS_SHARE) of the two links' 4 Mbit/s, in bytes per ms; the lane's burst (EXPRESS_BURST_BYTES). */
  const SHARE_BYTES_PER_MS = (0.1 * 8e6) / 8 / 1000;
  const BURST_BYTES = 16 * 1024;
  const ACK_BYTES = pureAck().length;
  const PING_BYTES = 84;
  // The far end of a 90 Mbit/s transfer: its two links carry only acknowledgements, so it knows
  // them as 4 Mbit/s each (the startup guess). The share: a tenth of 8 Mbit/s, 100 bytes per ms.
  // Each ms, 8 data packets arrive from the peer and the LAN answers with 4 acknowledgements (208
  // bytes); every 10 ms a ping (84 bytes) goes too.
  function second(dataPerMs: number): { acks: number; pings: number } {
    const { lane } = recording();
    const links = [measured(0, 4, 20, 0), measured(1, 4, 120, 0)];
    const ping = new Uint8Array(PING_BYTES);
    ping[0] = 0x45;
    ping[9] = 1;
    let acks = 0;
    let pings = 0;
    for (let ms = 0; ms < 1000; ms++) {
      for (let k = 0; k < dataPerMs; k++) lane.dataArrived();
      for (let k = 0; k < 4; k++) if (lane.take(pureAck(), ms, links)) acks++;
      if (ms % 10 === 0 && lane.take(ping, ms, links)) pings++;
    }
    return { acks, pings };
  }

  test("the acknowledgements of arriving data all go express, and the pings beside them", () => {
    // Before: the acknowledgements spent the share, and 1787 of them and 86 of the 100 pings took
    // the sequenced way, which waits at the peer for the slowest link (+67 ms at p99:
    // test/sim/latency.sim.test.ts).
    expect(second(8)).toEqual({ acks: 4000, pings: 100 });
  });

  test("acknowledgements with no data arriving (a flood that acknowledges nothing of ours) have only the share", () => {
    const { acks, pings } = second(0);
    // The share over the second and its burst (express.ts EXPRESS_SHARE, EXPRESS_BURST_BYTES),
    // and one packet the last refill may let through.
    const shareBytes = SHARE_BYTES_PER_MS * 1000 + BURST_BYTES;
    expect(acks * ACK_BYTES + pings * PING_BYTES).toBeLessThanOrEqual(shareBytes + PING_BYTES);
    expect(acks).toBeLessThan(shareBytes / ACK_BYTES + 1);
  });
});
