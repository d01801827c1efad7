/**
 * The sending side of one link: a queue of packets waiting for the pacer, the pacer itself
 * (token bucket at the estimated rate), and the record of what is in flight, from which the
 * peer's acknowledgements (FEEDBACK) give RTT, delivery-rate samples, losses, and the packets to
 * send again elsewhere when the link dies.
 *
 * Packets are copied once, into a ring of fixed slots (`store`): the queue is the range of slots
 * not yet sent, and an in-flight record points at its slot for as long as the ring has not
 * reused it. No allocation per packet.
 */
import { FEEDBACK_BITMAP_COUNTERS } from "../wire/inner.ts";
import { RateEstimator } from "./estimator.ts";
import { REORDER_THRESHOLD, reorderWindowMs } from "./lossrules.ts";
import { StandingQueue } from "./standingqueue.ts";

/** Slots for packets (queued and in flight) per link; bounds memory to slots × max packet. */
export const STORE_SLOTS = 2048;
const FLIGHT_SLOTS = 4096; // in-flight records per link (by transport counter)
/** Resends that may wait to go first at once (a LOSS report shows at most a bitmap's worth); more join the queue's tail. */
const FIRSTS_MAX = FEEDBACK_BITMAP_COUNTERS;
export const BURST_MS = 2; // the pacer may send this far ahead of its rate (timers are not precise to the packet)
/** While the rate is a guess, bursts this long pass at once (RFC 6928's initial window; docs/scheduler.md, "A satellite-like link"). */
export const GUESS_BURST_PACKETS = 10;
const MIN_BURST_PACKETS = 2; // once measured: at least this many, when BURST_MS of a slow rate is less
export const TOKEN_EPSILON = 1e-3, MIN_WAIT_MS = 0.01;

export const NONE = 0, IN_FLIGHT = 1, ACKED = 2, LOST = 3; // in-flight record states

export interface AckResult {
  /** Data packets found lost (their store slots), to send again. */
  lost: number[];
  newlyAcked: number;
  /** RTT sample from the highest acknowledged packet, or -1. */
  rttMs: number;
}

export class LinkSender {
  readonly estimator: RateEstimator;

  // ---- packet store: slots [queueHead, writeSeq) are queued, older ones may be in flight
  private readonly store: Uint8Array;
  private readonly slotLen = new Uint16Array(STORE_SLOTS);
  private readonly slotDataSeq = new Float64Array(STORE_SLOTS);
  private readonly slotQueuedMs = new Float64Array(STORE_SLOTS);
  /** How many times the packet in the slot was already sent again (limited by the caller). */
  private readonly slotResends = new Uint8Array(STORE_SLOTS);
  /** 1: sent ahead of its turn (a resend, `first`); the queue passes over it. */
  private readonly slotSentEarly = new Uint8Array(STORE_SLOTS);
  /** Slot sequences of resends waiting to go first, oldest at `firstHead`. */
  private readonly firsts = new Float64Array(FIRSTS_MAX);
  private firstHead = 0;
  private firstCount = 0;
  private writeSeq = 0;
  private queueHead = 0;
  queuedBytes = 0;

  // ---- pacer
  private tokens = 0;
  private refilledMs: number;

  // ---- in flight, by transport counter
  private readonly fCounter = new Float64Array(FLIGHT_SLOTS).fill(-1);
  private readonly fState = new Uint8Array(FLIGHT_SLOTS);
  private readonly fSentMs = new Float64Array(FLIGHT_SLOTS);
  private readonly fBytes = new Float64Array(FLIGHT_SLOTS);
  private readonly fDelivered = new Float64Array(FLIGHT_SLOTS);
  /** When `delivered` last grew before the packet was sent: rate samples start there (BBR). */
  private readonly fDeliveredAt = new Float64Array(FLIGHT_SLOTS);
  /** Send time of the newest packet acknowledged when this one was sent (BBR's first_tx_mstamp). */
  private readonly fFirstSentMs = new Float64Array(FLIGHT_SLOTS);
  private readonly fAppLimited = new Uint8Array(FLIGHT_SLOTS);
  /** Store slot sequence of a data packet, or -1. */
  private readonly fSlot = new Float64Array(FLIGHT_SLOTS);
  private lowestUnacked = 0;
  private highestSent = -1;
  inflightBytes = 0;
  /** Since when packets have been continuously in flight (for stall detection). */
  flightSinceMs = 0;
  /** Cumulative bytes acknowledged. */
  delivered = 0;
  lastAckMs = Number.NEGATIVE_INFINITY;
  /** Send time of the newest packet acknowledged so far. */
  private lastAckedSentMs = Number.NEGATIVE_INFINITY;
  sentPackets = 0;
  lostPackets = 0;
  /** The counter the next packet is sent with (0 again after resetFlight: a new session). */
  get nextCounter(): number { return this.highestSent + 1; }

