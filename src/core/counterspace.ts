/**
 * The receiving side's view of the peer's transport counters across its sessions. A peer
 * continues its counters in a new session of the same process (link.ts `install`), so that what
 * was in flight at a rekey is still acknowledged and its losses found: the counters of the old
 * and the new session are then one sequence, and a late packet of the old session is simply an
 * older counter of it. A peer that starts the new session from 0 (a restart, or an older mlvpn)
 * starts a new sequence: what was measured on the old one is forgotten, and its late packets
 * are not counted any more.
 */
export const SAME = 0;
export const RESTART = 1;
export const STALE = 2;
export type CounterSpaceChange = typeof SAME | typeof RESTART | typeof STALE;

export class CounterSpace {
  private session = -1;
  private previous = -1;
  /** The previous session's counters were another sequence (restarted): its late packets are ignored. */
  private previousStale = false;

  /**
   * A packet of `session` with `counter`, when the highest counter seen so far is `highest`:
   * SAME when it belongs to the current sequence (continued, or a late packet of the session
   * before), RESTART when a new sequence starts with it, STALE for a late packet of a sequence
   * already left behind.
   */
  enter(session: number, counter: number, highest: number): CounterSpaceChange {
    if (session === this.session) return SAME;
    if (session === this.previous) return this.previousStale ? STALE : SAME;
    // A session's first packet: a continued sequence goes on above everything the old one sent.
    const restart = counter <= highest;
    this.previous = this.session;
    this.previousStale = restart;
    this.session = session;
    return restart ? RESTART : SAME;
  }
}
