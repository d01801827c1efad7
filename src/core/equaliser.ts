/**
 * Delay equalisation at the receiver (docs/scheduler.md, "BBR over links of unequal delay"):
 * a sequenced data packet that came over a link of shorter one-way delay than the slowest link
 * now carrying the peer's data waits the difference before it enters the reorder buffer, so that
 * every packet of the tunnel reaches the LAN at the slowest carrier's timing.
 *
 * Why: the reorder buffer releases in order, so a stream spread over a 5 ms and a 35 ms link
 * already waits for the 35 ms link's packets; yet the packets that happened to travel alone on
 * the fast path (a TCP handshake, the first window, a flow drained by BBR's ProbeRTT) arrive at
 * the fast link's timing, and a sender that sizes its window from its *minimum* RTT (BBR: twice
 * bandwidth × minimum RTT) then holds too little in flight to fill the slower link. With every
 * packet at the same timing, the minimum RTT the sender sees is the aggregate's from its first
 * round trip. The cost: bulk packets carry the delay spread always (the express lane's small
 * packets keep the fast path: express.ts), and the spread's worth of data is held here.
 *
 * Which links count (carriers): up, of the best priority tier, with a measured RTT, and not left
 * without sequenced data for CARRIER_MEMORY_MS while data came on other links. A stalled link
 * still counts: a hold that vanished for the stall let a BBR sender measure the fast link's RTT
 * as its minimum, and the window it sized from it starved the stream once the hold came back
 * (the simulated 20+20 Mbit/s at 20+150 ms with the buffer off, seed 2: 0.04 × the best link). A
 * link that never carried data counts for NEW_LINK_GRACE_MS and NEW_LINK_GRACE_PACKETS of data
 * from when the equaliser first saw it, so that the first flow's first packets (its handshake)
 * already travel at the aggregate's timing. An idle tunnel keeps its carriers: the memory only ages while data flows
 * (the time counted is the data's, pauses of more than IDLE_GAP_MS cut to that).
 *
 * Nor is a packet ever later than one sent after it: a packet that fills a hole the reorder buffer
 * holds packets behind (a resend, a straggler) goes on at once, and so does a packet entering the
 * reorder buffer take with it the held ones numbered below it (their time has come too). Without
 * this a resend waited the delay spread behind its link's held packets, the hole was given up and
 * TCP retransmitted (the simulator's lossy cells, CUBIC).
 *
 * Without a reorder buffer (`reorder_buffer_size = 0`, PassThrough) the equaliser is what keeps
 * a stream over links of unequal delay in order: nothing behind it reorders, so a packet the
 * minimum delays do not account for (a queue at a slower link's bottleneck, jitter) reaches the
 * LAN after later-numbered ones. Such a packet goes on at once, and how late it came (behind the
 * first later-numbered packet that went on) is added to its link's delay for the holds of the
 * others: the largest lateness seen, forgotten by half per LATE_HALF_LIFE_MS of data, and at most
 * the link's own one-way delay (a packet later than that was stuck, not queued: an LTE uplink
 * that stops for a second must not hold every other link for a second). Without this, CUBIC over
 * 20+5 Mbit/s at 10+60 ms cut its window at each such reordering (0.32 × the best link); with it,
 * 1.16 × (docs/scheduler.md, "Links of unequal delay without a reorder buffer").
 */
import { EXPRESS_MAX_BYTES } from "./express.ts";
import type { Link } from "./link.ts";

/** Where the equaliser's packets go when their time comes: the reorder buffer (reorder.ts), or PassThrough. */
export interface EqualisedSink {
  /** False: it delivers what it is given as it comes (no reorder buffer), so a late packet reaches the LAN out of order. */
  readonly reorders: boolean;
  readonly heldCount: number;
  readonly highestSeen: number;
  insert(seq: number, packet: Uint8Array, nowMs: number): void;
  nextDeadline(): number;
  handleTimeout(nowMs: number): void;
  flush(): void;
  reset(): void;
}

