/**
 * When a packet sent on a link counts as lost: the rules both ends apply, the sender to its
 * acknowledgements (linksender.ts) and the receiver to the counters it sees missing (link.ts
 * resendDueMs), so that the receiver's reorder buffer waits for the resend the sender will make.
 */

/** A packet is lost once this many later ones were acknowledged (as TCP's dupack threshold). */
export const REORDER_THRESHOLD = 3;

/**
 * ... or once a packet sent this long after it on the link was acknowledged (RFC 8985's
 * reordering window, a quarter of the minimum RTT): a link is one path, so a later packet
 * acknowledged shows the earlier one lost within one round trip of it however few packets the
 * link carries, not REORDER_THRESHOLD packets later. The receiver's reorder buffer waits for
 * the resend by the same rule (link.ts resendDueMs). Infinite before any RTT sample.
 */
export function reorderWindowMs(minRttMs: number): number {
  return minRttMs / 4;
}