  constructor(
    readonly maxPacket: number,
    bandwidthUpload: number,
    nowMs: number,
  ) {
    this.store = new Uint8Array(new ArrayBuffer(STORE_SLOTS * maxPacket));
    this.estimator = new RateEstimator(bandwidthUpload, nowMs);
    this.refilledMs = nowMs;
  }

  // ---------------------------------------------------------------- queue

  get queueLength(): number {
    return this.writeSeq - this.queueHead;
  }

  /**
   * Copies a packet into the queue; returns false when the ring is full of queued packets.
   * `first`: it goes before everything queued (a resend: the peer holds what follows it).
   */
  enqueue(packet: Uint8Array, dataSeq: number, nowMs: number, resends = 0, first = false): boolean {
    if (this.writeSeq - this.queueHead >= STORE_SLOTS / 2 || packet.length > this.maxPacket) return false;
    if (first && this.firstCount >= FIRSTS_MAX) first = false;
    const slot = this.writeSeq % STORE_SLOTS;
    this.store.set(packet, slot * this.maxPacket);
    this.slotLen[slot] = packet.length;
    this.slotDataSeq[slot] = dataSeq;
    this.slotQueuedMs[slot] = nowMs;
    this.slotResends[slot] = resends;
    this.slotSentEarly[slot] = 0;
    if (first) this.firsts[(this.firstHead + this.firstCount++) % FIRSTS_MAX] = this.writeSeq;
    this.writeSeq++;
    this.queuedBytes += packet.length;
    return true;
  }

  /** The next queued packet's slot sequence (a resend first), or -1. */
  peek(): number {
    if (this.firstCount > 0) return this.firsts[this.firstHead]!;
    return this.queueHead < this.writeSeq ? this.queueHead : -1;
  }

  /** Takes what peek() shows (after it was sent or moved elsewhere); the head passes what went early, so queueLength is what waits (onSent). */
  dequeue(): void {
    const seq = this.peek();
    if (seq < 0) return;
    this.queuedBytes -= this.slotLen[seq % STORE_SLOTS]!;
    if (this.firstCount > 0) {
      this.slotSentEarly[seq % STORE_SLOTS] = 1;
      this.firstHead = (this.firstHead + 1) % FIRSTS_MAX;
      this.firstCount--;
    } else this.queueHead++;
    while (this.queueHead < this.writeSeq && this.slotSentEarly[this.queueHead % STORE_SLOTS] === 1) this.queueHead++;
    // A queue that drains completely was no standing queue.
    if (this.queuedBytes <= 0) this.admission.reset();
  }

  /** The bytes of a stored packet (valid until the slot is reused), or undefined if reused. */
  packet(slotSeq: number): Uint8Array | undefined {
    if (slotSeq < 0 || slotSeq < this.writeSeq - STORE_SLOTS) return undefined;
    const slot = slotSeq % STORE_SLOTS;
    const at = slot * this.maxPacket;
    return this.store.subarray(at, at + this.slotLen[slot]!);
  }

  /** The length of a stored packet (as packet(slotSeq).length, without making a view). */
  lengthOf(slotSeq: number): number {
    return this.slotLen[slotSeq % STORE_SLOTS]!;
  }

  dataSeqOf(slotSeq: number): number {
    return this.slotDataSeq[slotSeq % STORE_SLOTS]!;
  }

  queuedSince(slotSeq: number): number {
    return this.slotQueuedMs[slotSeq % STORE_SLOTS]!;
  }

