/**
 * The express lane (sendpath.ts SendPath.express): small packets skip the queues and the
 * sequence. TCP acknowledgements, ping, DNS, VoIP and game packets would otherwise wait behind a
 * full queue of large packets (and, at the receiver, behind any hole in the sequence):
 * interactive traffic keeps the idle latency while a transfer fills the links. They take no
 * sequence number and are not resent, as on a plain link.
 *
 * Not TCP data: the peer equalises delays (equaliser.ts), and a TCP segment that carries data or
 * a SYN gives its sender an RTT sample when acknowledged, and
 * sent express that sample is the fastest link's alone. A sender that sizes its window from its
 * minimum RTT (BBR) takes it for the path's (the handshake, iperf3's 37-byte cookie, an SSH
 * keystroke) and then cannot fill a slower link (docs/scheduler.md, "BBR over links of unequal
 * delay"). Such segments take the sequenced way, at the aggregate's timing; pure
 * acknowledgements, ICMP and UDP keep the lane.
 */
import type { Link } from "./link.ts";
import { ETHERNET_HEADER } from "./mtu.ts";
import { nextTier, priority } from "./policy.ts";
import { delayExcessMs, owd } from "./spread.ts";
import { isPureTcpAck, PURE_ACK_MAX_BYTES, tcpCarriesData } from "./tcpsegment.ts";

export const EXPRESS_MAX_BYTES = 200;
/** The express lane takes at most this share of the links' capacity: a flood of small packets is queued like the rest. */
const EXPRESS_SHARE = 0.1;
const EXPRESS_BURST_BYTES = 16 * 1024;
/**
 * Pure TCP acknowledgements take the lane outside its share, this many bytes for each data packet
 * the peer sent us (dataArrived): TCP acknowledges a segment at most once, in at most 100 bytes
 * (PURE_ACK_MAX_BYTES: IPv6 and a TCP header full of options), so the data that
 * arrives bounds the acknowledgements it can draw from the LAN, and a flood of small packets that
 * acknowledges nothing of ours still has only the share.
 *
 * Why outside the share: the share is a tenth of our estimates, and an end whose links carry only
 * acknowledgements (the far end of a transfer) knows them only as far as that traffic shows, the
 * startup guess of 4 Mbit/s each. The acknowledgements of a 50 Mbit/s transfer (about 1.6
 * Mbit/s) spent the share; the rest, and the pings and calls beside them, took the sequenced way
 * and waited at the peer for the slowest link's timing (equaliser.ts): 50+50 Mbit/s at 10+60 ms
 * behind 10 ms token buckets, one upload (BBR), the pings' p99 was 67 ms above idle, 17 now
 * (test/sim/latency.sim.test.ts).
 */
const ACK_ALLOWANCE_BYTES = PURE_ACK_MAX_BYTES;
/** Below what overflowed, by the margin BBRv2 keeps under the in-flight at which it saw loss. */
const OVERFLOW_SHARE = 0.85;

/**
 * How long a packet sent on `l` now waits at the link's bottleneck behind our own traffic: what
 * we have in flight beyond one bandwidth-delay product is queued there (or the estimate is too
 * high, and then more is), and drains at the link's rate. Without it the lane took the link of
 * shortest delay whatever it held: an ADSL uplink of 0.5-1 Mbit/s beside a 10 Mbit/s link
 * carried the pings of a transfer behind its in-flight cap's floor of four full packets (48-96
 * ms at those rates), +140-320 ms at p99 in the lab (docs/scheduler.md, "Long paths").
 */
function bottleneckWaitMs(l: Link): number {
  const e = l.sender.estimator;
  if (!Number.isFinite(e.minRttMs)) return 0;
  const rate = Math.max(e.bandwidth, 1e-3);
  return Math.max(0, l.sender.inflightBytes - rate * e.minRttMs) / rate;
}

/**
 * Whether a link has less of ours in flight than OVERFLOW_SHARE of what it had when its bottleneck
 * last overflowed (roundloss.ts overflowInflight): a buffer counted in packets holds little time of
 * small ones, less than the rules' queue (32 acknowledgements: 25 ms at 1.25 Mbit/s), and the
 * lane, which does not pace, filled it as long as the rules allowed.
 */
function belowOverflow(l: Link, nowMs: number): boolean {
  return l.sender.inflightBytes < OVERFLOW_SHARE * l.sender.estimator.loss.overflowInflight(nowMs);
}

export class ExpressLane {
  private tokens = EXPRESS_BURST_BYTES;
  private refilledMs = Number.NEGATIVE_INFINITY;
  /** Bytes of pure acknowledgements the lane takes outside its share (ACK_ALLOWANCE_BYTES). */
  private ackAllowance = 0;

