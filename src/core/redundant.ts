/**
 * Redundant mode (`[general] redundant = "<pcap-filter expression>"`, README "Redundant mode"):
 * each packet read from the tun that matches is sent at once on `redundant_copies` links, the
 * ones where it is expected to arrive first, and the receiver delivers the first copy and drops
 * the others. What a call or a game loses to a link that dies is then what the other links lose.
 *
 * Sequencing (docs/protocol.md "Transport"): a copy is a REDUNDANT message, sealed like any
 * other under its link's session, so each copy has its own per-link counter (the replay window
 * and the link's loss and RTT accounting see an ordinary message: a copy lost with its link is
 * that link's loss, a copy that arrives is acknowledged). The copies of one packet share a
 * redundant sequence number, a counter of their own for the tunnel: not the data sequence, so
 * the reorder buffer never waits for them nor sees them twice, and nothing is resent (the other
 * copies are the resend). The receiver remembers the last REDUNDANT_MEMORY sequences it
 * delivered (a window like the replay window's) and drops a copy it already delivered, counting
 * it in `duplicates_dropped`: a duplicate here is expected, not an attack (an attacker's
 * replays are stopped earlier, by the per-link replay window).
 *
 * Capacity: copies skip the pacing queues, like the express lane, within REDUNDANT_SHARE of the
 * capacity of the links that carry them (every copy counts); past it, a matching packet takes
 * the normal path, once, so a flood that matches cannot crowd out the rest.
 */
import type { GeneralConfig } from "../config/schema.ts";
import { compileFilter, type PacketFilter } from "../filter/index.ts";
import { type Link, smoothedOwdMs } from "./link.ts";
import { ReplayWindow } from "./replay.ts";

/** Copies may take at most this share of the capacity of the links that carry them (every copy counts). */
export const REDUNDANT_SHARE = 0.25;
/**
 * A link that carried a copy keeps its standing queue short this long after (estimator.ts
 * keepQueueShort): a call's next packet comes within tens of ms, a game's too.
 */
const SHORT_QUEUE_HOLD_MS = 1000;
/** Bytes of copies that may go at once before the share applies (like the express lane's burst). */
const REDUNDANT_BURST_BYTES = 32 * 1024;
/** Delivered sequences the receiver remembers: copies arrive within the links' delay spread, far fewer packets apart. */
export const REDUNDANT_MEMORY = 4096;

/** The configuration compiled: what matches, and on how many links it goes. */
export interface RedundantRules {
  filter: PacketFilter | undefined;
  copies: number;
}

export const NO_REDUNDANCY: RedundantRules = { filter: undefined, copies: 2 };

/** Compiles the validated `[general]` keys (the configuration checked the expression: this does not throw for it). */
export function compileRedundant(g: Pick<GeneralConfig, "redundant" | "redundant_copies" | "tuntap">): RedundantRules {
  const expression = g.redundant?.trim();
  return { filter: expression ? compileFilter(expression, g.tuntap === "tap" ? "ether" : "raw") : undefined, copies: g.redundant_copies };
}

/** Counters for the status (`/status` "redundant"). */
export interface RedundantStats {
  /** Packets that matched and went out as copies. */
  packets: number;
  /** Copies sent (each on its own link). */
  copiesSent: number;
  /** Packets that matched but went the normal way: over the capacity share, or no link to send on. */
  overShare: number;
  /** Received: first copies delivered, later copies dropped. */
  delivered: number;
  duplicatesDropped: number;
}

/** The expected one-way delay of a packet that skips our queues: half the smoothed RTT (queues in the path included). */
const expectedDelay = smoothedOwdMs;

/** Better first: a lower priority, then an earlier expected arrival. */
function better(a: Link, b: Link): boolean {
  const pa = a.settings.priority;
  const pb = b.settings.priority;
  return pa !== pb ? pa < pb : expectedDelay(a) < expectedDelay(b);
}

export interface RedundancyHost {
  /** Every link that is up with keys. */
  active(): readonly Link[];
  /** The links the scheduler may use now (a resting fallback link is not among them). */
  candidates(): readonly Link[];
  /** Seals and sends one copy on `link`. */
  send(link: Link, seq: number, packet: Uint8Array): void;
}

