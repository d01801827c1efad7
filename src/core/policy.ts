/**
 * Which links carry data, and how long the receiver holds a gap: small rules over the links'
 * measured state, shared by the tunnel and the simulations that drive the core without it.
 */
import { ACK_DELAY_MS } from "./ackstate.ts";
import { REORDER_HOLD_MAX_MS, REORDER_HOLD_MIN_MS, SUSPECT_AFTER_MS, TCP_MIN_RTO_MS } from "./constants.ts";
import { type Link, LinkStatus } from "./link.ts";

/**
 * Which links carry data: up links with keys, preferring those heard from recently; among
 * them healthy normal links, else healthy fallback links, else degraded ones — never none
 * while some link is up (the C scheduler could end up empty: docs/c-mlvpn.md, "Weaknesses" #19).
 */
export function chooseCarriers(links: readonly Link[], nowMs: number, keyed: (l: Link) => boolean): Link[] {
  const up = links.filter((l) => l.isUp && keyed(l));
  const fresh = up.filter((l) => nowMs - l.lastRecvMs <= SUSPECT_AFTER_MS);
  const pool = fresh.length > 0 ? fresh : up;
  const healthy = pool.filter((l) => l.status === LinkStatus.AuthOk);
  return (
    pick(healthy, (l) => !l.config.fallback_only) ??
    pick(healthy, (l) => l.config.fallback_only) ??
    pick(pool, (l) => !l.config.fallback_only) ??
    pool
  );
}

function pick(links: Link[], keep: (l: Link) => boolean): Link[] | undefined {
  const r = links.filter(keep);
  return r.length > 0 ? r : undefined;
}

/**
 * How long the receiver holds a gap: the delay spread between links plus jitter, plus the time
 * a lost packet takes to be detected and sent again (one RTT of the fastest link). Undefined
 * before any link has an RTT sample. What waits for jitter and a resend is at most TCP's
 * shortest retransmission timeout (TCP_MIN_RTO_MS): a link whose RTT varies by hundreds of ms
 * (LTE) made holds of 400+ ms, and TCP timed out behind them.
 */
export function reorderHoldMs(links: readonly Link[]): number | undefined {
  const measured = links.filter((l) => l.isUp && l.rtt.samples > 0);
  if (measured.length === 0) return undefined;
  const srtts = measured.map((l) => l.rtt.smoothed);
  const jitter = Math.max(...measured.map((l) => l.rtt.variance));
  const spread = (Math.max(...srtts) - Math.min(...srtts)) / 2;
  const resend = Math.min(...srtts) + 2 * ACK_DELAY_MS;
  return Math.min(REORDER_HOLD_MAX_MS, Math.max(REORDER_HOLD_MIN_MS, Math.ceil(spread + Math.min(TCP_MIN_RTO_MS, 2 * jitter + resend))));
}

/** A link's `priority` (lower is preferred; 0 by default). */
export const priority = (l: Link): number => l.settings.priority;

/** The best priority above `after` among the links that can send now; undefined when none. */
export function nextTier(links: readonly Link[], after: number, exclude: Link | undefined): number | undefined {
  let tier: number | undefined;
  for (const l of links) {
    if (l.stalled || l === exclude) continue;
    const p = priority(l);
    if (p > after && (tier === undefined || p < tier)) tier = p;
  }
  return tier;
}