  /** `tap`: packets are Ethernet frames. */
  constructor(
    private readonly transmit: (link: Link, packet: Uint8Array) => void,
    private readonly tap: boolean,
  ) {}

  /**
   * Sends a small packet at once on the link of `candidates` where it arrives first (the
   * shortest one-way delay, with what waits at its bottleneck: bottleneckWaitMs), of those whose
   * bottleneck holds no more of ours than the in-flight rules let stand there if one arrives
   * within that much of the earliest (estimator.ts standingQueueMs); false when it must take the
   * normal path (too big, TCP data, over the share, no usable link).
   *
   * Why the rules: a link's own FEEDBACKs wait at the same bottleneck. A download's TCP
   * acknowledgements, taken by the lane to the nearer of two thin uplinks until it held them as
   * deep as the other link's extra delay (20 ms of 0.5 Mbit/s), held the FEEDBACKs of that link's
   * download as long, and the peer's in-flight cap, which counts only the queue a peer keeping
   * the rules lets stand, held the download to three quarters of its rate. A link whose queue
   * is within the rules cannot do that; when none is (every one busy with bulk traffic at its
   * cap), or the one within them is much later, the earliest arrival decides, as the lane's
   * purpose is latency.
   */
  take(packet: Uint8Array, nowMs: number, candidates: readonly Link[]): boolean {
    if (packet.length > EXPRESS_MAX_BYTES || this.isTcpData(packet)) return false;
    let fastest: Link | undefined;
    let minOwd = Number.POSITIVE_INFINITY;
    let fastestWithin: Link | undefined;
    let minOwdWithin = Number.POSITIVE_INFINITY;
    let overflowing: Link | undefined; // the earliest of those at their overflow: only if no other
    let minOwdOverflowing = Number.POSITIVE_INFINITY;
    let capacity = 0; // bytes per ms
    const tier = nextTier(candidates, -1, undefined);
    for (const l of candidates) {
      if (l.stalled || (tier !== undefined && priority(l) !== tier)) continue;
      capacity += l.sender.estimator.bandwidth;
      const wait = bottleneckWaitMs(l);
      const d = owd(l) + delayExcessMs(l) + wait;
      // A packet later is better than one lost at a full buffer.
      if (!belowOverflow(l, nowMs)) {
        if (d < minOwdOverflowing) (minOwdOverflowing = d), (overflowing = l);
        continue;
      }
      if (d < minOwd) (minOwd = d), (fastest = l);
      if (wait <= l.sender.estimator.standingQueueMs() && d < minOwdWithin) (minOwdWithin = d), (fastestWithin = l);
    }
    // A packet may arrive later by the queue the rules let stand on the earliest link, no more:
    // a far link's delay is not worth keeping a near link's queue short (a ping to a satellite).
    if (fastest && fastestWithin && minOwdWithin <= minOwd + fastest.sender.estimator.standingQueueMs()) fastest = fastestWithin;
    fastest ??= overflowing;
    if (!fastest) return false;
    if (this.ackAllowance >= packet.length && this.isPureAck(packet)) {
      this.ackAllowance -= packet.length;
      this.transmit(fastest, packet);
      return true;
    }
    const elapsed = Number.isFinite(this.refilledMs) ? nowMs - this.refilledMs : 0;
    this.tokens = Math.min(EXPRESS_BURST_BYTES, this.tokens + EXPRESS_SHARE * capacity * Math.max(0, elapsed));
    this.refilledMs = nowMs;
    if (this.tokens < packet.length) return false;
    this.tokens -= packet.length;
    this.transmit(fastest, packet);
    return true;
  }

  /** The peer sent us a data packet (receive.ts): one more acknowledgement may take the lane outside the share. */
  dataArrived(): void {
    this.ackAllowance = Math.min(EXPRESS_BURST_BYTES, this.ackAllowance + ACK_ALLOWANCE_BYTES);
  }

  private isTcpData(packet: Uint8Array): boolean {
    return this.tcpTest(packet, tcpCarriesData);
  }

  private isPureAck(packet: Uint8Array): boolean {
    return this.tcpTest(packet, isPureTcpAck);
  }

  private tcpTest(packet: Uint8Array, test: (ip: Uint8Array) => boolean): boolean {
    if (!this.tap) return test(packet);
    // An IPv4 or IPv6 frame (no VLAN tag): its IP packet.
    const type = ((packet[12] ?? 0) << 8) | (packet[13] ?? 0);
    return (type === 0x0800 || type === 0x86dd) && test(packet.subarray(ETHERNET_HEADER));
  }
}