/** No reorder buffer: a released packet goes to the LAN at once (it holds nothing, so no hole is ever filled). */
export class PassThrough implements EqualisedSink {
  readonly reorders = false;
  readonly heldCount = 0;
  readonly highestSeen = 0;
  constructor(private readonly deliver: (packet: Uint8Array) => void) {}
  insert(_seq: number, packet: Uint8Array): void {
    this.deliver(packet);
  }
  nextDeadline(): number {
    return Number.POSITIVE_INFINITY;
  }
  handleTimeout(): void {}
  flush(): void {}
  reset(): void {}
}

/**
 * A link that carried no sequenced data for this long while others did stops counting. As long
 * as a sender's minimum-RTT memory (BBR's min_rtt filter, 10 s), so that the link still counts
 * when that sender drains its flow to measure the minimum RTT again (ProbeRTT).
 */
export const CARRIER_MEMORY_MS = 10_000;
/**
 * A link that has carried nothing yet counts until data has flowed elsewhere for this long and
 * this much: a bulk flow's slow start fills the faster links and spills onto it within a few
 * RTTs of doubling, long before; a link the peer's scheduler leaves unused (too slow for its
 * delay) costs the first second and the first ~1.4 MB at most. Both, so that a trickle of small
 * exchanges (a control connection) does not use the grace up before the bulk flow comes.
 */
export const NEW_LINK_GRACE_MS = 1000;
export const NEW_LINK_GRACE_PACKETS = 1000;
/**
 * Packets this small (the express lane's size: acknowledgements, and what overflowed its share)
 * neither age the links' memory nor make a link a carrier: the memory is that of a bulk flow's
 * sender (its minimum RTT). The acknowledgements of a 36 Mbit/s upload, over the lane's share
 * and so sequenced, ran 20 s on the faster link alone and aged the slower one out; the download
 * that followed began at the fast link's timing, its BBR sender took that RTT for its minimum,
 * and when the slower link joined (and the hold with it) it starved for 10 s, to ProbeRTT (lab
 * r1d4, buffer off: 6-8 Mbit/s for 9 s, then 36).
 */
const BULK_MIN_BYTES = EXPRESS_MAX_BYTES;
/** A pause in the data longer than this is idle time, which ages no link's memory (only this much of it counts). */
const IDLE_GAP_MS = 1000;
/**
 * Holds shorter than this are not worth a timer wake-up: the packet goes on at once. The shell's
 * one timer fires on whole milliseconds (src/io/driver.ts), and links within 1 ms of each other
 * are equals to the scheduler too (sendpath.ts ARRIVAL_TIE_MS): nearby links, and an unshaped
 * lab whose links' minimum RTTs differ by noise, must not pay a wake-up per packet.
 */
const MIN_HOLD_MS = 1;
/** Packets held per link at most (memory bound: a full ring releases its oldest early). */
const RING = 4096;
/** Sequences whose release times are remembered (buffer off), to tell how late a packet behind them came. */
const RELEASE_MEMORY = 4096;
/** How far above a late packet's sequence the first later-numbered one released is looked for. */
const LATE_SEARCH = 64;
/**
 * A link's lateness is forgotten by half per this much data time: long enough to outlast the
 * round trips a queue at its bottleneck lasts, short enough that one burst does not keep every
 * other link's packets waiting for long. 0.3 and 1 s did alike in the simulated sweep (buffer
 * off); 3 and 10 s held too long (CUBIC 1.32 → 1.29 / 1.25, BBR 1.40 → 1.29 / 1.09 × the best
 * link, geometric means over the 60 cells).
 */
const LATE_HALF_LIFE_MS = 1000;

/**
 * A link's one-way propagation delay as this end measures it: half its smallest RTT (undefined
 * before any sample). `rtt` takes every sample, the keepalives' and the data's (which the
 * estimator's windowed minimum also takes), so its minimum is the smallest of all.
 */
export function propagationOwdMs(l: Link): number | undefined {
  return l.rtt.samples > 0 ? l.rtt.min / 2 : undefined;
}

class HeldRing {
  readonly seqs = new Float64Array(RING);
  readonly dueMs = new Float64Array(RING);
  readonly packets: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(RING).fill(undefined);
  head = 0;
  length = 0;
  /** The data clock (Equaliser.flowMs) when this link last brought sequenced data, or when the equaliser first saw it. */
  flowAt: number;
  /** Sequenced packets counted on all links (Equaliser.packets) at the same moment. */
  packetsAt: number;
  /** It has brought sequenced data (else `flowAt` is when it was first seen). */
  carried = false;
  /** How much later than its one-way delay says this link's packets came lately (ms), and when that was last updated (data clock). */
  lateMs = 0;
  lateAt = 0;

