/**
 * Where each packet from the tun goes, and when: earliest-arrival scheduling over the links,
 * pacing at each link's estimated rate, loss recovery, and failover.
 *
 *   1. schedule: every sequenced packet is meant to arrive one delay spread after it came (the
 *      slowest link's extra one-way delay, measured): on a faster link it is held that long, so
 *      whatever link carries it, packets arrive in sequence and the links look like one link of
 *      their summed rate to TCP; among the links that meet that target the packet takes the one
 *      where it would arrive first (the fastest until its queue is as long as the spread, then
 *      the others by their rates). A packet that would wait longer than one round trip of the
 *      bonded path beyond the spread is dropped (so TCP slows down instead of our queues
 *      growing: latency under load stays near idle latency). Design: docs/scheduler.md
 *   2. pump: send from each link's queue as its pacer and in-flight cap allow
 *   3. feedback: the peer's acknowledgements update the link's estimate; data packets found
 *      lost are sent again (once) on the best link
 *   4. stall: a link with packets in flight and no acknowledgement for a few RTTs is taken out
 *      of scheduling at once; its queue and what it had in flight go to the other links, and
 *      it is probed until it answers
 */
import { ACK_DELAY_MS } from "./ackstate.ts";
import type { Link } from "./link.ts";
import type { DropReason } from "./stats.ts";
import { TUNNEL_OVERHEAD } from "../wire/layout.ts";

/**
 * The queue limit is never below the time our side holds packets for reasons other than
 * congestion: the pacer's burst and the peer's acknowledgement hold, each way.
 */
const MIN_QUEUE_MS = 2 * ACK_DELAY_MS + 2;
/** While the chosen link is still in startup its estimate is low by design: allow more. */
const STARTUP_QUEUE_DELAY_MS = 100;
/** Lost data older than this is not sent again: the receiver has given up on it by then. */
const RESEND_MAX_AGE_MS = 300;
/** A packet lost again is sent again, up to this many times in all. */
const MAX_RESENDS = 3;
const STALL_MIN_MS = 60;
const PROBE_INTERVAL_MS = 50;
/** A stall this long is a blackout: the loss it caused is forgotten when the link answers. */
const BLACKOUT_MS = 1000;
/** One-way delay assumed for a link before any RTT is known. */
const DEFAULT_OWD_MS = 25;

export interface SendPathHost {
  /** Seals and sends a data packet from store slot `slot` on the link (and records it in flight). */
  transmitData(link: Link, dataSeq: number, packet: Uint8Array, slot: number): void;
  /** Seals and sends a small packet at once, outside the sequence (not stored, never resent). */
  transmitExpress(link: Link, packet: Uint8Array): void;
  /** Sends a keepalive asking for an immediate acknowledgement. */
  transmitProbe(link: Link): void;
  /** The links that may carry data (up, keyed, healthy), before stall filtering. */
  candidates(): readonly Link[];
  /** Every link that is up with keys (some may not be candidates: lossy, fallback). */
  active(): readonly Link[];
  stallChanged(link: Link): void;
  drop(reason: DropReason): void;
}

function measured(l: Link): boolean {
  return l.rtt.samples > 0 || Number.isFinite(l.sender.estimator.minRttMs);
}

function owd(l: Link): number {
  const min = l.sender.estimator.minRttMs;
  if (Number.isFinite(min)) return min / 2;
  return l.rtt.samples > 0 ? l.rtt.smoothed / 2 : DEFAULT_OWD_MS;
}

/**
 * Packets this small skip the queues: TCP acknowledgements, ping, DNS, VoIP and game packets,
 * SSH keystrokes. Under load they would otherwise wait behind a full queue of large packets
 * (and, at the receiver, behind any hole in the sequence): interactive traffic keeps the idle
 * latency while a transfer fills the links. They take no sequence number and are not resent,
 * as on a plain link. A bulk flow's occasional short segment may overtake its predecessors
 * by a few ms, which TCP takes as mild reordering.
 */