export class Redundancy {
  private rules: RedundantRules;
  private seq = 0;
  private tokens = REDUNDANT_BURST_BYTES;
  private refilledMs = Number.NEGATIVE_INFINITY;
  /** The links chosen for the packet being sent (reused: no array per packet). */
  private readonly chosen: Link[] = [];
  private readonly seen = new ReplayWindow(REDUNDANT_MEMORY);
  private seenInstance: number | undefined;
  readonly stats: RedundantStats = { packets: 0, copiesSent: 0, overShare: 0, delivered: 0, duplicatesDropped: 0 };

  constructor(
    private readonly host: RedundancyHost,
    rules: RedundantRules = NO_REDUNDANCY,
  ) {
    this.rules = rules;
  }

  /** New rules (a reload): in effect from the next packet. */
  setRules(rules: RedundantRules): void {
    this.rules = rules;
  }

  /**
   * A packet read from the tun: when it matches, its copies go out on the best `copies` links
   * that are up with keys, not stalled and not a resting fallback link (every link stalled:
   * on the stalled ones, which may only be slow to answer). False, nothing sent:
   * no match, over the share or no link; the packet takes the normal path.
   */
  take(packet: Uint8Array, nowMs: number): boolean {
    const filter = this.rules.filter;
    if (filter === undefined || !filter.match(packet)) return false;
    const chosen = this.choose(this.host.active(), this.host.candidates());
    if (chosen.length === 0) return this.overShare();
    let capacity = 0; // bytes per ms
    for (const l of chosen) capacity += l.sender.estimator.bandwidth;
    const elapsed = Number.isFinite(this.refilledMs) ? Math.max(0, nowMs - this.refilledMs) : 0;
    this.tokens = Math.min(REDUNDANT_BURST_BYTES, this.tokens + REDUNDANT_SHARE * capacity * elapsed);
    this.refilledMs = nowMs;
    const cost = packet.length * chosen.length;
    if (this.tokens < cost) return this.overShare();
    this.tokens -= cost;
    const seq = this.seq++;
    for (const l of chosen) {
      this.host.send(l, seq, packet);
      l.sender.estimator.keepQueueShort(nowMs + SHORT_QUEUE_HOLD_MS);
    }
    this.stats.packets++;
    this.stats.copiesSent += chosen.length;
    return true;
  }

  /**
   * A REDUNDANT message received from the peer process `peerInstance`: true for the first copy
   * of its sequence (deliver it), false for a later one (dropped and counted).
   */
  receive(seq: number, peerInstance: number | undefined): boolean {
    // A restarted peer counts from 0 again: what the old one sent says nothing about it.
    if (peerInstance !== this.seenInstance) {
      this.seen.reset();
      this.seenInstance = peerInstance;
    }
    if (!this.seen.mark(seq)) {
      this.stats.duplicatesDropped++;
      return false;
    }
    this.stats.delivered++;
    return true;
  }

  private overShare(): false {
    this.stats.overShare++;
    return false;
  }

  /**
   * The best `copies` links by (priority, expected arrival), by selection: copies and links are
   * few. A stalled link is left out while another can send: a copy there would most likely be
   * lost, and its acknowledgement missing would keep the link's estimate down once it answers.
   */
  private choose(active: readonly Link[], candidates: readonly Link[]): readonly Link[] {
    const chosen = this.chosen;
    chosen.length = 0;
    this.pick(active, candidates, false);
    if (chosen.length === 0) this.pick(active, candidates, true);
    return chosen;
  }

  private pick(active: readonly Link[], candidates: readonly Link[], stalled: boolean): void {
    const chosen = this.chosen;
    while (chosen.length < this.rules.copies) {
      let best: Link | undefined;
      for (const l of active) {
        if (l.current === undefined || l.stalled !== stalled || chosen.includes(l)) continue;
        if (l.settings.fallbackOnly && !candidates.includes(l)) continue;
        if (!best || better(l, best)) best = l;
      }
      if (!best) return;
      chosen.push(best);
    }
  }
}
