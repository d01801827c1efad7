/**
 * Links of unequal delay: how much of a slower link's extra one-way delay counts against it when
 * the send path picks a link (sendpath.ts schedule: earliest arrival).
 *
 * All of it, less what the peer's reorder buffer can absorb. Counting all of it (earliest arrival
 * proper, as without a reorder buffer) keeps every packet in order, but the slower link is then
 * used only once the fast link's queue is as deep as the delay spread, which a rate-based TCP
 * (BBR) never builds: it stays at the fast link's rate. With a reorder buffer, a packet may arrive
 * as late as the peer can hold the packets that overtake it, so the slower link takes the excess
 * as soon as the fast one is backlogged. At low load every queue is empty and the exactly earliest
 * link carries everything (sendpath.ts's tie rule). This replaced a fixed weight (a tenth of the
 * spread) tuned on lab scenario 3, which overflowed the peer's 64 packets at higher rates and
 * left the slower link idle in most of the sweep (docs/scheduler.md, "Unequal delays: what the
 * peer can hold"). Without a reorder buffer none of it counts: the peer's delay equaliser holds
 * what comes over faster links (equaliser.ts).
 */
import { ACK_DELAY_MS } from "./ackstate.ts";
import { MIN_INFLIGHT_BYTES, QUEUE_RTT_SLACK_MS } from "./estimator.ts";
import type { Link } from "./link.ts";
import { smoothedOwdMs } from "./link.ts";
import { reorderMaxSpan } from "./reorder.ts";

/** Of the peer's reorder span, the share given to the links' delay spread; the rest is left for jitter and for holes awaiting a resend. */
const LATE_SHARE = 0.5;


/** A link's one-way delay as the scheduler counts it: half its minimum RTT once measured. */
export function owd(l: Link): number {
  const min = l.sender.estimator.minRttMs;
  if (Number.isFinite(min)) return min / 2;
  return smoothedOwdMs(l);
}

/**
 * How much later than its minimum RTT says a link delivers now, when our own traffic cannot be
 * why: a path whose delay jumped (a route change, a handover, another host filling the modem's
 * buffer). The minimum is kept over 10 s (queuesignal.ts MIN_RTT_WINDOW_MS), so for that long the
 * scheduler took such a link for as fast as before; with the buffer at 64 its lateness
 * allowance (below) even let a trickle of packets 280 ms late on it, each one holding the whole
 * stream at the peer: 20+20 Mbit/s with one link's delay 20 → 300 ms gave 10-14 Mbit/s (BBR),
 * 0-8 (CUBIC), below the other link alone (test/sim/delayjump.sim.test.ts). Counted only:
 * - above EXCESS_RTT_FACTOR × the minimum + EXCESS_SLACK_MS: more than startup's cap holds on a
 *   path of 20 ms or more (STARTUP_GAIN bandwidth-delay products and their headroom: 2.5 RTTs and
 *   10 ms), and the cycle's is a quarter of an RTT and 5 ms each way; the slack is the peer's
 *   acknowledgement hold plus the timer slack the queue signal allows (sub-ms paths);
 * - with no more of ours in flight on the link than the in-flight cap's floor: a link we fill
 *   has a queue of our own, which its estimator follows (a capacity drop: capacitydrop.sim.test.ts);
 * - on the lower of the smoothed and the latest RTT, so that the first sample back to normal
 *   (keepalives sample every link each second) ends it.
 * Not counted against the lateness allowance: that covers the spread the peer's buffer absorbs,
 * not a path that is suddenly slow.
 */
/** Three minimum RTTs (STARTUP_GAIN × 1.5, as the rule was measured when the cap was 1.5 products). */
const EXCESS_RTT_FACTOR = 3;
const EXCESS_SLACK_MS = ACK_DELAY_MS + QUEUE_RTT_SLACK_MS;
const EXCESS_MAX_INFLIGHT_BYTES = MIN_INFLIGHT_BYTES;

export function delayExcessMs(l: Link): number {
  if (l.rtt.samples === 0 || l.sender.inflightBytes > EXCESS_MAX_INFLIGHT_BYTES) return 0;
  const rtt = Math.min(l.rtt.smoothed, l.rtt.latest);
  return Math.max(0, rtt - EXCESS_RTT_FACTOR * l.sender.estimator.minRttMs - EXCESS_SLACK_MS) / 2;
}

export class Spread {
  /** The peer's reorder buffer: the most it holds past a hole (0: none). */
  private readonly peerSpanMax: number;

  /** Whether the peer has a reorder buffer that holds packets behind a hole until its resend comes. */
  get peerReorders(): boolean {
    return this.peerSpanMax > 0;
  }

  constructor(peerReorderPackets: number) {
    this.peerSpanMax = peerReorderPackets > 0 ? reorderMaxSpan(peerReorderPackets) : 0;
  }

  /**
   * How late (ms) a packet sent on `l` may arrive behind later-numbered packets and still reach
   * the peer's TCP in order. The peer's reorder buffer holds what arrives within one hold time
   * (reorder.ts: its span follows the arrival rate up to reorderMaxSpan, and the hold time covers
   * the links' delay spread), so while `l`'s packet is awaited it can keep what the links of
   * shorter delay deliver meanwhile, up to that ceiling. Links stalled, excluded or of another priority tier do not count.
   */
  lateAllowanceMs(l: Link, links: readonly Link[], tier: number | undefined, exclude: Link | undefined, packetBytes: number): number {
    // No reorder buffer: the peer's delay equaliser (equaliser.ts) still lines every link up with
    // the slowest one carrying data, so a packet arrives at that timing whichever link it takes:
    // only the wait behind a link's queue tells links apart. (Before the equaliser worked without
    // a buffer, this allowed TCP's own tolerance, one RTT of the faster link, and a stream over
    // links of unequal delay kept to the faster one: 0.25-0.95 × the best link alone.)
    if (this.peerSpanMax <= 0) return Number.POSITIVE_INFINITY;
    const d = owd(l);
    let earlier = 0; // bytes per ms
    for (const o of links) {
      if (o === l || o.stalled || o === exclude || (tier !== undefined && o.settings.priority !== tier)) continue;
      if (owd(o) < d) earlier += o.sender.estimator.bandwidth;
    }
    return earlier > 0 ? (LATE_SHARE * this.peerSpanMax * packetBytes) / earlier : Number.POSITIVE_INFINITY;
  }
}
