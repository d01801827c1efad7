/**
 * Who the peer is and where: its process instance (a new one means it restarted: its data
 * sequence starts again and its old sessions are dead) and each link's peer address. Only a
 * server's links move, and only on an authenticated packet of the current session newer than all
 * before it (roaming, as WireGuard does; docs/protocol.md "Transport"); a client always sends to
 * its configured server address, re-resolved at every reconnect.
 */
import { silenceMs } from "./health.ts";
import type { Link, PeerAddress } from "./link.ts";

export type InstanceChange = "same" | "first" | "restarted";

export class PeerIdentity {
  /** The peer's instance id, once known. */
  instance: number | undefined;

  /**
   * A session with the peer's instance `instance` was established on `via`. On a restart,
   * every other link's sessions of the old instance are dropped (a client then renegotiates
   * them at its next health tick, which the caller brings forward).
   */
  note(instance: number, via: Link, links: readonly Link[]): InstanceChange {
    if (this.instance === instance) return "same";
    const restarted = this.instance !== undefined;
    this.instance = instance;
    if (!restarted) return "first";
    for (const other of links) {
      if (other !== via && other.current && other.current.peerInstance !== instance) other.dropSendingSessions();
    }
    return "restarted";
  }
}

/**
 * Server: an authenticated packet of the link's current session, newer than all before it, came
 * from `from`. The peer moves there only if its address has been silent (no authenticated
 * packet, duplicates included) for as long as makes a client handshake again (health.ts
 * `silenceMs`): a NAT that rebound leaves the old address silent, whereas an attacker replaying
 * the client's packets — faster than the path, or ones whose original was lost — leaves it alive,
 * since the client goes on sending from there (docs/protocol.md "Threat model"). `force`: move
 * whatever the old address does (the first session, or a restarted client's).
 * Returns where the peer was if it moved, else undefined.
 */
export function roam(link: Link, from: PeerAddress, nowMs: number, force = false): PeerAddress | undefined {
  const p = link.peer;
  if (link.isPeer(from)) {
    // Authenticated, from where the link sends: the peer is there. A rekey's handshake after a
    // cut longer than the silence time must say so, or the first packet of the new session that
    // an attacker relays faster than the path (or whose original it kept) would move the link.
    link.peerAlive(nowMs);
    return undefined;
  }
  if (p && !force && nowMs - link.peerHeardMs <= silenceMs(link)) return undefined;
  link.movePeer(from, nowMs);
  return p;
}
