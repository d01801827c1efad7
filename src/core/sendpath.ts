/**
 * Where each packet from the tun goes, and when: earliest-arrival scheduling over the links,
 * pacing at each link's estimated rate, loss recovery, and failover.
 *
 *   1. schedule: pick the link on which the packet is expected to arrive first
 *      (wait behind that link's queue at its pacing rate + its one-way delay, less the lateness
 *      the peer's reorder buffer absorbs: spread.ts); a packet that
 *      would wait longer than the queue-delay limit is dropped once that link's queue has stood
 *      above the limit for a round trip (so TCP slows down instead of our queues growing:
 *      latency under load stays near idle latency), while a burst that drains passes; the limit
 *      is short only while the link shows it is full (estimator.ts `full`)
 *   2. pump: send from each link's queue as its pacer and in-flight cap allow
 *   3. feedback: the peer's acknowledgements update the link's estimate; data packets found
 *      lost are sent again (up to MAX_RESENDS times in all) on the best link, ahead of new data
 *   4. stall: a link with packets in flight and no acknowledgement for a few RTTs is taken out
 *      of scheduling at once; its queue and what it had in flight go to the other links, and
 *      it is probed until it answers
 */
import { ACK_DELAY_MS } from "./ackstate.ts";
import { DEFAULT_OWD_MS } from "./constants.ts";
import type { Link } from "./link.ts";
import type { DropReason } from "./stats.ts";
import { TUNNEL_OVERHEAD } from "../wire/layout.ts";
import { ExpressLane } from "./express.ts";
import { lossReportPath } from "./lossreport.ts";
import { nextTier, priority } from "./policy.ts";
import { delayExcessMs, owd, Spread } from "./spread.ts";
import { queueRoomMs } from "./standingqueue.ts";
import { startupDrainMs, startupGain } from "./startup.ts";
import { RateTrains } from "./train.ts";

/** Lost data older than this is not sent again: the receiver has given up on it by then. */
const RESEND_MAX_AGE_MS = 300;
/** A packet lost again is sent again, up to this many times in all. */
const MAX_RESENDS = 3;
const STALL_MIN_MS = 60;
const PROBE_INTERVAL_MS = 50;
/** A stall this long is a blackout: the loss it caused is forgotten when the link answers. */
const BLACKOUT_MS = 1000;

export interface SendPathHost {
  /** Seals and sends a data packet from store slot `slot` on the link (and records it in flight). */
  transmitData(link: Link, dataSeq: number, packet: Uint8Array, slot: number): void;
  /** Seals and sends a small packet at once, outside the sequence (not stored, never resent). */
  transmitExpress(link: Link, packet: Uint8Array): void;
  /** Sends a keepalive asking for an immediate acknowledgement. */
  transmitProbe(link: Link): void;
  /** Sends one packet of a rate train (train.ts), as large as the largest data packet; its transport counter, -1 if none went. */
  transmitTrain(link: Link): number;
  /** The links that may carry data (up, keyed, healthy), before stall filtering. */
  candidates(): readonly Link[];
  /** Every link that is up with keys (some may not be candidates: lossy, fallback). */
  active(): readonly Link[];
  stallChanged(link: Link): void;
  drop(reason: DropReason): void;
}

/**
 * Links on which a packet would arrive within this much of each other are equally good: the
 * shell's one timer fires on whole milliseconds (src/io/driver.ts), so pacing and the delays
 * behind these predictions are no finer. Among equals the packet goes to the link with the least
 * in hand (inHandMs), which shares a flow among links of equal delay in proportion to their
 * estimated rates before any of them backlogs. Plain earliest-arrival gave everything to the
 * first link as long as its pacer had tokens; when that link's estimate is above its capacity
 * (a bottleneck's token bucket passes bursts of several RTTs at line rate on a nearby server, and
 * the rate samples of a 2 ms RTT see them), it never backlogs, its bottleneck queue takes TCP's
 * probes, and the other link stays idle: one link's rate for good (docs/scheduler.md, "Nearby
 * servers").
 */
const ARRIVAL_TIE_MS = 1;

