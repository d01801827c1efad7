/**
 * The `/status` JSON document: the contract shared by the control server (which builds it), the
 * live status page and `mlvpn status` (which read it), and existing MLVPN dashboards.
 *
 * Every field of the C MLVPN 2.3.5 (docs/c-mlvpn.md, "Control interface") keeps its name and JSON type; unlike C the
 * values are real (pid, version, configured bandwidth) and strings are escaped. Our own fields
 * are added next to them; the C ones are never renamed or retyped.
 */

/** MLVPN's state texts (docs/c-mlvpn.md, "Link states"). */
export type LinkStatusText = "disconnected" | "waiting peer" | "connected" | "lossy link" | "slow link";

export interface StatusTunnel {
  // ---- C MLVPN fields (same names, same JSON types)
  name: string;
  mode: "client" | "server";
  /** Configured strings, "" when unset. */
  bindaddr: string;
  bindport: string;
  destaddr: string;
  destport: string;
  status: LinkStatusText;
  sentpackets: number;
  recvpackets: number;
  sentbytes: number;
  recvbytes: number;
  /** Configured `bandwidth_upload` in bytes per second (C printed 0 here), 0 when unset. */
  bandwidth: number;
  /** Smoothed RTT, ms, integer (0 before the first sample). */
  srtt: number;
  /** Loss of what this link receives, percent. */
  loss: number;
  disconnects: number;
  /** Unix epoch seconds of the last packet received on the link (start time before any). */
  last_packet: number;
  /** Seconds without an answer before the link is declared down. */
  timeout: number;

  // ---- mlvpn fields
  /** Unix epoch seconds (fractional) since which `status` holds. */
  status_since: number;
  /** RTT variation and smallest RTT seen recently, ms; null before the first sample. */
  rttvar: number | null;
  min_rtt: number | null;
  /** Estimated capacity of the path we send on, bits per second. */
  capacity_bps: number;
  /** Rate the sender paces at now, bits per second. */
  send_rate_bps: number;
  inflight_bytes: number;
  queued_packets: number;
  /** Loss of what we receive (measured) and of what we send (reported by the peer), percent; null if unknown. */
  loss_in: number | null;
  loss_out: number | null;
  /** Packets we sent on this link that were found lost (and resent elsewhere). */
  lost_packets: number;
  /** No acknowledgement for a few RTTs: left out of scheduling and probed. */
  stalled: boolean;
  /** Currently chosen for data (up, healthy, not a resting fallback link). */
  scheduled: boolean;
  /** Address of the peer in use, "" if none. */
  peer: string;
}

export interface StatusRedundant {
  /** Packets that matched `redundant` and went out as copies. */
  packets: number;
  /** Copies sent, on all links (about `packets` × `redundant_copies`). */
  redundant_sent: number;
  /** Matching packets sent the normal way (over the capacity share, or no link to send on). */
  over_share: number;
  /** Received: first copies delivered, later copies dropped. */
  delivered: number;
  duplicates_dropped: number;
}

export interface StatusReorder {
  /** Packets held at most this long waiting for a hole, ms. */
  hold_ms: number;
  /** Packets held at most past a hole now: what arrives within hold_ms, never below reorder_buffer_size. */
  span: number;
  delivered: number;
  /** Delivered after being held. */
  reordered: number;
  /** Holes given up on (their packets counted lost unless they come late). */
  holes_skipped: number;
  /** Delivered out of order: arrived after its hole was given up. */
  late: number;
  /** Dropped: the same sequence is held or was already delivered. */
  duplicates: number;
  /** Dropped: too old to know whether it was already delivered. */
  stale: number;
  /** Packets in the buffer now. */
  held: number;
  /** Packets that waited in the delay equaliser before the buffer (they came over a faster link). */
  equalised: number;
  /** The last of those waits, ms: the slowest carrier's one-way delay less the faster link's. */
  equalise_ms: number;
}

/** The delay equaliser (src/core/equaliser.ts): present whatever `reorder_buffer_size` is. */
export interface StatusEqualiser {
  /** Packets that waited before going on (they came over a faster link than the slowest carrying data). */
  equalised: number;
  /** The last of those waits, ms. */
  equalise_ms: number;
  /** Without a reorder buffer: packets that came after later-numbered ones had gone on (delivered out of order). */
  late: number;
}

export interface StatusDocument {
  // ---- C MLVPN fields
  /** Program name: "mlvpn". */
  name: string;
  /** mlvpn's version, e.g. "0.1.0" (C printed a constant "1.1"). */
  version: string;
  /** Process start time, Unix epoch seconds (C's name; it is not a duration). */
  uptime: number;
  /** Unix epoch seconds of the start or of the last successful reload. */
  last_reload: number;
  pid: number;
  tuntap: { type: "tun" | "tap"; name: string };
  /** One per link, in configuration order. */
  tunnels: StatusTunnel[];

  // ---- mlvpn fields
  /** `--name` of this instance. */
  instance: string;
  mode: "client" | "server";
  /** Wire protocol version. */
  protocol: number;
  /** Unix epoch seconds when this document was made (fractional). */
  now: number;
  /** Tunnel-level state: "up" when some link is up. */
  tunnel_status: "up" | "down";
  /** null when reordering is off (`reorder_buffer_size = 0`). */
  reorder: StatusReorder | null;
  equaliser: StatusEqualiser;
  /** Packets dropped on the data path, by reason (see src/core/stats.ts DROP_REASONS). */
  drops: Record<string, number>;
  /** Redundant mode (src/core/redundant.ts); every counter 0 while `redundant` is unset. */
  redundant: StatusRedundant;
  /** Control clients refused or cut off, by reason (src/control/server.ts CONTROL_REJECT_REASONS). */
  control_rejected: Record<string, number>;
  /** SIGHUP reloads refused (a file with errors, unreadable) or failed since the start. */
  reloads_refused: number;
  /** SIGHUP reloads applied since the start. */
  reloads_applied: number;
}
