/**
 * Receive-side reorder buffer keyed by the tunnel-wide data sequence.
 *
 * Packets of one tunnel travel over links of different latency, so they arrive out of order;
 * TCP reads reordering as loss. This buffer holds early packets until the gap before them
 * fills, the gap has waited `holdMs`, or holding more would exceed `capacity`.
 *
 * What the C MLVPN reorder buffer got wrong, and this one does instead (docs/c-mlvpn.md,
 * "Reordering" and "Weaknesses" #12):
 * - any capacity, not only powers of two (the ring is rounded up internally);
 * - a packet that arrives after its hole was given up is delivered at once, out of order:
 *   TCP copes with reordering far better than with loss, and the C buffer's overflow turned a
 *   slower link's packets into loss (20+20 Mbit/s links gave about 17 as one stream);
 * - a duplicate is dropped, never stored twice or delivered twice; a packet too old to tell
 *   (beyond the ring's memory of released sequences) is dropped and counted as stale;
 * - reset() resynchronises on the next packet, so a peer restart (sequence back at 0) works; a
 *   packet up to `capacity` below that first one (it went on a slower link, or was lost and is
 *   sent again) is delivered late, not dropped as stale;
 * - a hole waits for the resend that is due (resendDue): the receive path says when its
 *   acknowledgement makes the sender find a packet lost, and the holes then open wait holdMs
 *   from that moment (the time a resend takes from there: policy.ts reorderHoldMs), so that a
 *   hole is not given up while its resend is on its way, however long the sender took to find
 *   the loss; at most TCP_MIN_RTO_MS (or holdMs if longer) in all: past that TCP retransmits
 *   on its own, and its retransmission would wait behind the hole;
 * - the hold timer ages from the oldest held packet, not from the last one stored, so a
 *   steady trickle of packets cannot postpone the release of a gap indefinitely;
 * - everything is released in sequence order, never in arrival order.
 *
 * Costs: each sequence number passed (delivered or skipped) costs O(1); a jump past an empty
 * buffer costs at most O(ring size). No allocation per packet: slots store the caller's
 * Uint8Array reference, so its bytes must stay untouched until it is delivered.
 */
import { REORDER_HOLD_DEFAULT_MS, TCP_MIN_RTO_MS } from "./constants.ts";

export interface ReorderStats {
  delivered: number;
  /** Delivered after being held. */
  reordered: number;
  /** Dropped: the same sequence is held or was already delivered. */
  duplicates: number;
  /** Delivered out of order: arrived after its hole was given up. */
  late: number;
  /** Dropped: too old to know whether it was already delivered. */
  stale: number;
  holesSkipped: number;
  /** flush() calls that had something to release. */
  flushes: number;
  /** Currently held. */
  held: number;
}

const MAX_CAPACITY = 65536;
/** Released sequences remembered at least, whatever the capacity: late packets this far back are recognised. */
const MIN_MEMORY = 4096;

// What a slot last saw. DELIVERED and SKIPPED outlive the packet so that a sequence below
// nextExpected can be classified as a duplicate or as late.
export const SLOT_EMPTY = 0, SLOT_HELD = 1, SLOT_DELIVERED = 2, SLOT_SKIPPED = 3;

function ringSizeFor(capacity: number): number {
  return nextPowerOfTwo(Math.max(2 * capacity, MIN_MEMORY));
}

/** The most sequence numbers a buffer configured for `capacity` holds past a hole (its span's ceiling). */
export function reorderMaxSpan(capacity: number): number {
  return ringSizeFor(capacity) / 2;
}

export class ReorderBuffer {
  /** Hold time in ms before a hole is given up (set by the caller from measured RTTs). */
  holdMs = REORDER_HOLD_DEFAULT_MS;