/** What a link has in hand (in flight and queued), in ms at its estimated rate. */
function inHandMs(l: Link): number {
  const s = l.sender;
  return (s.inflightBytes + s.queuedBytes) / Math.max(s.estimator.bandwidth, 1e-3);
}


/** The peer's data arrived on some link (at `heardMs`) more than a stall timeout after `l` last heard anything. */
function heardLaterElsewhere(l: Link, heardMs: number): boolean {
  return heardMs - l.lastRecvMs > stallTimeoutMs(l);
}

/**
 * Whether the peer's acknowledgement up to `highest` shows it hears us again on a stalled link:
 * it covers a packet sent since the stall (a probe), or a new session counts afresh. Hearing the
 * peer is not enough: an uplink can die while its downlink works (LTE), and a link that resumed
 * on the peer's packets alone flapped, sending new traffic into the dead direction each time
 * (test/sim/uplink-hole.sim.test.ts).
 */
function answersSinceStall(l: Link, highest: number): boolean {
  return highest >= l.resumeFromCounter || l.sender.nextCounter < l.resumeFromCounter;
}

export function stallTimeoutMs(l: Link): number {
  const srtt = l.rtt.samples > 0 ? l.rtt.smoothed : 2 * DEFAULT_OWD_MS;
  return Math.max(STALL_MIN_MS, 2 * srtt + 4 * l.rtt.variance + 2 * ACK_DELAY_MS);
}

export class SendPath {
  private readonly host: SendPathHost;
  private readonly spread: Spread;
  private readonly lane: ExpressLane;
  private readonly trains: RateTrains;

  /**
   * `peerReorderPackets`: the peer's `reorder_buffer_size` (0: none). The two ends are configured
   * alike (the guide sets it on both), so each end takes its own setting for the peer's.
   */
  constructor(host: SendPathHost, peerReorderPackets = 0, tap = false) {
    this.host = host;
    this.spread = new Spread(peerReorderPackets);
    this.lane = new ExpressLane((l, p) => host.transmitExpress(l, p), tap);
    this.trains = new RateTrains((l) => host.transmitTrain(l));
  }

  /** A small packet at once, outside the queues and the sequence (express.ts); false: it takes the normal path. */
  express(packet: Uint8Array, nowMs: number, pinned?: Link): boolean {
    return this.lane.take(packet, nowMs, this.only(pinned) ?? this.host.candidates());
  }

  /** The peer sent us a data packet: its acknowledgement may take the express lane (express.ts dataArrived). */
  dataArrived(): void {
    this.lane.dataArrived();
  }

  private readonly pinnedList: Link[] = [];
  /** A link's keys are proven (lifecycle.ts): while its rate is the guess, a train measures it (train.ts). */
  measure(l: Link): void {
    this.trains.measure(l);
  }

  /** We just acknowledged a keepalive of the peer's on `l` (receive.ts): a train waiting for that goes (train.ts). */
  keepaliveAnswered(l: Link): void {
    this.trains.keepaliveAnswered(l);
  }

  /** `[filters]`: a packet pinned to a link has that link as its only candidate. */
  private only(pinned: Link | undefined): readonly Link[] | undefined {
    if (!pinned) return undefined;
    this.pinnedList[0] = pinned;
    return this.pinnedList;
  }

