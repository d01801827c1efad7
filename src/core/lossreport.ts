/**
 * Loss reports: the acknowledgement that shows a link's loss, sent again on a faster link.
 *
 * A link's FEEDBACK travels back on the link itself, so the sender learns of a loss one round
 * trip of that link after sending. On links of unequal delay (fibre + satellite, ADSL + LTE) the
 * receiver's reorder buffer holds everything behind the hole meanwhile, gives it up before the
 * resend comes, and TCP sees the loss at the slower link's round trip: 1 % loss on a 150 ms link
 * took one TCP stream to 5-17 % of the faster link alone (test/sim/sweep.sim.test.ts). The
 * receiver sees the loss as soon as the next packet on that link arrives (link.ts resendDueMs);
 * the same acknowledgement, sent at once on the link of shortest delay, has the packet sent
 * again one short round trip later, on the earliest link and before its queue (sendpath.ts
 * onLossReport). The sender takes from it only the losses (linksender.ts lossesShown): its RTT
 * and rate samples would be of the other path.
 */
import type { Link } from "./link.ts";
import { owd } from "./spread.ts";

/**
 * A report is worth sending when it arrives in at most this share of the time the link's own
 * FEEDBACK takes to come back: links of about equal delay repair as fast either way, and a link
 * whose delay only grew by its own queue (a rate that fell) is better left to its own rules.
 */
const REPORT_SHARE = 0.5;

/**
 * The link to send `lossy`'s loss report on: the up, unstalled link of shortest one-way delay,
 * if that is at most REPORT_SHARE of `lossy`'s; undefined when none is.
 */
export function lossReportPath(lossy: Link, links: readonly Link[]): Link | undefined {
  let best: Link | undefined;
  let bestOwd = REPORT_SHARE * owd(lossy);
  for (const l of links) {
    if (l === lossy || l.stalled || !l.isUp) continue;
    const d = owd(l);
    if (d <= bestOwd) (bestOwd = d), (best = l);
  }
  return best;
}