export const EXPRESS_MAX_BYTES = 200;
/** The express lane takes at most this share of the links' capacity: a flood of small packets is queued like the rest. */
const EXPRESS_SHARE = 0.1;
const EXPRESS_BURST_BYTES = 16 * 1024;

/**
 * No acknowledgement for this long with packets in flight: the link is stalled. Before any RTT
 * sample the link cannot be judged by its RTT (a guess below the real one would stall it before
 * its first answer, every time): it gets the time of a blackout.
 */
export function stallTimeoutMs(l: Link): number {
  if (l.rtt.samples === 0) return BLACKOUT_MS;
  return Math.max(STALL_MIN_MS, 2 * l.rtt.smoothed + 4 * l.rtt.variance + 2 * ACK_DELAY_MS);
}

export class SendPath {
  /** Scratch: each candidate's extra one-way delay over the fastest, ms. */
  private delay = new Float64Array(8);
  private expressTokens = EXPRESS_BURST_BYTES;
  private expressRefilledMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly host: SendPathHost) {}

  /**
   * Sends a small packet at once on the link with the shortest one-way delay, outside the
   * queues and the sequence; false when it must take the normal path (too big, over the
   * express share, no usable link).
   */
  express(packet: Uint8Array, nowMs: number): boolean {
    if (packet.length > EXPRESS_MAX_BYTES) return false;
    let fastest: Link | undefined;
    let minOwd = Number.POSITIVE_INFINITY;
    let capacity = 0; // bytes per ms
    for (const l of this.host.candidates()) {
      if (l.stalled) continue;
      capacity += l.sender.estimator.bandwidth;
      const d = owd(l);
      if (d < minOwd) (minOwd = d), (fastest = l);
    }
    if (!fastest) return false;
    const elapsed = Number.isFinite(this.expressRefilledMs) ? nowMs - this.expressRefilledMs : 0;
    this.expressTokens = Math.min(EXPRESS_BURST_BYTES, this.expressTokens + EXPRESS_SHARE * capacity * Math.max(0, elapsed));
    this.expressRefilledMs = nowMs;
    if (this.expressTokens < packet.length) return false;
    this.expressTokens -= packet.length;
    this.host.transmitExpress(fastest, packet);
    return true;
  }

  /**
   * Step 1: queue a packet on the link where it arrives first (never on `exclude`). `resends`
   * counts earlier sendings of the same packet; those are not subject to the queue limit.
   *
   * Every link's expected arrival = its pacing queue's wait + its extra one-way delay over the
   * fastest link. A fresh packet is also never meant to arrive before `spread` (the slowest
   * link's extra delay): on a faster link it is held that long before it may leave. So every
   * sequenced packet sees the same delay whichever link carries it, they arrive in sequence, and
   * to TCP the links look like one link of their summed rate and the slowest one's delay: its
   * probes find the slower links' capacity without first having to build a queue as deep as the
   * spread (a rate-based TCP such as BBR never does). Among links that meet the target the
   * packet goes to the one where it would have arrived first without the hold, so the fastest
   * link takes everything until its queue is as long as the spread, then the others share the
   * excess by their rates. Resent and evacuated packets are late already: no hold.
   */
  schedule(packet: Uint8Array, dataSeq: number, nowMs: number, resends = 0, exclude?: Link, queuedMs = nowMs): boolean {
    const candidates = this.host.candidates();
    const spread = this.measureDelays(candidates, exclude);
    const fresh = resends === 0 && queuedMs === nowMs;
    const bytes = packet.length + TUNNEL_OVERHEAD;
    let best: Link | undefined;
    let bestArrival = Number.POSITIVE_INFINITY;
    let bestNatural = Number.POSITIVE_INFINITY;
    let bestDelay = 0;
    for (let i = 0; i < candidates.length; i++) {
      const l = candidates[i]!;
      if (l.stalled || l === exclude || Number.isNaN(this.delay[i]!)) continue;
      const d = this.delay[i]!;
      const natural = l.sender.waitFor(bytes, nowMs) + d;
      const arrival = fresh ? Math.max(spread, natural) : natural;
      if (arrival < bestArrival || (arrival === bestArrival && natural < bestNatural)) {
        bestArrival = arrival;
        bestNatural = natural;
        bestDelay = d;
        best = l;
      }
    }
    // Every candidate stalled: better to try one than to drop everything.
    best ??= candidates.find((l) => l !== exclude);
    if (!best) return this.refuse("no-link");
    // Beyond the spread, a queue of one round trip of the bonded path lets a loss-based TCP keep
    // the links busy through its backoff (one bandwidth-delay product of buffer); deeper, TCP
    // must slow down instead of our queues growing (latency under load stays near idle latency).
    const limit = best.sender.estimator.inStartup ? STARTUP_QUEUE_DELAY_MS : Math.max(MIN_QUEUE_MS, this.bondedRttMs(candidates, exclude));
    // What was resent or moved from a dead link is a one-off burst, not the offered load.
    const late = best.sender.lateBytes / Math.max(best.sender.estimator.bandwidth, 1e-3);
    if (bestNatural - late - spread > limit && fresh) return this.refuse("queue-full");
    const release = fresh ? nowMs + spread - bestDelay : 0;
    if (!best.sender.enqueue(packet, dataSeq, queuedMs, resends, release)) return this.refuse("queue-full");
    this.pump(best, nowMs);
    return true;
  }

  /** Each candidate's extra one-way delay over the fastest one (into this.delay); returns the largest. */
  private measureDelays(candidates: readonly Link[], exclude?: Link): number {
    if (this.delay.length < candidates.length) this.delay = new Float64Array(candidates.length);
    // A link with no delay measured yet cannot be placed in time: it carries nothing while
    // another one is measured (its keepalives measure it within a second or two).
    let anyMeasured = false;
    for (const l of candidates) if (!l.stalled && l !== exclude && measured(l)) anyMeasured = true;
    let ref: Link | undefined;
    let oneWay = true;
    for (const l of candidates) {
      if (l.stalled || l === exclude || (anyMeasured && !measured(l))) continue;
      ref ??= l;
      if (l.sender.forwardDelayOver(ref.sender) === undefined) oneWay = false;
    }
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < candidates.length; i++) {
      const l = candidates[i]!;
      this.delay[i] = Number.NaN;
      if (l.stalled || l === exclude || (anyMeasured && !measured(l))) continue;
      const d = oneWay ? l.sender.forwardDelayOver(ref!.sender)! : owd(l);
      this.delay[i] = d;
      min = Math.min(min, d);
      max = Math.max(max, d);
    }
    if (!Number.isFinite(min)) return 0;
    for (let i = 0; i < candidates.length; i++) this.delay[i] = this.delay[i]! - min;
    return max - min;
  }

  /** Round trip of the bonded path: the slowest candidate's minimum RTT. */
  private bondedRttMs(candidates: readonly Link[], exclude?: Link): number {
    let rtt = 0;
    for (const l of candidates) if (!l.stalled && l !== exclude) rtt = Math.max(rtt, 2 * owd(l));
    return rtt;
  }

  private refuse(reason: DropReason): false {
    this.host.drop(reason);
    return false;
  }

  /** Step 2: sends what the pacer allows from one link's queue. */
  pump(l: Link, nowMs: number): void {
    const s = l.sender;
    for (let slot = s.peek(); slot >= 0; slot = s.peek()) {
      const packet = s.packet(slot)!;
      if (!s.canSend(packet.length + TUNNEL_OVERHEAD, nowMs)) return;
      s.dequeue();
      this.host.transmitData(l, s.dataSeqOf(slot), packet, slot);
    }
  }

  /** Step 3: a FEEDBACK for packets we sent on `l`. */
  onFeedback(l: Link, highestLow32: number, hi: number, lo: number, ackDelayMs: number, peerClock: number, nowMs: number): void {
    const s = l.sender;
    const highest = s.expandCounter(highestLow32);
    if (highest < 0) return;
    const r = s.onAck(highest, hi, lo, ackDelayMs, nowMs, peerClock);
    if (r.rttMs >= 0) l.rtt.update(r.rttMs);
    for (const slot of r.lost) this.resend(l, slot, nowMs);
    this.pump(l, nowMs);
  }

  /** Sends a lost packet once more; `away` keeps it off a link being evacuated. */
  private resend(from: Link, slot: number, nowMs: number, away?: Link): void {
    const s = from.sender;
    const packet = s.packet(slot);
    const resends = s.resendsOf(slot);
    const since = s.queuedSince(slot);
    if (!packet || resends >= MAX_RESENDS || nowMs - since > RESEND_MAX_AGE_MS) return;
    this.schedule(packet, s.dataSeqOf(slot), nowMs, resends + 1, away, since);
  }

  /** Step 4: stalls, probes and pacing, on the timer. */
  onTimer(nowMs: number): void {
    for (const l of this.host.active()) {
      if (!l.stalled && this.isStalled(l, nowMs)) this.stall(l, nowMs);
      if (l.stalled && nowMs >= l.nextProbeMs) {
        l.nextProbeMs = nowMs + PROBE_INTERVAL_MS;
        this.host.transmitProbe(l);
      }
      this.pump(l, nowMs);
    }
  }

  private isStalled(l: Link, nowMs: number): boolean {
    const s = l.sender;
    return s.inflightBytes > 0 && nowMs - Math.max(s.lastAckMs, s.flightSinceMs) > stallTimeoutMs(l);
  }

  /** The link answered again. */
  unstall(l: Link, nowMs: number): void {
    if (!l.stalled) return;
    l.stalled = false;
    // A blackout was a failure, handled as such; it must not keep the link "lossy" for the
    // seconds its loss window still remembers it. (Brief stalls on a lossy link do count.)
    if (nowMs - l.stalledSinceMs >= BLACKOUT_MS) {
      l.loss.reset();
      l.peerLossPercent = undefined;
    }
    this.host.stallChanged(l);
  }

  private stall(l: Link, nowMs: number): void {
    l.stalled = true;
    l.stalledSinceMs = nowMs;
    l.nextProbeMs = nowMs;
    this.host.stallChanged(l);
    this.evacuate(l, nowMs);
  }

  /** Moves a link's queue and what it had in flight to the other links. */
  evacuate(l: Link, nowMs: number): void {
    const s = l.sender;
    for (const slot of s.abandonInFlight()) this.resend(l, slot, nowMs, l);
    for (let slot = s.peek(); slot >= 0; slot = s.peek()) {
      s.dequeue();
      this.schedule(s.packet(slot)!, s.dataSeqOf(slot), nowMs, s.resendsOf(slot), l, s.queuedSince(slot));
    }
  }

  /** When this link next needs the timer: pacing, a due acknowledgement, a stall check, a probe. */
  deadline(l: Link, nowMs: number): number {
    const s = l.sender;
    let t = l.acks.dueMs;
    const head = s.peek();
    // Past the in-flight cap, the queue waits for acknowledgements (or the stall check).
    if (head >= 0 && s.inflightBytes < s.estimator.inflightCap()) t = Math.min(t, s.sendableAt(s.packet(head)!.length + TUNNEL_OVERHEAD, nowMs));
    if (l.stalled) t = Math.min(t, l.nextProbeMs);
    else if (s.inflightBytes > 0) t = Math.min(t, Math.max(s.lastAckMs, s.flightSinceMs) + stallTimeoutMs(l) + 1);
    return t;
  }
}