  /**
   * Step 1: queue a packet on the link where it arrives first (never on `exclude`), or on
   * `pinned` (a `[filters]` match). `resends` counts earlier sendings of the same packet; those
   * are not subject to the queue limit, and go before new data on the link chosen: the peer holds
   * everything behind their hole, and gives it up after its hold time (a resend queued behind
   * new data came too late on long paths: resend-first.sim.test.ts). `earliest`: no lateness is
   * allowed (spread.ts), the exactly earliest link takes it (a resend a loss report asked for).
   */
  schedule(packet: Uint8Array, dataSeq: number, nowMs: number, resends = 0, exclude?: Link, queuedMs = nowMs, pinned?: Link, earliest = false): boolean {
    const candidates = this.only(pinned) ?? this.host.candidates();
    const first = resends > 0;
    // Link priorities: the best tier takes the packet unless it would wait there past the
    // limit; only then (or while that whole tier is stalled) the next tier is tried.
    let tier = nextTier(candidates, -1, exclude);
    for (;;) {
      let minOwd = Number.POSITIVE_INFINITY;
      let maxOwd = 0;
      let maxRtt = 0;
      for (const l of candidates) {
        if (l.stalled || l === exclude || (tier !== undefined && priority(l) !== tier)) continue;
        const d = owd(l);
        if (d < minOwd) minOwd = d;
        maxOwd = Math.max(maxOwd, d);
        maxRtt = Math.max(maxRtt, l.rtt.samples > 0 ? l.rtt.smoothed : 2 * d);
      }
      let best: Link | undefined;
      let bestArrival = Number.POSITIVE_INFINITY;
      let bestExact = Number.POSITIVE_INFINITY;
      let bestInHand = 0;
      let bestWait = 0;
      for (const l of candidates) {
        if (l.stalled || l === exclude || (tier !== undefined && priority(l) !== tier)) continue;
        const rawWait = l.sender.waitFor(packet.length + TUNNEL_OVERHEAD, nowMs, first);
        // Which link is earliest: a link in startup by how long its queue really takes (startupDrainMs);
        // whether the queue is admitted: by its wait at the rate of now.
        const wait = l.sender.estimator.inStartup ? startupDrainMs(rawWait, l.sender.estimator.roundMs()) : rawWait;
        const allowance = earliest ? 0 : this.spread.lateAllowanceMs(l, candidates, tier, exclude, packet.length + TUNNEL_OVERHEAD);
        const excess = delayExcessMs(l);
        const arrival = wait + Math.max(0, owd(l) - minOwd - allowance) + excess;
        const exact = wait + owd(l) - minOwd + excess;
        const inHand = inHandMs(l);
        // Arrivals closer than the timer can tell apart are a tie (see ARRIVAL_TIE_MS).
        const tie = Math.abs(exact - bestExact) <= ARRIVAL_TIE_MS && Math.abs(arrival - bestArrival) <= ARRIVAL_TIE_MS;
        // Equal once the allowance is counted (both pacers free): the exactly earlier link, so
        // that at low load the faster one carries everything.
        if (tie ? inHand < bestInHand : arrival < bestArrival || (arrival === bestArrival && exact < bestExact)) {
          bestArrival = arrival;
          bestExact = exact;
          bestInHand = inHand;
          bestWait = rawWait;
          best = l;
        }
      }
      if (!best) {
        // Every candidate stalled (a link not yet measured stalls at a guessed timeout): better
        // to try one than to drop everything. No spread was measured: it waits for its own queue.
        best = candidates.find((l) => l !== exclude);
        if (!best) return this.refuse("no-link");
        minOwd = maxOwd = owd(best);
        bestWait = best.sender.waitFor(packet.length + TUNNEL_OVERHEAD, nowMs, first);
      }
      // A link in startup must grow as fast as the TCP it carries (startup.ts startupGain).
      if (best.sender.estimator.inStartup) best.sender.estimator.setStartupGain(startupGain(owd(best), minOwd));
      const e = best.sender.estimator;
      const limit = queueRoomMs(e.inStartup || !e.full, minOwd, maxOwd) + (maxOwd - minOwd);
      // Over the limit only a standing queue is refused, not a burst: one that has stayed above it
      // for a round trip of the slowest link (docs/scheduler.md, "Bursts and standing queues").
      if (resends === 0 && !best.sender.admission.admit(bestWait, limit, maxRtt, nowMs)) {
        const next = tier === undefined ? undefined : nextTier(candidates, tier, exclude);
        if (next === undefined) return this.refuse("queue-full");
        tier = next;
        continue;
      }
      if (!best.sender.enqueue(packet, dataSeq, queuedMs, resends, first)) return this.refuse("queue-full");
      this.pump(best, nowMs);
      return true;
    }
  }

  private refuse(reason: DropReason): false {
    this.host.drop(reason);
    return false;
  }