  resendsOf(slotSeq: number): number {
    return this.slotResends[slotSeq % STORE_SLOTS]!;
  }

  // ---------------------------------------------------------------- admission

  /** Whether a packet that would wait `waitMs` may join the queue (standingqueue.ts). */
  readonly admission = new StandingQueue();

  // ---------------------------------------------------------------- pacer

  private refill(nowMs: number): void {
    const rate = this.estimator.pacingRate();
    const burst = Math.max((this.estimator.isGuess ? GUESS_BURST_PACKETS : MIN_BURST_PACKETS) * this.maxPacket, rate * BURST_MS);
    this.tokens = Math.min(burst, this.tokens + rate * Math.max(0, nowMs - this.refilledMs));
    this.refilledMs = nowMs;
  }

  /** May a packet of `bytes` go now? (Tokens and the in-flight cap.) */
  canSend(bytes: number, nowMs: number): boolean {
    this.refill(nowMs);
    return this.tokens + this.slack(nowMs) >= bytes && this.inflightBytes < this.estimator.inflightCap();
  }

  /** TOKEN_EPSILON, or what rounding takes from a refill on a clock of ms since start, if more (after days: a timer set at sendableAt then found the tokens short, and fired for nothing). */
  private slack(nowMs: number): number { return Math.max(TOKEN_EPSILON, 4 * Number.EPSILON * Math.abs(nowMs) * this.estimator.pacingRate()); }

  /**
   * When the pacer will allow `bytes` (ignoring the in-flight cap, which waits for acks). Never
   * less than MIN_WAIT_MS ahead unless allowed now, so that rounding cannot make a timer that
   * fires and finds nothing to do, forever.
   */
  sendableAt(bytes: number, nowMs: number): number {
    this.refill(nowMs);
    if (this.tokens + this.slack(nowMs) >= bytes) return nowMs;
    return nowMs + Math.max(MIN_WAIT_MS, (bytes - this.tokens) / this.estimator.pacingRate());
  }

  /**
   * Expected milliseconds until a new packet of `bytes` would leave, behind what is queued
   * (`first`: a resend, which goes before it): the heart of earliest-arrival scheduling.
   */
  waitFor(bytes: number, nowMs: number, first = false): number {
    this.refill(nowMs);
    const ahead = (first ? 0 : this.queuedBytes) + bytes - this.tokens;
    const overCap = Math.max(0, this.inflightBytes + (first ? 0 : this.queuedBytes) + bytes - this.estimator.inflightCap());
    const rate = this.estimator.pacingRate();
    return Math.max(0, ahead / rate, overCap / Math.max(this.estimator.bandwidth, 1e-3));
  }

  // ---------------------------------------------------------------- in flight

  /** Records a transport packet just sent with `counter` (slotSeq -1 for non-data). */
  onSent(counter: number, bytes: number, slotSeq: number, nowMs: number): void {
    this.tokens -= bytes;
    const i = counter % FLIGHT_SLOTS;
    if (this.fState[i] === IN_FLIGHT) {
      // Wrapped onto a record never acknowledged: count it lost.
      this.inflightBytes -= this.fBytes[i]!;
      this.lostPackets++;
    }
    this.fCounter[i] = counter;
    this.fState[i] = IN_FLIGHT;
    this.fSentMs[i] = nowMs;
    this.fBytes[i] = bytes;
    this.fDelivered[i] = this.delivered;
    // Nothing in flight: the link was idle, a rate sample starts now (not at the last
    // acknowledgement, which would count the idle time as the link's: Linux's tcp_rate.c).
    const idle = this.inflightBytes === 0 || !Number.isFinite(this.lastAckMs);
    this.fDeliveredAt[i] = idle ? nowMs : Math.min(this.lastAckMs, nowMs);
    this.fFirstSentMs[i] = idle ? nowMs : Math.min(this.lastAckedSentMs, nowMs);
    this.fAppLimited[i] = this.queueLength === 0 ? 1 : 0;
    this.fSlot[i] = slotSeq;
    if (counter > this.highestSent) this.highestSent = counter;
    if (this.inflightBytes === 0) {
      this.flightSinceMs = nowMs;
      if (this.lowestUnacked < counter) this.lowestUnacked = counter;
    }
    this.inflightBytes += bytes;
    this.sentPackets++;
  }

