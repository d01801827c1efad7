/**
 * A link a reload removed keeps receiving until its peer has seen the DISCONNECT: the peer
 * chooses the link for its packets until the DISCONNECT arrives, and what it sent meanwhile
 * would meet a closed port (small packets take the express lane, which is never resent). The
 * leaving link sends nothing new (out of scheduling at once); it acknowledges what still
 * arrives, sends the DISCONNECT again while unanswered, and is gone (its socket closed by the
 * shell) once the peer acknowledges a DISCONNECT (receive.ts acknowledges one at once), sends
 * its own, or the bound below passes (docs/protocol.md, Transport, "Leaving a link").
 */
import { HEALTH_TICK_MS, SUSPECT_AFTER_MS } from "./constants.ts";
import { type Link, smoothedOwdMs } from "./link.ts";

/**
 * A leaving link is held at most this long: a peer that never heard the DISCONNECT stops
 * choosing a link silent this long (constants.ts), and an older build never acknowledges one.
 */
export const DEPARTURE_MAX_MS = SUSPECT_AFTER_MS;
/** And at least this long: a peer whose CPU is busy may read its socket that late, and still answers a keepalive each tick. */
export const DEPARTURE_MIN_MS = HEALTH_TICK_MS;
/** Within the bounds, this many RTOs: the DISCONNECT sent again at 1, 3 and 7 RTOs (backing off). */
const DEPARTURE_RTOS = 8;

/** RFC 6298's RTO from the link's RTT (smoothed + 4 × variance); before any sample, what a first sample of the default one-way delay would give. */
export function departureRtoMs(link: Link): number {
  const r = link.rtt;
  return r.samples > 0 ? r.smoothed + 4 * r.variance : 3 * 2 * smoothedOwdMs(link);
}

/** How long a leaving link may wait for the peer's acknowledgement. */
export function departureBoundMs(link: Link): number {
  return Math.min(DEPARTURE_MAX_MS, Math.max(DEPARTURE_MIN_MS, DEPARTURE_RTOS * departureRtoMs(link)));
}

export interface Departure {
  readonly link: Link;
  /** The first DISCONNECT's transport counter: an acknowledgement of it or a later one ends the wait. */
  readonly counter: number;
  readonly sinceMs: number;
  readonly untilMs: number;
  /** When the DISCONNECT goes again, and the wait before the next (doubled each time). */
  resendMs: number;
  rtoMs: number;
}

export function newDeparture(link: Link, counter: number, nowMs: number): Departure {
  const rtoMs = departureRtoMs(link);
  return { link, counter, sinceMs: nowMs, untilMs: nowMs + departureBoundMs(link), resendMs: nowMs + rtoMs, rtoMs };
}

/** Whether a FEEDBACK whose highest counter is `highestLow32` acknowledges the DISCONNECT (counters compared modulo 2^32). */
export function acknowledgesDisconnect(d: Departure, highestLow32: number): boolean {
  return ((highestLow32 - d.counter) | 0) >= 0;
}

/** When a departure next needs the timer: its bound, the DISCONNECT again, or a due acknowledgement. */
export function departureDeadline(d: Departure): number {
  return Math.min(d.untilMs, d.resendMs, d.link.acks.dueMs);
}
