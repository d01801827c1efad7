/**
 * The health rules, checked on every link once per tick (docs/protocol.md "Timing"): when a
 * client needs new keys (rekey policy, silence), when a link is down for silence (MLVPN's
 * `timeout`), when a session is too old to use, and when a link is lossy or slow and back
 * (MLVPN's tolerances: docs/c-mlvpn.md, "Loss and latency tolerances"). Pure functions of a link's state and the time;
 * the tunnel applies what they say.
 */
import { ACK_DELAY_MS } from "./ackstate.ts";
import { HEALTH_TICK_MS, REJECT_AFTER_MS, REKEY_AFTER_MESSAGES, SILENCE_REHANDSHAKE_MS } from "./constants.ts";
import { type Link, LinkStatus } from "./link.ts";
import { stallTimeoutMs } from "./sendpath.ts";
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
 * When this link's next keepalive of ours is due (docs/protocol.md "Timing"). Each keepalive is a
 * request the peer acknowledges at once (receive.ts), which proves the link both ways to its
 * sender and the sender's liveness to the peer: one request and one answer per link and tick.
 * The client leads: its keepalive goes every tick. The server follows: a keepalive of the client's
 * stands for its own, which waits for as long as the client's keep coming, a tick apart plus
 * keepaliveSlackMs; when they stop, the server's goes then, so that a cut is found from both ends.
 * A fixed role, not "whoever sends first": two ends postponing for each other's keepalives
 * stay crossed for good when they once cross.
 */
export function keepaliveAtMs(link: Link, follower: boolean): number {
  const own = link.keepaliveSentMs + HEALTH_TICK_MS;
  return follower ? Math.max(own, link.peerKeepaliveMs + HEALTH_TICK_MS + keepaliveSlackMs(link)) : own;
}

/**
 * How late the leader's keepalive may come before the follower sends its own: four times the
 * smoothed deviation of their arrivals from a tick apart (as a retransmission timeout allows
 * four RTT deviations; the leader's timer and the path's jitter both show in it), at least the
 * two acknowledgement delays a stall timeout allows; a stall timeout until two have arrived.
 * Too short costs one extra exchange when it happens, never a missed cut.
 */
export function keepaliveSlackMs(link: Link): number {
  const jitter = link.peerKeepaliveJitterMs;
  return jitter === undefined ? stallTimeoutMs(link) : Math.max(2 * ACK_DELAY_MS, 4 * jitter);
}

/**
 * Whether the health tick sends this link a keepalive: when it is due (keepaliveAtMs) or would be
 * within half a tick (so that the keepalives of links that came up at different moments join one
 * tick, one wake-up, instead of each keeping a phase of its own); on the following end only once
 * the leader's is overdue, or when the receive loss it would report (a whole percent) is not what
 * it last reported: the leader's keepalives carry its report every tick, the follower's when it
 * changes, so that both ends still judge a link by the loss of both directions.
 */
export function keepaliveDue(link: Link, nowMs: number, follower: boolean): boolean {
  if (!follower) return nowMs - link.keepaliveSentMs >= HEALTH_TICK_MS / 2;
  if (nowMs - link.keepaliveSentMs >= HEALTH_TICK_MS / 2 && nowMs >= keepaliveAtMs(link, true)) return true;
  return Math.round(link.loss.percent() ?? 0) !== Math.round(link.lossReportedPercent ?? 0);
}

/**
 * Follower: when the leader counts as gone silent on this link, so that the follower stalls it
 * (lifecycle.ts) instead of waiting a stall timeout more for an answer to its own keepalive:
 * nothing at all heard on it for a tick plus keepaliveSlackMs, while the leader's keepalives
 * come every tick. Infinity before the leader's first keepalive, and while the link is stalled.
 */
export function leaderSilentAtMs(link: Link): number {
  if (link.stalled || !Number.isFinite(link.peerKeepaliveMs)) return Number.POSITIVE_INFINITY;
  return link.lastRecvMs + HEALTH_TICK_MS + keepaliveSlackMs(link);
}

/**
 * A peer probe arrived (it has unacknowledged packets on this link or heard nothing on it):
 * the follower, whose only traffic on an idle link is its answers, sends a keepalive of its own
 * (at most one per tick), so that it finds a cut of its own direction as the leader's probes
 * find the other.
 */
export function probeAnswered(link: Link, nowMs: number, follower: boolean): boolean {
  return follower && nowMs - link.keepaliveSentMs >= HEALTH_TICK_MS;
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