  private owdBase: number | undefined;
  /** The peer process whose clock owdBase was taken from. */
  private owdPeer: number | undefined;

  /**
   * Relative one-way delay, ms: measured from the first sample of the session, in signed 32-bit
   * arithmetic so that the peer clock's wrap (every 5 days) does not matter.
   */
  private onOneWaySample(peerClock: number, sentMs: number, nowMs: number): void {
    const raw = (peerClock - Math.round(sentMs * 10)) | 0;
    this.owdBase ??= raw;
    this.estimator.onOneWayDelaySample(((raw - this.owdBase) | 0) / 10, nowMs);
  }

  /**
   * A new session restarts counters at 0: forget the old records (their acks will not come).
   * A new peer process (`peerInstance`) also has another clock: one-way delays start again.
   */
  resetFlight(peerInstance?: number): void {
    if (peerInstance !== this.owdPeer) {
      this.owdPeer = peerInstance;
      this.owdBase = undefined;
      this.estimator.resetOneWayDelay();
    }
    this.fState.fill(NONE);
    this.fCounter.fill(-1);
    this.inflightBytes = 0;
    this.lowestUnacked = 0;
    this.highestSent = -1;
  }

  /**
   * Applies the peer's acknowledgement: `highest` and the 64 counters below it (bit i of the
   * bitmap = highest − 1 − i). Returns the store slots of data packets now known lost.
   * `peerClock`: the peer's clock (0.1 ms units, wrapping at 2^32) when `highest` arrived; with
   * its send time it gives the one-way delay of this direction plus an unknown, constant clock
   * offset, so its changes show a queue building on our side of the link only.
   */
  onAck(highest: number, bitmapHi: number, bitmapLo: number, ackDelayMs: number, nowMs: number, peerClock?: number): AckResult {
    const lost: number[] = [];
    let newlyAcked = 0;
    const hi = Math.min(highest, this.highestSent);
    let rttSample = -1;
    let rateSample = -1;
    let appLimited = false;
    for (let c = Math.max(this.lowestUnacked, hi - FEEDBACK_BITMAP_COUNTERS); c <= hi; c++) {
      const i = c % FLIGHT_SLOTS;
      if (this.fCounter[i] !== c || this.fState[i] !== IN_FLIGHT || !isAcked(c, highest, bitmapHi, bitmapLo)) continue;
      this.fState[i] = ACKED;
      this.inflightBytes -= this.fBytes[i]!;
      this.delivered += this.fBytes[i]!;
      this.estimator.onDelivered(this.fBytes[i]!);
      newlyAcked++;
      const elapsed = nowMs - this.fSentMs[i]!;
      if (c === highest) {
        rttSample = elapsed - ackDelayMs;
        if (peerClock !== undefined) this.onOneWaySample(peerClock, this.fSentMs[i]!, nowMs);
      }
      // Measured from the acknowledgement before the packet was sent, so that acknowledgements
      // arriving in batches do not inflate the rate (numerator and interval start together).
      // A sample that may lower the estimate (not application-limited) spans the longer of the
      // acknowledgements' span and the sendings' span (BBR): acknowledgements held back by the
      // peer (descheduled, or a queue on the way back) and released together must not show a
      // delivery rate above the rate the packets were sent at.
      const acks = nowMs - Math.min(this.fDeliveredAt[i]!, this.fSentMs[i]!);
      const interval = this.fAppLimited[i] === 1 ? acks : Math.max(acks, this.fSentMs[i]! - this.fFirstSentMs[i]!);
      if (this.fSentMs[i]! > this.lastAckedSentMs) this.lastAckedSentMs = this.fSentMs[i]!;
      if (interval > 0) {
        rateSample = (this.delivered - this.fDelivered[i]!) / interval;
        appLimited = this.fAppLimited[i] === 1;
      }
    }
    if (newlyAcked > 0) this.lastAckMs = nowMs;
    this.findLost(highest, this.lowestUnacked, lost);
    // Advance past what is settled.
    while (this.lowestUnacked <= this.highestSent) {
      const i = this.lowestUnacked % FLIGHT_SLOTS;
      if (this.fCounter[i] === this.lowestUnacked && this.fState[i] === IN_FLIGHT) break;
      this.lowestUnacked++;
    }
    if (rttSample >= 0) this.estimator.onRttSample(Math.max(0.05, rttSample), nowMs);
    if (rateSample > 0) this.estimator.onRateSample(rateSample, appLimited, nowMs);
    this.estimator.onTick(nowMs, this.queueLength > 0, this.inflightBytes);
    return { lost, newlyAcked, rttMs: rttSample >= 0 ? Math.max(0.05, rttSample) : -1 };
  }

