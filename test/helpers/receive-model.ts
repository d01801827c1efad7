/**
 * Checked stand-ins for the receive path's state machines (test/unit/receive-fuzz.test.ts): each
 * wraps the real object, keeps a model of what it must hold and deliver, and checks after every
 * call what must always be true. A broken invariant throws at once, naming the scenario, the step
 * and the last operations (`Trace`), so that a seeded run can be replayed to that point.
 *
 * Why check state after every call rather than only the final output: the livelock of cddac6f (a
 * packet held below nextExpected, which handleTimeout found the oldest held for ever) would hang
 * the test, not fail it; the state that precedes it (a held sequence that nextExpected passed, a
 * held count that disagrees with what is held) is caught one call earlier, before the loop runs.
 */
import { TCP_MIN_RTO_MS } from "../../src/core/constants.ts";
import type { EqualisedSink, Equaliser } from "../../src/core/equaliser.ts";
import type { Link } from "../../src/core/link.ts";
import { ReorderBuffer, SLOT_HELD } from "../../src/core/reorder.ts";

/** Where a run is, for failure messages: the scenario (with its seed), the step, the last operations. */
export class Trace {
  step = 0;
  private readonly recent: string[] = [];
  constructor(readonly scenario: string) {}

  op(text: string): void {
    this.recent.push(text);
    if (this.recent.length > 12) this.recent.shift();
  }

  fail(message: string): never {
    throw new Error(`${this.scenario}, step ${this.step}: ${message}\n  last operations (oldest first):\n    ${this.recent.join("\n    ")}`);
  }

  check(ok: boolean, message: () => string): void {
    if (!ok) this.fail(message());
  }
}

/** The reorder buffer's ring, read for the white-box check (the slot states are private to reorder.ts). */
interface RingView {
  slotState: Uint8Array;
  slotSeq: Float64Array;
  packets: (Uint8Array | undefined)[];
}

interface Held {
  packet: Uint8Array;
  at: number;
}

/**
 * A ReorderBuffer with a model of the current stream (since construction or the last reset): which
 * sequences were delivered, which are held (with the packet object and its arrival time), where
 * the stream began. It is an EqualisedSink, so the checked equaliser can feed it.
 */
export class CheckedReorder implements EqualisedSink {
  readonly reorders = true;
  readonly buffer: ReorderBuffer;
  /** Called with each packet as it is given to the buffer (the equaliser's checker watches its order). */
  onInsert: (packet: Uint8Array, seq: number) => void = () => {};
  /** Packets delivered so far (in order or late), for the caller (never reset). */
  deliveredCount = 0;

  private epoch = 0;
  private readonly origin = new Map<Uint8Array, { seq: number; epoch: number }>();
  private synced = false;
  private first = 0;
  /** Sequences from here up to `first` were recorded as given up by the sync (delivered late if they come). */
  private syncLow = 0;
  private baseDelivered = 0;
  private baseSkipped = 0;
  private top = 0;
  private lastNext = 0;
  private readonly delivered = new Set<number>();
  private readonly held = new Map<number, Held>();
  /** Held sequences in arrival order (entries released since are skipped lazily), as the buffer keeps them. */
  private heldQueue: number[] = [];
  private heldHead = 0;
  /** A resend was announced (resendDue) while holes below this were open: deadlines may be later. */
  private resendBelow = 0;
  /** The last few sequences delivered, for copies of delivered packets. */
  readonly recentDelivered: number[] = [];
  private inserts = 0;
  private forgotten = 0;
  private current: Uint8Array | undefined;
  private currentDelivered = false;
  private cb = { delivered: 0, late: 0 };
  private opDeliveries: number[] = [];
  private opFromHeld = 0;
  private ops = 0;

  constructor(
    readonly capacity: number,
    readonly adaptive: boolean,
    private readonly trace: Trace,
  ) {
    this.buffer = new ReorderBuffer(capacity, (p) => this.onDeliver(p), adaptive);
  }