  constructor(flowMs: number, packets: number) {
    this.flowAt = flowMs;
    this.packetsAt = packets;
  }
}

export interface EqualiserStats {
  /** Packets that waited here. */
  held: number;
  /** Held now. */
  holding: number;
  /** The hold given to the last packet that waited, ms. */
  lastHoldMs: number;
  /** Buffer off: packets that came after later-numbered ones had gone on (they went on at once). */
  late: number;
}

export class Equaliser {
  private readonly rings: (HeldRing | undefined)[] = [];
  /** When sequenced data last arrived on any link; and the time data has flowed, idle gaps cut to IDLE_GAP_MS. */
  private dataMs = Number.NEGATIVE_INFINITY;
  private flowMs = 0;
  private packets = 0;
  private holding = 0;
  private heldTotal = 0;
  private lastHoldMs = 0;
  private lateTotal = 0;
  /** Release times by sequence (the last RELEASE_MEMORY released), to tell how late a packet came behind later-numbered ones. */
  private readonly releasedAt = new Float64Array(RELEASE_MEMORY);
  private readonly releasedSeq = new Float64Array(RELEASE_MEMORY).fill(-1);
  private releasedHigh = -1;

  constructor(
    readonly sink: EqualisedSink,
    private readonly links: () => readonly Link[],
  ) {}

  get stats(): EqualiserStats {
    return { held: this.heldTotal, holding: this.holding, lastHoldMs: this.lastHoldMs, late: this.lateTotal };
  }

  /** A sequenced data packet from `link`: into the reorder buffer now, or after its hold. */
  arrive(link: Link, seq: number, packet: Uint8Array, nowMs: number): void {
    const ring = this.ringOf(link);
    // Only bulk packets age the links' memory and make a link a carrier (see BULK_MIN_BYTES).
    if (packet.length > BULK_MIN_BYTES) {
      if (Number.isFinite(this.dataMs)) this.flowMs += Math.min(IDLE_GAP_MS, Math.max(0, nowMs - this.dataMs));
      this.dataMs = nowMs;
      this.packets++;
      ring.flowAt = this.flowMs;
      ring.packetsAt = this.packets;
      ring.carried = true;
    }
    const hold = this.holdFor(link);
    // A packet behind others of its link waits for them too (each link's packets leave in order),
    // unless it fills a hole: a later packet is already in the reorder buffer, so this one is due.
    const fillsHole = this.sink.heldCount > 0 && seq < this.sink.highestSeen;
    // Without a reorder buffer: one numbered below what already went on is late, and goes on at once.
    const late = !this.sink.reorders && seq < this.releasedHigh;
    if (late) {
      this.lateTotal++;
      this.noteLateness(ring, seq, nowMs);
    }
    if (fillsHole || late || (hold < MIN_HOLD_MS && ring.length === 0)) return this.insertNow(seq, packet, nowMs);
    if (ring.length === RING) this.releaseHead(ring, nowMs);
    const at = (ring.head + ring.length) % RING;
    ring.seqs[at] = seq;
    ring.dueMs[at] = nowMs + hold;
    ring.packets[at] = packet;
    ring.length++;
    this.holding++;
    this.heldTotal++;
    this.lastHoldMs = hold;
  }

  /** When the next held packet is due, or the reorder buffer's next deadline if sooner (Infinity: none). */
  nextDeadline(): number {
    let due = this.sink.nextDeadline();
    if (this.holding === 0) return due;
    for (const r of this.rings) if (r && r.length > 0) due = Math.min(due, r.dueMs[r.head]!);
    return due;
  }

  /** Releases every packet due by `nowMs` into the reorder buffer, then runs its timeout. */
  handleTimeout(nowMs: number): void {
    // A release takes the packets numbered below it along from every link (insertNow), which can
    // leave one already due first on a link passed before: round again until a round releases
    // nothing (each round that goes on released one at least, so at most `holding` rounds).
    for (let again = this.holding > 0; again; ) {
      again = false;
      for (const r of this.rings) {
        while (r && r.length > 0 && r.dueMs[r.head]! <= nowMs) {
          this.releaseHead(r, nowMs);
          again = true;
        }
      }
    }
    this.sink.handleTimeout(nowMs);
  }