  /**
   * Everything unacknowledged well below the highest acknowledgement is lost (REORDER_THRESHOLD),
   * and what was sent a reordering window before it (reorderWindowMs); from counter `from` up.
   */
  private findLost(highest: number, from: number, lost: number[], hi?: number, lo?: number): void {
    const lossBelow = highest - REORDER_THRESHOLD;
    const h = highest % FLIGHT_SLOTS;
    const sentBefore = this.fCounter[h] === highest ? this.fSentMs[h]! - reorderWindowMs(this.estimator.minRttMs) : Number.NEGATIVE_INFINITY;
    for (let c = from; c <= Math.min(highest - 1, this.highestSent); c++) {
      const i = c % FLIGHT_SLOTS;
      if (this.fCounter[i] !== c || this.fState[i] !== IN_FLIGHT || (c > lossBelow && this.fSentMs[i]! > sentBefore)) continue;
      if (hi !== undefined && isAcked(c, highest, hi, lo!)) continue;
      this.fState[i] = LOST;
      this.inflightBytes -= this.fBytes[i]!;
      this.lostPackets++;
      this.estimator.loss.lost++;
      if (this.fSlot[i]! >= 0) lost.push(this.fSlot[i]!);
    }
  }

  /**
   * The peer's acknowledgement of this link as a LOSS report (sent on a faster link, receive.ts):
   * only the losses it shows, among the 64 counters its bitmap covers. What arrived is left in
   * flight for the link's own FEEDBACK, which alone gives RTT and rate samples: this one came
   * by another path. Returns the store slots of the data packets found lost.
   */
  lossesShown(highest: number, bitmapHi: number, bitmapLo: number): number[] {
    const lost: number[] = [];
    if (highest > this.highestSent) return lost;
    this.findLost(highest, Math.max(this.lowestUnacked, highest - FEEDBACK_BITMAP_COUNTERS), lost, bitmapHi, bitmapLo);
    return lost;
  }

  /**
   * A FEEDBACK carries the low 32 bits of a counter: the full value is the one at or below the
   * highest we sent (within 2^31). -1 when nothing was sent yet.
   */
  expandCounter(low32: number): number {
    if (this.highestSent < 0) return -1;
    const back = ((this.highestSent >>> 0) - low32) >>> 0;
    return back > 0x7fff_ffff ? -1 : this.highestSent - back;
  }

  /** The link died: every packet in flight is lost. Returns the data packets' store slots. */
  abandonInFlight(): number[] {
    const slots: number[] = [];
    for (let c = this.lowestUnacked; c <= this.highestSent; c++) {
      const i = c % FLIGHT_SLOTS;
      if (this.fCounter[i] !== c || this.fState[i] !== IN_FLIGHT) continue;
      this.fState[i] = LOST;
      this.lostPackets++;
      if (this.fSlot[i]! >= 0) slots.push(this.fSlot[i]!);
    }
    this.inflightBytes = 0;
    this.lowestUnacked = this.highestSent + 1;
    return slots;
  }
}

/** Whether an acknowledgement (highest + bitmap of the 64 below it) covers counter `c`. */
function isAcked(c: number, highest: number, bitmapHi: number, bitmapLo: number): boolean {
  if (c === highest) return true;
  const d = highest - 1 - c;
  if (d < 0 || d >= FEEDBACK_BITMAP_COUNTERS) return false;
  return d < 32 ? ((bitmapLo >>> d) & 1) === 1 : ((bitmapHi >>> (d - 32)) & 1) === 1;
}
