/**
 * Which links carry data, and how long the receiver holds a gap: small rules over the links'
 * measured state, shared by the tunnel and the simulations that drive the core without it.
 */
import { ACK_DELAY_MS } from "./ackstate.ts";
import { REORDER_HOLD_MAX_MS, REORDER_HOLD_MIN_MS, SUSPECT_AFTER_MS } from "./constants.ts";
import { type Link, LinkStatus } from "./link.ts";

/**
 * Which links carry data: up links with keys, preferring those heard from recently; among
 * them healthy normal links, else healthy fallback links, else degraded ones — never none
 * while some link is up (the C scheduler could end up empty: reference §12 #19).
 */
export function chooseCarriers(links: readonly Link[], nowMs: number, keyed: (l: Link) => boolean): Link[] {
  const up = links.filter((l) => l.isUp && keyed(l));
  const fresh = up.filter((l) => nowMs - l.lastRecvMs <= SUSPECT_AFTER_MS);
  const pool = fresh.length > 0 ? fresh : up;
  const healthy = pool.filter((l) => l.status === LinkStatus.AuthOk);
  return pick(healthy, (l) => !l.config.fallback_only) ?? pick(healthy, (l) => l.config.fallback_only) ?? pick(pool, (l) => !l.config.fallback_only) ?? pool;
}

function pick(links: Link[], keep: (l: Link) => boolean): Link[] | undefined {
  const r = links.filter(keep);
  return r.length > 0 ? r : undefined;
}

/**
 * Packets the receiver may hold at most. The hold is bounded by time (reorderHoldMs); the count
 * only caps memory, so it is never below what arrives during a hold at the rates a pair of links
 * carries (a hold of a few hundred ms at 100 Mbit/s is about 3000 packets of 1400 bytes; 4096
 * of them are 6 MB). A larger reorder_buffer_size is kept as configured.
 */
export const REORDER_MEMORY_PACKETS = 4096;
export function reorderCapacity(configured: number): number {
  return Math.max(configured, REORDER_MEMORY_PACKETS);
}

/**
 * How long the receiver holds a gap: until a packet lost on any link has been sent again and
 * has arrived. Sequenced packets are sent to arrive together (sendpath.ts), so a gap is noticed
 * when the missing packet was due; its link finds the loss when later packets on it are
 * acknowledged, at the earliest one RTT (plus the peer's acknowledgement hold) after sending,
 * and the packet is then sent again on the fastest link. So the hold covers, for the slowest
 * link, its RTT + the acknowledgement hold + the fastest link's one-way delay − its own, and the
 * RTT variation of both (4 × rttvar, as an RTO does). Packet count is only the buffer's memory
 * cap. Undefined before any link has an RTT sample.
 */
export function reorderHoldMs(links: readonly Link[]): number | undefined {
  const measured = links.filter((l) => l.isUp && l.rtt.samples > 0);
  if (measured.length === 0) return undefined;
  let slowest = measured[0]!;
  let fastest = measured[0]!;
  for (const l of measured) {
    if (l.rtt.smoothed > slowest.rtt.smoothed) slowest = l;
    if (l.rtt.smoothed < fastest.rtt.smoothed) fastest = l;
  }
  const detect = slowest.rtt.smoothed + ACK_DELAY_MS;
  const resend = (fastest.rtt.smoothed - slowest.rtt.smoothed) / 2;
  const variation = 4 * Math.max(slowest.rtt.variance, fastest.rtt.variance);
  return Math.min(REORDER_HOLD_MAX_MS, Math.max(REORDER_HOLD_MIN_MS, Math.ceil(detect + resend + variation + 2 * ACK_DELAY_MS)));
}