  /** Step 2: sends what the pacer allows from one link's queue. */
  pump(l: Link, nowMs: number): void {
    const s = l.sender;
    for (let slot = s.peek(); slot >= 0; slot = s.peek()) {
      if (!s.canSend(s.lengthOf(slot) + TUNNEL_OVERHEAD, nowMs)) return;
      s.dequeue();
      this.host.transmitData(l, s.dataSeqOf(slot), s.packet(slot)!, slot);
    }
  }

  /** Step 3: a FEEDBACK for packets we sent on `l`. */
  onFeedback(l: Link, highestLow32: number, hi: number, lo: number, ackDelayMs: number, peerClock: number, nowMs: number): void {
    this.trains.onFeedback(l, highestLow32, peerClock);
    const s = l.sender;
    const highest = s.expandCounter(highestLow32);
    if (highest < 0) return;
    const r = s.onAck(highest, hi, lo, ackDelayMs, nowMs, peerClock);
    if (l.stalled && answersSinceStall(l, highest)) this.unstall(l, nowMs);
    if (r.rttMs >= 0) l.rtt.update(r.rttMs);
    // Without a reorder buffer at the peer nothing waits for the hole: the packets after it reach
    // TCP as they come, so the resend takes the link where it arrives first; allowed the lateness
    // of new data (all of the spread there) it came after TCP's own (resend-no-buffer.sim.test.ts).
    for (const slot of r.lost) this.resend(l, slot, nowMs, undefined, !this.spread.peerReorders);
    this.pump(l, nowMs);
  }

  /** Where to report a loss found on `l` (lossreport.ts), if some link is faster. */
  lossReportPath(l: Link): Link | undefined {
    return lossReportPath(l, this.host.active());
  }

  /** The link whose acknowledgements name `remoteIndex` (a LOSS report's subject). */
  acknowledging(remoteIndex: number): Link | undefined {
    for (const l of this.host.active()) if (l.acknowledges(remoteIndex)) return l;
    return undefined;
  }

  /**
   * The peer's LOSS report of `l`, from a faster link (lossreport.ts): its losses are sent again
   * now, on the link where they arrive first. The report came because a faster link exists, and
   * the peer holds everything behind the hole until the resend comes: allowed the lateness of new
   * data (spread.ts), it went back over the slow link. (A loss found by the link's own FEEDBACK
   * keeps the allowance where the peer has a reorder buffer: there, sending every resend on the
   * earliest link cost BBR streams whose faster link was the lossy one; docs/scheduler.md "A
   * lossy slower link". Without one it does not: onFeedback.)
   */
  onLossReport(l: Link, highestLow32: number, hi: number, lo: number, nowMs: number): void {
    const highest = l.sender.expandCounter(highestLow32);
    if (highest < 0) return;
    for (const slot of l.sender.lossesShown(highest, hi, lo)) this.resend(l, slot, nowMs, undefined, true);
  }

  /** Sends a lost packet once more; `away` keeps it off a link being evacuated; `earliest`: see schedule. */
  private resend(from: Link, slot: number, nowMs: number, away?: Link, earliest = false): void {
    const s = from.sender;
    const packet = s.packet(slot);
    const resends = s.resendsOf(slot);
    const since = s.queuedSince(slot);
    if (!packet || resends >= MAX_RESENDS || nowMs - since > RESEND_MAX_AGE_MS) return;
    this.schedule(packet, s.dataSeqOf(slot), nowMs, resends + 1, away, since, undefined, earliest);
  }

  /**
   * When the peer last showed traffic on any link in use: its data, or acknowledgements that
   * came within a stall timeout of data we sent on that link (the sending end of a transfer).
   */
  private heardMs(): number {
    let heardMs = Number.NEGATIVE_INFINITY;
    for (const l of this.host.active()) {
      heardMs = Math.max(heardMs, l.dataHeardMs);
      if (l.feedbackHeardMs - l.dataSentMs <= stallTimeoutMs(l)) heardMs = Math.max(heardMs, l.feedbackHeardMs);
    }
    return heardMs;
  }

