/**
 * The health rules, checked on every link once per tick (docs/protocol.md "Timing"): when a
 * client needs new keys (rekey policy, silence), when a link is down for silence (MLVPN's
 * `timeout`), when a session is too old to use, and when a link is lossy or slow and back
 * (MLVPN's tolerances: docs/c-mlvpn.md, "Loss and latency tolerances"). Pure functions of a link's state and the time;
 * the tunnel applies what they say.
 */
import { HEALTH_TICK_MS, REJECT_AFTER_MS, REKEY_AFTER_MESSAGES, SILENCE_REHANDSHAKE_MS } from "./constants.ts";
import { type Link, LinkStatus } from "./link.ts";
import type { Session } from "./session.ts";

/**
 * Client: whether this link needs a handshake now: not up or without keys, silent longer than a
 * tick plus max(SILENCE_REHANDSHAKE_MS, 2·srtt) (a restarted server is found again this way), or
 * its keys due for renewal by age (`rekey_interval`, the session's rekeyAfterMs) or use.
 */
export function needsHandshake(link: Link, nowMs: number): boolean {
  const s = link.current;
  if (!link.isUp || !s) return true;
  return nowMs - link.lastRecvMs > silenceMs(link) || nowMs - s.createdMs > s.rekeyAfterMs || s.messagesSent > REKEY_AFTER_MESSAGES;
}

/**
 * How long a link may be silent before its peer counts as gone: a tick plus
 * max(SILENCE_REHANDSHAKE_MS, 2·srtt). A client then handshakes again; a server then lets the
 * link's peer address move (peers.ts).
 */
export function silenceMs(link: Link): number {
  return HEALTH_TICK_MS + Math.max(SILENCE_REHANDSHAKE_MS, 2 * link.rtt.smoothed);
}

/** Silent for longer than its `timeout`: how long, else undefined. */
export function silentPastTimeout(link: Link, nowMs: number): number | undefined {
  const silent = nowMs - link.lastRecvMs;
  return silent > link.settings.timeoutMs ? silent : undefined;
}

/**
 * Whether the health tick sends this link a keepalive: not when one went less than a tick ago,
 * which is the case when we answered the peer's (keepaliveAnswered). Both ends then keep to one
 * exchange per link and tick, the peer's keepalive and our answer, in one wake-up of ours, as
 * MLVPN does, instead of two exchanges at unrelated phases (docs/protocol.md "Timing").
 */
export function keepaliveDue(link: Link, nowMs: number): boolean {
  return nowMs - link.keepaliveSentMs >= HEALTH_TICK_MS;
}

/**
 * A peer keepalive just arrived: answer it with ours now when ours went half a tick ago or more
 * (the answer to one of ours comes within the RTT and is not answered again). The first end to
 * send after the other leads; the other answers and its tick finds nothing due.
 */
export function keepaliveAnswered(link: Link, nowMs: number): boolean {
  return nowMs - link.keepaliveSentMs >= HEALTH_TICK_MS / 2;
}

/** Sessions are never used past REJECT_AFTER_MS, whatever happens. */
export function sessionExpired(s: Session, nowMs: number): boolean {
  return nowMs - s.createdMs > REJECT_AFTER_MS;
}

/**
 * Lossy and slow links and back: the status an up link should move to, or undefined to stay.
 * A check turned off (by a reload, maybe while the link is lossy or slow) brings it back.
 */
export function toleranceStatus(link: Link): LinkStatus | undefined {
  const { lossTolerancePercent: maxLoss, latencyToleranceMs: maxRtt } = link.settings;
  const status = link.status;
  // A stalled link is already out of use; its blackout is not "loss".
  if (!link.stalled) {
    const loss = link.lossPercent();
    if (status === LinkStatus.AuthOk && maxLoss !== undefined && loss >= maxLoss) return LinkStatus.Lossy;
    if (status === LinkStatus.Lossy && (maxLoss === undefined || loss < maxLoss)) return LinkStatus.AuthOk;
  }
  const srtt = link.srttMs;
  if (status === LinkStatus.AuthOk && maxRtt !== undefined && srtt !== undefined && srtt >= maxRtt) return LinkStatus.HighLatency;
  if (status === LinkStatus.HighLatency && (maxRtt === undefined || (srtt ?? 0) < maxRtt)) return LinkStatus.AuthOk;
  return undefined;
}