  /**
   * A link went down, or left: what was in flight on it will not come. Everything held here goes
   * on first, then the reorder buffer gives its holes up and delivers all it holds.
   */
  flush(nowMs: number): void {
    for (const r of this.rings) while (r && r.length > 0) this.releaseHead(r, nowMs);
    this.sink.flush();
  }

  /** Forgets what is held here and in the reorder buffer (the peer restarted: its sequence starts again). */
  reset(): void {
    this.sink.reset();
    for (const r of this.rings) {
      if (!r) continue;
      r.packets.fill(undefined);
      r.head = 0;
      r.length = 0;
      r.lateMs = 0;
    }
    this.holding = 0;
    this.releasedHigh = -1;
    this.releasedSeq.fill(-1);
  }

  /** The wait of a packet from `link`: the slowest carrier's one-way delay less this link's. */
  private holdFor(link: Link): number {
    const own = propagationOwdMs(link);
    if (own === undefined) return 0;
    let tier = Number.POSITIVE_INFINITY;
    const links = this.links();
    for (const l of links) if (l.isUp && !l.stalled) tier = Math.min(tier, l.settings.priority);
    let slowest = own;
    for (const l of links) {
      if (l === link || !l.isUp || l.settings.priority !== tier) continue;
      let d = propagationOwdMs(l);
      if (d === undefined) continue;
      const r = this.ringOf(l);
      if (!this.sink.reorders) d += Math.min(this.lateOf(r), d);
      if (d <= slowest) continue;
      if (r.carried ? this.flowMs - r.flowAt > CARRIER_MEMORY_MS : this.flowMs - r.flowAt > NEW_LINK_GRACE_MS && this.packets - r.packetsAt > NEW_LINK_GRACE_PACKETS) continue;
      slowest = d;
    }
    return slowest - own;
  }

  /** The link's lateness now (see the top of this file). */
  private lateOf(r: HeldRing): number {
    return r.lateMs > 0 ? r.lateMs * Math.pow(0.5, (this.flowMs - r.lateAt) / LATE_HALF_LIFE_MS) : 0;
  }

  /** `seq` arrived after later-numbered packets went on: its link is later than measured by how long they have been out. */
  private noteLateness(ring: HeldRing, seq: number, nowMs: number): void {
    for (let s = seq + 1; s <= this.releasedHigh && s < seq + LATE_SEARCH; s++) {
      const i = s % RELEASE_MEMORY;
      if (this.releasedSeq[i] !== s) continue;
      const late = nowMs - this.releasedAt[i]!;
      if (late > this.lateOf(ring)) (ring.lateMs = late), (ring.lateAt = this.flowMs);
      return;
    }
  }

  private noteRelease(seq: number, nowMs: number): void {
    if (seq > this.releasedHigh) this.releasedHigh = seq;
    const i = seq % RELEASE_MEMORY;
    this.releasedSeq[i] = seq;
    this.releasedAt[i] = nowMs;
  }

  private ringOf(link: Link): HeldRing {
    let r = this.rings[link.index];
    if (!r) this.rings[link.index] = r = new HeldRing(this.flowMs, this.packets);
    return r;
  }

  /**
   * Into the reorder buffer now, after the held packets numbered below it: they were sent before
   * it, so their equalised time has come too (the timing never makes a packet later than one sent
   * after it, whichever link each took).
   */
  private insertNow(seq: number, packet: Uint8Array, nowMs: number): void {
    if (this.holding > 0) {
      for (const r of this.rings) while (r && r.length > 0 && r.seqs[r.head]! < seq) this.releaseHead(r, nowMs);
    }
    if (!this.sink.reorders) this.noteRelease(seq, nowMs);
    this.sink.insert(seq, packet, nowMs);
  }

  private releaseHead(r: HeldRing, nowMs: number): void {
    const packet = r.packets[r.head]!;
    const seq = r.seqs[r.head]!;
    r.packets[r.head] = undefined;
    r.head = (r.head + 1) % RING;
    r.length--;
    this.holding--;
    this.insertNow(seq, packet, nowMs);
  }
}
