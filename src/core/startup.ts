/**
 * A link in startup (estimator.ts): its rate is not known yet and doubles each round while it has
 * traffic. Two rules for such a link, used by the send path (sendpath.ts):
 * - how long its queue really takes to leave (startupDrainMs), to pick the link a packet
 *   arrives on first;
 * - how fast its rate must grow to keep up with the TCP traffic it carries (startupGain).
 */
import { STARTUP_GAIN } from "./estimator.ts";

/**
 * How long a queue of `waitMs` at a link's pacing rate takes to leave while the link is in
 * startup: its estimate doubles each round (`roundMs`, the estimator's), so what waits past
 * the first round leaves at twice the rate, past the second at four times, and so on. Judged at
 * the rate of now, a link starting up from the guess (a fast link behind a shaper's bucket, whose
 * train read "too fast to tell") looked later than it would be, and a slower, measured link took
 * packets that then arrived behind later-numbered ones (docs/scheduler.md, "Shapers' buckets").
 */
export function startupDrainMs(waitMs: number, roundMs: number): number {
  const k = Math.floor(Math.log2(waitMs / roundMs + 1));
  return k * roundMs + (waitMs - roundMs * (2 ** k - 1)) / 2 ** k;
}

/**
 * The pacing gain a link in startup needs while packets wait for its pacer, for a link `owdMs`
 * away when the nearest link of the tunnel is `minOwdMs` away: 2 ** (its round ÷ TCP's round).
 *
 * Startup doubles the link's rate each of its own rounds (its RTT). A TCP in slow start doubles
 * its window each of *its* rounds, and its acknowledgements come back on the nearest link (the
 * express lane), so its round trip can be as short as this link's one-way delay plus the nearest
 * one's: half this link's RTT when the other link is near. Paced at 2, such a link fell behind
 * the TCP it carried, a queue built on our side, and HyStart took that queue for the path's and
 * ended TCP's slow start at a fraction of the sum (100 + 5 Mbit/s at 40 + 2 ms behind shapers'
 * buckets, CUBIC: slow start ended at 188 packets, where the path holds ~750, and the stream
 * stayed at 46 Mbit/s for 9 s). Equal delays need 2, as before; a far link beside a near one up
 * to 4 (a TCP round half the link's). docs/scheduler.md, "Startup behind TCP's slow start".
 */
export function startupGain(owdMs: number, minOwdMs: number): number {
  // The exponent is at most 2 (TCP's round is at least half the link's); NaN (no delays): doubling.
  const gain = STARTUP_GAIN ** ((2 * owdMs) / (owdMs + minOwdMs));
  return gain > STARTUP_GAIN ? Math.min(STARTUP_GAIN ** 2, gain) : STARTUP_GAIN;
}