  get heldCount(): number {
    return this.buffer.heldCount;
  }
  get highestSeen(): number {
    return this.buffer.highestSeen;
  }
  get nextExpected(): number {
    return this.buffer.nextExpected;
  }
  nextDeadline(): number {
    return this.buffer.nextDeadline();
  }

  /** A held sequence picked by `r` in [0, 1), or undefined when nothing is held. */
  heldSeqAt(r: number): number | undefined {
    const live = this.heldQueue.length - this.heldHead;
    if (live <= 0) return undefined;
    const seq = this.heldQueue[this.heldHead + Math.floor(r * live)]!;
    return this.held.has(seq) ? seq : undefined;
  }

  isHeld(seq: number): boolean {
    return this.held.has(seq);
  }

  isDelivered(seq: number): boolean {
    return this.delivered.has(seq);
  }

  insert(seq: number, packet: Uint8Array, nowMs: number): void {
    const t = this.trace;
    this.onInsert(packet, seq);
    const b = this.buffer;
    const next0 = b.nextExpected;
    const before = b.stats;
    if (!this.synced) {
      // The buffer syncs on this packet: nextExpected becomes it, and the span below it is given up.
      this.synced = true;
      this.first = seq;
      this.syncLow = Math.max(0, seq - b.currentSpan);
      this.baseDelivered = before.delivered;
      this.baseSkipped = before.holesSkipped;
      this.lastNext = seq;
    }
    // What the sequence is to the buffer before this copy arrives. Below nextExpected and within the
    // ring's guaranteed memory (maxSpan), a delivered one is a duplicate and a given-up one is late.
    const exact = seq > next0 - b.maxSpan;
    const status = this.held.has(seq) ? "held" : this.delivered.has(seq) ? "delivered" : seq >= this.lastNext ? "new" : seq >= this.syncLow ? "skipped" : "unknown";
    this.origin.set(packet, { seq, epoch: this.epoch });
    this.inserts++;
    this.top = Math.max(this.top, seq + 1);
    this.begin();
    this.current = packet;
    this.currentDelivered = false;
    b.insert(seq, packet, nowMs);
    this.current = undefined;
    const after = b.stats;
    const dup = after.duplicates - before.duplicates;
    const stale = after.stale - before.stale;
    const deliveredNow = this.currentDelivered ? 1 : 0;
    const heldNow = after.held - (before.held - this.opFromHeld);
    t.check(heldNow === 0 || heldNow === 1, () => `insert ${seq}: held went from ${before.held} to ${after.held} with ${this.opFromHeld} released`);
    t.check(dup + stale + deliveredNow + heldNow === 1, () => `insert ${seq} (${status}): ${dup} duplicate, ${stale} stale, ${deliveredNow} delivered, ${heldNow} held: not exactly one outcome`);
    const outcome = dup ? "duplicate" : stale ? "stale" : heldNow ? "held" : "delivered";
    const allowed: Record<string, string[]> = {
      held: ["duplicate"], // a copy of a held packet is dropped, never held twice (cddac6f)
      delivered: exact ? ["duplicate"] : ["duplicate", "stale"],
      skipped: exact ? ["delivered"] : ["delivered", "stale"],
      unknown: ["stale"],
      new: ["delivered", "held"],
    };
    t.check(allowed[status]!.includes(outcome), () => `insert ${seq} (${status}, nextExpected was ${next0}, span ${b.currentSpan}): ${outcome}, expected ${allowed[status]!.join(" or ")}`);
    if (heldNow) {
      t.check(seq > b.nextExpected, () => `insert ${seq}: held at or below nextExpected ${b.nextExpected}`);
      const reach = this.adaptive ? b.maxSpan : this.capacity;
      t.check(seq - b.nextExpected <= reach, () => `insert ${seq}: held ${seq - b.nextExpected} past nextExpected ${b.nextExpected}, more than ${reach}`);
      this.held.set(seq, { packet, at: nowMs });
      this.heldQueue.push(seq);
    }
    this.end(`insert ${seq}`);
  }