  /** Step 4: stalls, probes and pacing, on the timer. */
  onTimer(nowMs: number): void {
    const links = this.host.active();
    const heardMs = this.heardMs();
    for (const l of links) {
      if (!l.stalled && this.isStalled(l, nowMs)) this.stall(l, nowMs);
      if (l.stalled && nowMs >= l.nextProbeMs) {
        l.probeAt(nowMs + PROBE_INTERVAL_MS);
        this.host.transmitProbe(l);
      } else if (!l.stalled && this.isSilent(l, heardMs, nowMs)) {
        l.probeAt(nowMs + stallTimeoutMs(l));
        this.host.transmitProbe(l);
      }
      this.pump(l, nowMs);
    }
  }

  /**
   * Nothing in flight and nothing heard on this link for a stall timeout, while the peer's
   * traffic (heardMs) arrives on another link: worth a probe (at most one per stall timeout). The probe is in
   * flight, so no answer within the stall timeout stalls the link. Without it, the end that only
   * receives on a link (the server of an upload, or a link the express lane does not use) would
   * notice a cut only with its next keepalive, up to a second later. Data, heard more than a
   * stall timeout after this link was: an idle tunnel's keepalives and their acknowledgements
   * reach the links at different moments of each second, and that is no sign of a cut (it made
   * a probe, its acknowledgement and a timer per link and second); an idle link's cut is seen
   * by its keepalive going unacknowledged.
   */
  private isSilent(l: Link, heardMs: number, nowMs: number): boolean {
    const t = stallTimeoutMs(l);
    return l.sender.inflightBytes === 0 && heardLaterElsewhere(l, heardMs) && nowMs - l.lastRecvMs > t && nowMs - heardMs <= t && nowMs >= l.nextProbeMs;
  }

  private isStalled(l: Link, nowMs: number): boolean {
    const s = l.sender;
    return s.inflightBytes > 0 && nowMs - Math.max(s.lastAckMs, s.flightSinceMs) > stallTimeoutMs(l);
  }

  /** The link answered again: the peer acknowledged what we sent since the stall (onFeedback). */
  unstall(l: Link, nowMs: number): void {
    if (!l.stalled) return;
    // A blackout was a failure, handled as such; it must not keep the link "lossy" for the
    // seconds its loss window still remembers it. (Brief stalls on a lossy link do count.)
    if (l.resume(nowMs) >= BLACKOUT_MS) l.forgetLoss();
    this.host.stallChanged(l);
    // Links that stalled with nowhere to move their packets kept them (stall): now they can.
    for (const o of this.host.candidates()) if (o !== l && o.stalled && (o.sender.inflightBytes > 0 || o.sender.peek() >= 0)) this.evacuate(o, nowMs);
  }

  /** The peer is known not to hear us on this link (health.ts leaderSilentAtMs, receive.ts): stalled now. */
  stallNow(l: Link, nowMs: number): void {
    if (!l.stalled) this.stall(l, nowMs);
  }

  /**
   * A stalled link's packets move to a link that answers; with none (one link, or all stalled: an
   * LTE outage) they stay, as in a modem's queue, not dropped (outage.sim.test.ts).
   */
  private stall(l: Link, nowMs: number): void {
    l.stall(nowMs);
    this.host.stallChanged(l);
    if (this.host.candidates().some((o) => o !== l && !o.stalled)) this.evacuate(l, nowMs);
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
    if (head >= 0 && s.inflightBytes < s.estimator.inflightCap()) t = Math.min(t, s.sendableAt(s.lengthOf(head) + TUNNEL_OVERHEAD, nowMs));
    if (l.stalled) t = Math.min(t, l.nextProbeMs);
    else if (s.inflightBytes > 0) t = Math.min(t, Math.max(s.lastAckMs, s.flightSinceMs) + stallTimeoutMs(l) + 1);
    else {
      // The silence check (isSilent): the first time it holds, given what was heard so far (a
      // later input refreshes the deadlines); none while the peer was not heard on another link
      // well after this one, which is what keeps an idle tunnel asleep between keepalives.
      const heardMs = this.heardMs();
      if (heardLaterElsewhere(l, heardMs)) {
        const quietAt = Math.max(Math.max(l.lastRecvMs + stallTimeoutMs(l), l.nextProbeMs) + 1, nowMs);
        if (quietAt - heardMs <= stallTimeoutMs(l)) t = Math.min(t, quietAt);
      }
    }
    return t;
  }
}