  readonly reorders = true; // equaliser.ts EqualisedSink: what it is given leaves in order
  /** The configured size (reorder_buffer_size): the span never goes below it. */
  readonly capacity: number;
  /**
   * How far past a hole packets are held, in sequence numbers: what arrives within one hold time
   * at the measured arrival rate, at least `capacity`, at most `maxSpan` (the ring's memory).
   * Links of unequal delay need this much: while the later link's packet is awaited, the earlier
   * links deliver spread × their rate, and a fixed 64 gave the gap up after a few ms at tens of
   * Mbit/s (the sender counts on it: sendpath.ts lateAllowanceMs).
   */
  private span: number;
  readonly maxSpan: number;
  // Arrival-rate meter: inserts counted over windows of one hold time (no allocation).
  private meterStartMs = Number.NEGATIVE_INFINITY;
  private meterCount = 0;
  private lastRate = 0;
  private readonly deliver: (packet: Uint8Array) => void;
  private readonly mask: number;
  private readonly packets: (Uint8Array | undefined)[];
  private readonly slotSeq: Float64Array;
  private readonly slotState: Uint8Array;
  private readonly arrivalMs: Float64Array;
  // Held sequences in arrival order: the front is the oldest held packet, whose age decides
  // when the gap before it is given up. Entries of packets released since are dropped lazily.
  private readonly heldOrder: Float64Array;
  private heldOrderHead = 0;
  private heldOrderLength = 0;
  private next = 0;
  /** One past the highest sequence inserted. */
  private top = 0;
  /** A resend is due (resendDue): holes below `dueBelow` wait until `dueUntilMs`. */
  private dueBelow = 0;
  private dueUntilMs = Number.NEGATIVE_INFINITY;
  private synced = false;
  private held = 0;
  private readonly counters = { delivered: 0, reordered: 0, duplicates: 0, late: 0, stale: 0, holesSkipped: 0, flushes: 0 };