  handleTimeout(nowMs: number): void {
    const t = this.trace;
    const deadline = this.buffer.nextDeadline();
    const next0 = this.buffer.nextExpected;
    this.begin();
    this.buffer.handleTimeout(nowMs);
    // Early: nothing is given up (a hole waits its whole hold time).
    if (nowMs < deadline) t.check(this.opDeliveries.length === 0 && this.buffer.nextExpected === next0, () => `handleTimeout(${nowMs}) before the deadline ${deadline} released something`);
    this.end(`handleTimeout(${nowMs})`);
    const after = this.buffer.nextDeadline();
    t.check(after > nowMs, () => `after handleTimeout(${nowMs}) the next deadline ${after} is not in the future: the timer would spin`);
  }

  flush(): void {
    this.begin();
    this.buffer.flush();
    for (let i = 1; i < this.opDeliveries.length; i++) {
      const a = this.opDeliveries[i - 1]!;
      const b = this.opDeliveries[i]!;
      this.trace.check(a < b, () => `flush delivered ${a} before ${b}`);
    }
    this.end("flush");
    this.trace.check(this.buffer.heldCount === 0 && this.buffer.nextDeadline() === Infinity, () => `flush left ${this.buffer.heldCount} held, next deadline ${this.buffer.nextDeadline()}`);
  }

  reset(): void {
    this.forgotten += this.buffer.heldCount;
    this.buffer.reset();
    this.epoch++;
    this.synced = false;
    this.delivered.clear();
    this.held.clear();
    this.heldQueue = [];
    this.heldHead = 0;
    this.resendBelow = 0;
    this.top = 0;
    this.lastNext = 0;
    this.recentDelivered.length = 0;
    const b = this.buffer;
    this.trace.check(b.heldCount === 0 && b.nextExpected === 0 && b.highestSeen === 0 && b.nextDeadline() === Infinity, () => `reset left held ${b.heldCount}, nextExpected ${b.nextExpected}`);
    this.end("reset");
  }

  resendDue(sentByMs: number): void {
    if (this.buffer.heldCount > 0) this.resendBelow = Math.max(this.resendBelow, this.buffer.highestSeen);
    this.begin();
    this.buffer.resendDue(sentByMs);
    this.end("resendDue");
  }

  get holdMs(): number {
    return this.buffer.holdMs;
  }
  set holdMs(ms: number) {
    this.buffer.holdMs = ms;
    this.end("holdMs");
  }

  /** After the stream ended and everything was flushed: every insert is accounted for. */
  finalCheck(): void {
    const s = this.buffer.stats;
    this.trace.check(s.held === 0, () => `${s.held} still held at the end`);
    this.trace.check(s.delivered + s.late + s.duplicates + s.stale + this.forgotten === this.inserts, () => `accounts: ${JSON.stringify(s)}, forgotten ${this.forgotten}, inserts ${this.inserts}`);
    this.scanRing();
  }

  private begin(): void {
    this.opDeliveries = [];
    this.opFromHeld = 0;
    const s = this.buffer.stats;
    this.cb = { delivered: s.delivered, late: s.late };
  }

  private onDeliver(packet: Uint8Array): void {
    const t = this.trace;
    const b = this.buffer;
    const o = this.origin.get(packet);
    if (!o) return t.fail("delivered a packet that was never inserted");
    const seq = o.seq;
    t.check(o.epoch === this.epoch, () => `delivered ${seq}, a packet from before a reset`);
    t.check(!this.delivered.has(seq), () => `delivered ${seq} twice`);
    const s = b.stats; // counters are updated before the callback runs
    const inOrder = s.delivered - this.cb.delivered;
    const late = s.late - this.cb.late;
    this.cb = { delivered: s.delivered, late: s.late };
    t.check(inOrder + late === 1, () => `delivery of ${seq} counted ${inOrder} in order and ${late} late`);
    const h = this.held.get(seq);
    if (inOrder) {
      t.check(seq === b.nextExpected - 1, () => `in-order delivery of ${seq} with nextExpected ${b.nextExpected}`);
      if (h) {
        t.check(h.packet === packet, () => `delivered another packet than the one held for ${seq}`);
        this.held.delete(seq);
        this.opFromHeld++;
      } else {
        t.check(packet === this.current, () => `delivered ${seq} in order, neither held nor being inserted`);
      }
    } else {
      t.check(packet === this.current && !h && seq < b.nextExpected, () => `late delivery of ${seq} (held: ${Boolean(h)}, nextExpected ${b.nextExpected})`);
    }
    if (packet === this.current) this.currentDelivered = true;
    this.delivered.add(seq);
    this.opDeliveries.push(seq);
    this.deliveredCount++;
    this.recentDelivered.push(seq);
    if (this.recentDelivered.length > 256) this.recentDelivered.shift();
  }

