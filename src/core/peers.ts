/**
 * Who the peer is and where: its process instance (a new one means it restarted: its data
 * sequence starts again and its old sessions are dead) and each link's peer address (moved
 * only by an authenticated packet newer than all before it: roaming, as WireGuard does;
 * docs/protocol.md "Transport").
 */
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

/** Moves a link's peer to `from` if it differs; returns where it was (undefined: unchanged or first). */
export function roam(link: Link, from: PeerAddress): PeerAddress | undefined {
  const p = link.peer;
  if (p && p.address === from.address && p.port === from.port) return undefined;
  link.movePeer(from);
  return p;
}
