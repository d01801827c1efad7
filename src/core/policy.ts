/**
 * Which links carry data, and how long the receiver holds a gap: small rules over the links'
 * measured state, shared by the tunnel and the simulations that drive the core without it.
 */
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
 * How long the receiver holds a gap. Sequenced packets are sent to arrive together whatever link
 * carries them (sendpath.ts), so a gap that lasts longer than the links' delay varies is a loss:
 * the hold covers that variation (4 × the RTT variation, as an RTO does, of the most variable
 * link) and no more. A lost packet is then left to TCP, which tolerates late or lost segments
 * far better than a stream that stops for a round trip at each loss (at 1 % loss on a link the
 * stops would overlap); the tunnel's own resend still arrives, late, and is delivered. Packet
 * count is only the buffer's memory cap. Undefined before any link has an RTT sample.
 */
export function reorderHoldMs(links: readonly Link[]): number | undefined {
  const measured = links.filter((l) => l.isUp && l.rtt.samples > 0);
  if (measured.length === 0) return undefined;
  let variation = 0;
  for (const l of measured) variation = Math.max(variation, 4 * l.rtt.variance);
  return Math.min(REORDER_HOLD_MAX_MS, Math.max(REORDER_HOLD_MIN_MS, Math.ceil(variation)));
}