  /**
   * `adaptive`: the span follows the arrival rate (see `span`); without it the buffer never holds
   * more than `capacity` past a hole, as C MLVPN's.
   */
  constructor(capacity: number, deliver: (packet: Uint8Array) => void, private readonly adaptive = false) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
      throw new RangeError(`reorder buffer capacity must be an integer from 1 to ${MAX_CAPACITY}, got ${capacity}`);
    }
    this.capacity = capacity;
    this.span = capacity;
    this.deliver = deliver;
    // Held sequences span at most `capacity` consecutive slots. Twice that keeps the record of
    // at least the last `capacity` released sequences, which tells duplicates from late
    // packets, and bounds heldOrder (see hold()). A power of two lets `seq & mask` pick the
    // slot: `&` takes the sequence modulo 2^32 exactly, which keeps its low bits intact.
    const ringSize = ringSizeFor(capacity);
    this.mask = ringSize - 1;
    this.maxSpan = reorderMaxSpan(capacity);
    this.packets = new Array<Uint8Array | undefined>(ringSize).fill(undefined);
    this.slotSeq = new Float64Array(ringSize); // meaningful only when the slot's state is not EMPTY
    this.slotState = new Uint8Array(ringSize);
    this.arrivalMs = new Float64Array(ringSize);
    this.heldOrder = new Float64Array(ringSize);
  }

  /** Sequences below this were delivered or skipped (0 until the first packet sets it). */
  get nextExpected(): number {
    return this.next;
  }
  /** Packets held now, and one past the highest sequence inserted (equaliser.ts: a hole filled?). */
  get heldCount(): number {
    return this.held;
  }
  get highestSeen(): number {
    return this.top;
  }

  /** A snapshot: later changes do not show in the returned object. */
  get stats(): ReorderStats {
    return { ...this.counters, held: this.held };
  }

  insert(seq: number, packet: Uint8Array, nowMs: number): void {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`data sequence must be a non-negative integer below 2^53, got ${seq}`);
    if (!this.synced) this.sync(seq);
    if (seq >= this.top) this.top = seq + 1;
    if (seq < this.next) {
      this.receiveOld(seq, packet);
      return;
    }
    this.meter(nowMs);
    // Before giving a hole up for lack of room: the rate may have grown within this window (TCP's
    // slow start doubles it every round trip), so the span measured a window ago lags behind it.
    if (seq - this.next > this.span && this.adaptive) this.widen(nowMs);
    if (seq - this.next > this.span) {
      this.releaseBefore(seq - this.span);
      this.deliverRun();
      // A copy of a packet held past a span since shrunk, just released: held again below next, it
      // would stay the oldest held for ever (handleTimeout's livelock). A duplicate instead.
      if (seq < this.next) return this.receiveOld(seq, packet);
    }
    if (seq === this.next) {
      const slot = seq & this.mask;
      this.slotSeq[slot] = seq;
      this.slotState[slot] = SLOT_DELIVERED;
      this.next++;
      this.counters.delivered++;
      this.deliver(packet);
      this.deliverRun();
      return;
    }
    const slot = seq & this.mask;
    if (this.slotState[slot] === SLOT_HELD && this.slotSeq[slot] === seq) {
      this.counters.duplicates++;
      return;
    }
    this.hold(slot, seq, packet, nowMs);
  }

  /**
   * The receive path's acknowledgement makes the sender find a packet lost and send it again by
   * `sentByMs` (link.ts resendDueMs): it is one of the holes open below what has arrived, and its
   * resend takes up to holdMs from then to come. Nothing held: no hole is open, the lost packet
   * was given up already (or was no data).
   */
  resendDue(sentByMs: number): void {
    if (this.held === 0) return;
    // Holes of an earlier resend still due keep their time too.
    if (this.next >= this.dueBelow) this.dueUntilMs = Number.NEGATIVE_INFINITY;
    this.dueBelow = this.top;
    this.dueUntilMs = Math.max(this.dueUntilMs, sentByMs + this.holdMs);
  }

  /** Deadline (ms) at which the oldest hole must be given up, or Infinity when nothing is held. */
  nextDeadline(): number {
    const oldest = this.oldestHeldSeq();
    return oldest < 0 ? Infinity : this.giveUpMs(oldest);
  }

  /**
   * Gives up every hole that some later held packet has waited behind for holdMs or more (or,
   * with a resend due, until it is due).
   * Holes before the oldest held packet have waited at least as long as it has.
   */
  handleTimeout(nowMs: number): void {
    for (;;) {
      const oldest = this.oldestHeldSeq();
      if (oldest < 0 || this.giveUpMs(oldest) > nowMs) return;
      this.releaseBefore(oldest);
      this.deliverRun();
    }
  }

  /** When the holes before the held `oldest` are given up. */
  private giveUpMs(oldest: number): number {
    const arrived = this.arrivalMs[oldest & this.mask] ?? 0;
    const held = arrived + this.holdMs;
    if (this.next >= this.dueBelow || this.dueUntilMs <= held) return held;
    return Math.min(this.dueUntilMs, arrived + Math.max(this.holdMs, TCP_MIN_RTO_MS));
  }

  /**
   * The first packet since a reset gives the sequence. Those up to `capacity` below it are
   * recorded as given up, so that one arriving later is delivered (late) rather than dropped.
   */
  private sync(seq: number): void {
    for (let s = Math.max(0, seq - this.span); s < seq; s++) {
      const slot = s & this.mask;
      this.slotSeq[slot] = s;
      this.slotState[slot] = SLOT_SKIPPED;
    }
    this.next = seq;
    this.top = seq;
    this.synced = true;
  }

  /** The span in force now (sequence numbers held past a hole). */
  get currentSpan(): number {
    return this.span;
  }

  /**
   * Counts an arrival; at the end of each window of one hold time, the span becomes what arrived
   * in the busier of the last two windows (a window that began idle must not shrink it), so that
   * a hole waits its whole hold time however fast packets come.
   */
  private meter(nowMs: number): void {
    if (!this.adaptive) return;
    this.meterCount++;
    const windowMs = Math.max(this.holdMs, 1);
    if (nowMs - this.meterStartMs < windowMs) return;
    const elapsed = nowMs - this.meterStartMs;
    const rate = Number.isFinite(elapsed) ? this.meterCount / elapsed : 0;
    this.span = Math.min(this.maxSpan, Math.max(this.capacity, Math.ceil(Math.max(rate, this.lastRate) * this.holdMs)));
    this.lastRate = rate;
    this.meterStartMs = nowMs;
    this.meterCount = 0;
  }

  private widen(nowMs: number): void {
    const elapsed = Math.max(1, nowMs - this.meterStartMs);
    const rate = Number.isFinite(elapsed) ? this.meterCount / elapsed : 0;
    this.span = Math.min(this.maxSpan, Math.max(this.span, Math.ceil(rate * this.holdMs)));
  }

  /** Gives up all holes and delivers everything held, in sequence order (e.g. when a link goes down). */
  flush(): void {
    if (this.held === 0) return;
    this.counters.flushes++;
    // Held sequences lie within `maxSpan` of nextExpected: a finite bound, not "until empty".
    this.releaseWhileHeld(this.next + this.maxSpan + 1);
  }

  /** Forgets everything without delivering and resynchronises on the next packet (peer restart). Counters are kept. */
  reset(): void {
    this.packets.fill(undefined);
    this.slotState.fill(SLOT_EMPTY);
    this.heldOrderHead = 0;
    this.heldOrderLength = 0;
    this.held = 0;
    this.next = 0;
    this.top = 0;
    this.dueBelow = 0;
    this.dueUntilMs = Number.NEGATIVE_INFINITY;
    this.synced = false;
  }

  private hold(slot: number, seq: number, packet: Uint8Array, nowMs: number): void {
    // Dropping released entries from the front first keeps heldOrder within the ring: behind a
    // live front there are at most `capacity` live entries and fewer than `capacity` released
    // ones (their sequences lie between the front's and `capacity` below it).
    this.oldestHeldSeq();
    this.heldOrder[(this.heldOrderHead + this.heldOrderLength) & this.mask] = seq;
    this.heldOrderLength++;
    this.packets[slot] = packet;
    this.slotSeq[slot] = seq;
    this.slotState[slot] = SLOT_HELD;
    this.arrivalMs[slot] = nowMs;
    this.held++;
  }

  /** A sequence below nextExpected: a duplicate, a straggler whose hole was given up, or stale. */
  private receiveOld(seq: number, packet: Uint8Array): void {
    const slot = seq & this.mask;
    const known = this.slotSeq[slot] === seq;
    if (known && this.slotState[slot] === SLOT_DELIVERED) {
      this.counters.duplicates++;
    } else if (known && this.slotState[slot] === SLOT_SKIPPED) {
      this.slotState[slot] = SLOT_DELIVERED;
      this.counters.late++;
      this.deliver(packet);
    } else {
      this.counters.stale++;
    }
  }

  /** Oldest held sequence, or -1 when nothing is held; drops released entries on the way. */
  private oldestHeldSeq(): number {
    if (this.held === 0) {
      this.heldOrderLength = 0;
      return -1;
    }
    while (this.heldOrderLength > 0) {
      const seq = this.heldOrder[this.heldOrderHead] ?? -1;
      if (this.isHeld(seq)) return seq;
      this.heldOrderHead = (this.heldOrderHead + 1) & this.mask;
      this.heldOrderLength--;
    }
    return -1;
  }

  private isHeld(seq: number): boolean {
    const slot = seq & this.mask;
    return this.slotState[slot] === SLOT_HELD && this.slotSeq[slot] === seq;
  }

  /** Moves nextExpected up to `target`, delivering held packets and skipping holes on the way. */
  private releaseBefore(target: number): void {
    this.releaseWhileHeld(target);
    // Nothing is held any more: jump, recording the skipped sequences the ring can remember
    // (at most its size, so the cost is bounded) so that their stragglers are delivered late.
    if (this.next < target) {
      this.counters.holesSkipped += target - this.next;
      for (let s = Math.max(this.next, target - this.mask - 1); s < target; s++) {
        const slot = s & this.mask;
        this.slotSeq[slot] = s;
        this.slotState[slot] = SLOT_SKIPPED;
      }
      this.next = target;
    }
  }

  /** Passes sequences one by one, delivering or skipping each, until `target` or nothing is held. */
  private releaseWhileHeld(target: number): void {
    while (this.held > 0 && this.next < target) {
      if (this.isHeld(this.next)) {
        this.releaseHeld();
      } else {
        const slot = this.next & this.mask;
        this.slotSeq[slot] = this.next;
        this.slotState[slot] = SLOT_SKIPPED;
        this.counters.holesSkipped++;
        this.next++;
      }
    }
  }

  /** Delivers the held packets that directly follow what was delivered. */
  private deliverRun(): void {
    while (this.held > 0 && this.isHeld(this.next)) this.releaseHeld();
  }

  /** Delivers the packet held at nextExpected. State is updated before the callback runs. */
  private releaseHeld(): void {
    const slot = this.next & this.mask;
    const packet = this.packets[slot];
    this.packets[slot] = undefined;
    this.slotState[slot] = SLOT_DELIVERED;
    this.held--;
    this.next++;
    this.counters.delivered++;
    this.counters.reordered++;
    if (packet !== undefined) this.deliver(packet);
  }
}

function nextPowerOfTwo(n: number): number {
  let size = 1;
  while (size < n) size *= 2;
  return size;
}
