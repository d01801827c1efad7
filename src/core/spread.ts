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

export class Spread {
  /** The peer's reorder buffer: the most it holds past a hole (0: none). */
  private readonly peerSpanMax: number;

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