  /** What must hold after every call. */
  private end(op: string): void {
    const t = this.trace;
    const b = this.buffer;
    const s = b.stats;
    const next = b.nextExpected;
    t.check(s.held === b.heldCount && b.heldCount === this.held.size, () => `${op}: held ${b.heldCount}, stats ${s.held}, model ${this.held.size}`);
    t.check(next >= this.lastNext || !this.synced, () => `${op}: nextExpected went back from ${this.lastNext} to ${next}`);
    // Nothing held may be passed: a held packet below nextExpected is never released (cddac6f).
    if (next - this.lastNext <= this.held.size) {
      for (let q = this.lastNext; q < next; q++) t.check(!this.held.has(q), () => `${op}: ${q} is held below nextExpected ${next}`);
    } else {
      for (const q of this.held.keys()) t.check(q >= next, () => `${op}: ${q} is held below nextExpected ${next}`);
    }
    t.check(!this.held.has(next), () => `${op}: ${next} is held at nextExpected, not delivered`);
    this.lastNext = this.synced ? next : 0;
    t.check(b.currentSpan >= this.capacity && b.currentSpan <= b.maxSpan && (this.adaptive || b.currentSpan === this.capacity), () => `${op}: span ${b.currentSpan}`);
    if (this.synced) {
      t.check(s.delivered - this.baseDelivered + s.holesSkipped - this.baseSkipped === next - this.first, () => `${op}: delivered + skipped since the sync ≠ ${next} - ${this.first}`);
      t.check(b.highestSeen === this.top, () => `${op}: highestSeen ${b.highestSeen}, expected ${this.top}`);
    }
    t.check(s.delivered + s.late + s.duplicates + s.stale + s.held + this.forgotten === this.inserts, () => `${op}: ${this.inserts} inserts but ${JSON.stringify(s)}, forgotten ${this.forgotten}`);
    this.checkDeadline(op);
    if (++this.ops % 256 === 0 || op === "flush" || op === "reset") this.scanRing();
  }

  /** The deadline is the oldest held packet's arrival plus holdMs; later only while a resend is due, by at most TCP's minimum RTO. */
  private checkDeadline(op: string): void {
    const b = this.buffer;
    while (this.heldHead < this.heldQueue.length && !this.held.has(this.heldQueue[this.heldHead]!)) this.heldHead++;
    if (this.heldHead > 4096 && this.heldHead * 2 > this.heldQueue.length) {
      this.heldQueue = this.heldQueue.slice(this.heldHead);
      this.heldHead = 0;
    }
    const deadline = b.nextDeadline();
    if (this.heldHead === this.heldQueue.length) return this.trace.check(deadline === Infinity, () => `${op}: nothing held, deadline ${deadline}`);
    const oldest = this.held.get(this.heldQueue[this.heldHead]!)!;
    const lower = oldest.at + b.holdMs;
    const upper = oldest.at + Math.max(b.holdMs, TCP_MIN_RTO_MS);
    if (b.nextExpected >= this.resendBelow) this.trace.check(deadline === lower, () => `${op}: deadline ${deadline}, the oldest held arrived at ${oldest.at} (hold ${b.holdMs})`);
    else this.trace.check(deadline >= lower && deadline <= upper, () => `${op}: deadline ${deadline} outside [${lower}, ${upper}] with a resend due`);
  }

  /** White-box: the ring holds exactly the model's held packets, in their own slots, above nextExpected. */
  private scanRing(): void {
    const ring = this.buffer as unknown as RingView;
    if (!(ring.slotState instanceof Uint8Array) || !(ring.slotSeq instanceof Float64Array)) this.trace.fail("reorder.ts's ring fields were renamed: update RingView");
    const mask = ring.slotState.length - 1;
    let count = 0;
    for (let i = 0; i < ring.slotState.length; i++) {
      if (ring.slotState[i] !== SLOT_HELD) continue;
      count++;
      const seq = ring.slotSeq[i]!;
      this.trace.check((seq & mask) === i && seq > this.buffer.nextExpected, () => `slot ${i} holds ${seq}, nextExpected ${this.buffer.nextExpected}`);
      this.trace.check(this.held.get(seq)?.packet === ring.packets[i], () => `slot ${i} holds ${seq}, which the model does not hold`);
    }
    this.trace.check(count === this.buffer.heldCount, () => `${count} slots held, heldCount ${this.buffer.heldCount}`);
  }
}

/** PassThrough's stand-in (no reorder buffer): what it is given goes on at once, once. */
export class CheckedPassThrough implements EqualisedSink {
  readonly reorders = false;
  readonly heldCount = 0;
  readonly highestSeen = 0;
  onInsert: (packet: Uint8Array, seq: number) => void = () => {};
  deliveredCount = 0;
  private readonly seen = new Set<Uint8Array>();
  constructor(private readonly trace: Trace) {}
  insert(seq: number, packet: Uint8Array): void {
    this.onInsert(packet, seq);
    this.trace.check(!this.seen.has(packet), () => `packet ${seq} passed on twice`);
    this.seen.add(packet);
    this.deliveredCount++;
  }
  nextDeadline(): number {
    return Infinity;
  }
  handleTimeout(): void {}
  flush(): void {}
  reset(): void {}
}

interface Waiting {
  link: number;
  packet: Uint8Array;
  seq: number;
  dueMs: number;
  gone: boolean;
}

/**
 * An Equaliser over a checked sink, with a model of what waits on each link (in arrival order,
 * with the due time its hold gave it: stats.lastHoldMs after the arrival).
 */
export class CheckedEqualiser {
  private readonly waiting: Waiting[][] = [];
  private readonly byPacket = new Map<Uint8Array, Waiting>();
  private arriving: Uint8Array | undefined;
  private arrivingForwarded = false;
  private sinkInserts = 0;
  private arrivals = 0;
  private forgotten = 0;

  constructor(
    readonly eq: Equaliser,
    private readonly sink: CheckedReorder | CheckedPassThrough,
    private readonly trace: Trace,
  ) {
    sink.onInsert = (packet, seq) => this.onSinkInsert(packet, seq);
  }

  private queue(link: number): Waiting[] {
    while (this.waiting.length <= link) this.waiting.push([]);
    return this.waiting[link]!;
  }

  /** The first packet still waiting on `link`, dropping those gone from the front. */
  private front(link: number): Waiting | undefined {
    const q = this.queue(link);
    while (q.length > 0 && q[0]!.gone) q.shift();
    return q[0];
  }

  /**
   * A packet enters the sink: it is the one arriving, or one that waited. Either way no link's
   * first waiting packet is numbered below it ("nor is a packet ever later than one sent after it"):
   * the only ones not yet gone are being released around it, all numbered above it.
   */
  private onSinkInsert(packet: Uint8Array, seq: number): void {
    const t = this.trace;
    this.sinkInserts++;
    if (packet === this.arriving) {
      t.check(!this.arrivingForwarded, () => `arriving packet ${seq} entered the sink twice`);
      this.arrivingForwarded = true;
    } else {
      const w = this.byPacket.get(packet);
      if (!w || w.gone) return t.fail(`packet ${seq} entered the sink, but was not waiting in the equaliser`);
      w.gone = true;
      this.byPacket.delete(packet);
      // It left its link's ring from the front: those before it are gone or being released around it.
      for (const v of this.queue(w.link)) {
        if (v === w) break;
        t.check(v.gone || v.seq > seq, () => `${seq} entered the sink ahead of ${v.seq}, which came before it on link ${w.link}`);
      }
    }
    for (let l = 0; l < this.waiting.length; l++) {
      const f = this.front(l);
      t.check(!f || f.seq >= seq, () => `${seq} entered the sink while ${f!.seq} waits at the front of link ${l}`);
    }
  }

  arrive(link: Link, seq: number, packet: Uint8Array, nowMs: number): void {
    const t = this.trace;
    const held0 = this.eq.stats.held;
    this.arrivals++;
    this.arriving = packet;
    this.arrivingForwarded = false;
    this.eq.arrive(link, seq, packet, nowMs);
    this.arriving = undefined;
    const st = this.eq.stats;
    if (st.held === held0 + 1) {
      t.check(!this.arrivingForwarded, () => `${seq} both waited and went on`);
      t.check(Number.isFinite(st.lastHoldMs) && st.lastHoldMs >= 0, () => `${seq} waits ${st.lastHoldMs} ms`);
      const w: Waiting = { link: link.index, packet, seq, dueMs: nowMs + st.lastHoldMs, gone: false };
      this.queue(link.index).push(w);
      this.byPacket.set(packet, w);
    } else {
      t.check(st.held === held0 && this.arrivingForwarded, () => `${seq} neither waited nor went on (held ${held0} -> ${st.held})`);
    }
    this.end(`arrive ${seq} on link ${link.index}`);
  }

  nextDeadline(): number {
    return this.eq.nextDeadline();
  }

  /** The reorder buffer's hold (what a surge of the fuzz lasts with PassThrough: 50 ms). */
  get holdMs(): number {
    return this.sink instanceof CheckedReorder ? this.sink.holdMs : 50;
  }

  resendDue(sentByMs: number): void {
    if (this.sink instanceof CheckedReorder) this.sink.resendDue(sentByMs);
  }

  handleTimeout(nowMs: number): void {
    const t = this.trace;
    const deadline = this.eq.nextDeadline();
    const inserts = this.sinkInserts;
    const delivered = this.sink.deliveredCount;
    this.eq.handleTimeout(nowMs);
    if (nowMs < deadline) t.check(this.sinkInserts === inserts && this.sink.deliveredCount === delivered, () => `handleTimeout(${nowMs}) before the deadline ${deadline} did something`);
    for (let l = 0; l < this.waiting.length; l++) {
      const f = this.front(l);
      t.check(!f || f.dueMs > nowMs, () => `after handleTimeout(${nowMs}), ${f!.seq} due at ${f!.dueMs} still waits on link ${l}`);
    }
    const after = this.eq.nextDeadline();
    t.check(after > nowMs, () => `after handleTimeout(${nowMs}) the next deadline ${after} is not in the future: the timer would spin`);
    this.end(`handleTimeout(${nowMs})`);
  }

  flush(nowMs: number): void {
    this.eq.flush(nowMs);
    this.trace.check(this.byPacket.size === 0 && this.sink.heldCount === 0, () => `flush left ${this.byPacket.size} waiting, ${this.sink.heldCount} in the reorder buffer`);
    this.end("flush");
  }

  reset(): void {
    this.forgotten += this.byPacket.size;
    for (const w of this.byPacket.values()) w.gone = true;
    this.byPacket.clear();
    this.eq.reset();
    this.end("reset");
  }

  private end(op: string): void {
    const t = this.trace;
    const st = this.eq.stats;
    t.check(st.holding === this.byPacket.size, () => `${op}: holding ${st.holding}, model ${this.byPacket.size}`);
    t.check(this.arrivals === this.sinkInserts + this.byPacket.size + this.forgotten, () => `${op}: ${this.arrivals} arrivals, ${this.sinkInserts} went on, ${this.byPacket.size} wait, ${this.forgotten} forgotten`);
    // The deadline is the sink's or the earliest first-waiting packet's due time, whichever is sooner.
    let due = this.sink.nextDeadline();
    for (let l = 0; l < this.waiting.length; l++) due = Math.min(due, this.front(l)?.dueMs ?? Infinity);
    t.check(this.eq.nextDeadline() === due, () => `${op}: deadline ${this.eq.nextDeadline()}, expected ${due}`);
  }
}
