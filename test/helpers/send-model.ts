/**
 * Checked stand-ins for the send path's state machines (test/unit/send-fuzz.test.ts), as
 * receive-model.ts is for the receive path. CheckedSender keeps a model of one LinkSender's queue
 * and in-flight records and wraps the sender's methods on the instance, so that the same checks
 * run whether the fuzz calls the sender or SendPath does: each call's outcome is compared with
 * the model's (what is acknowledged, what is lost, the RTT sample, the queue's order and bytes),
 * and what must always hold of its pacer and estimator is checked after every operation. A
 * broken invariant throws at once through Trace, naming the scenario, the step and the last
 * operations, so that a seeded run can be replayed to that point.
 *
 * Why a model of the records rather than only sums: a counter acknowledged or lost twice, or an
 * in-flight record the sender forgot, leaves inflightBytes right for a while and shows only later
 * as a link that never stalls or never sends; compared call by call, the first wrong answer fails.
 */
import { INITIAL_RATE_BYTES_PER_MS, MIN_INFLIGHT_BYTES, MIN_RATE_BYTES_PER_MS, type RateEstimator } from "../../src/core/estimator.ts";
import { type AckResult, BURST_MS, GUESS_BURST_PACKETS, IN_FLIGHT, type LinkSender, MIN_WAIT_MS, STORE_SLOTS } from "../../src/core/linksender.ts";
import { REORDER_THRESHOLD, reorderWindowMs } from "../../src/core/lossrules.ts";
import { FEEDBACK_BITMAP_COUNTERS } from "../../src/wire/inner.ts";
import { TUNNEL_OVERHEAD } from "../../src/wire/layout.ts";
import type { Trace } from "./receive-model.ts";

/** The sender's private state, read for the white-box checks (linksender.ts). */
interface SenderView {
  tokens: number;
  refilledMs: number;
  fCounter: Float64Array;
  fState: Uint8Array;
  fBytes: Float64Array;
  fAppLimited: Uint8Array;
  lowestUnacked: number;
  highestSent: number;
  writeSeq: number;
  firstCount: number;
}

/** The estimator's private state, read for the white-box checks (estimator.ts). */
interface EstimatorView {
  cap: number;
  signal: { returnQueueMs: number; minOwdMs: number; rtts: unknown[]; owds: unknown[] };
  startupGain: number;
  recent: unknown[];
  roundBest: Float64Array;
  delivered: Float64Array;
  roundMean: Float64Array;
  deliveredBytes: number;
}

interface Rec {
  counter: number;
  bytes: number;
  slot: number;
  sentMs: number;
  inFlight: boolean;
}

/** A queued packet as the model remembers it: its slot sequence and what the sender must give back. */
interface Entry {
  seq: number;
  len: number;
  dataSeq: number;
  queuedMs: number;
  resends: number;
  hash: number;
}

/** Whether an acknowledgement (highest + bitmap of the 64 below it) covers counter `c`: FEEDBACK's layout (wire/inner.ts). */
export function acks(c: number, highest: number, hi: number, lo: number): boolean {
  if (c === highest) return true;
  const d = highest - 1 - c;
  if (d < 0 || d >= FEEDBACK_BITMAP_COUNTERS) return false;
  return d < 32 ? ((lo >>> d) & 1) === 1 : ((hi >>> (d - 32)) & 1) === 1;
}

/** A cheap fingerprint of a packet's bytes: the fuzz writes a distinct id into the first four. */
export function packetHash(p: Uint8Array): number {
  let h = p.length;
  for (const i of [0, 1, 2, 3, p.length >> 1, p.length - 1]) if (i >= 0 && i < p.length) h = (Math.imul(h, 31) + p[i]!) | 0;
  return h;
}

const finite = Number.isFinite;

/** What must always hold of a rate estimator. */
export function checkEstimator(e: RateEstimator, t: Trace, where: string): void {
  const v = e as unknown as EstimatorView;
  const floor = Math.min(MIN_RATE_BYTES_PER_MS, v.cap);
  // The estimate's own floor is MIN_RATE_BYTES_PER_MS, but a cap below it, then lifted, leaves it
  // where the cap put it until a sample raises it; the pacing rate keeps the floor.
  const bw = e.bandwidth;
  t.check(finite(bw) && bw > 0 && bw <= v.cap, () => `${where}: bandwidth ${bw} outside (0, ${v.cap}]`);
  const pace = e.pacingRate();
  t.check(finite(pace) && pace >= floor && pace <= v.cap, () => `${where}: pacing rate ${pace} outside [${floor}, ${v.cap}]`);
  const cap = e.inflightCap();
  t.check(finite(cap) && cap >= MIN_INFLIGHT_BYTES, () => `${where}: in-flight cap ${cap}`);
  t.check(e.minRttMs === Number.POSITIVE_INFINITY || (finite(e.minRttMs) && e.minRttMs > 0), () => `${where}: min RTT ${e.minRttMs}`);
  const round = e.roundMs();
  t.check(finite(round) && round >= 10, () => `${where}: round ${round} ms`);
  const sig = v.signal;
  t.check(finite(sig.returnQueueMs) && sig.returnQueueMs >= 0 && sig.returnQueueMs <= 200, () => `${where}: return queue ${sig.returnQueueMs} ms`);
  t.check(finite(v.startupGain) && v.startupGain >= 2, () => `${where}: startup gain ${v.startupGain}`);
  t.check(!Number.isNaN(sig.minOwdMs) && finite(v.deliveredBytes), () => `${where}: min one-way delay ${sig.minOwdMs}, delivered ${v.deliveredBytes}`);
  for (const [name, ring] of [["roundBest", v.roundBest], ["delivered", v.delivered], ["roundMean", v.roundMean]] as const) {
    for (const x of ring) t.check(finite(x) && x >= 0, () => `${where}: ${name} holds ${x}`);
  }
  // The per-round sample lists are trimmed to a round: a list that only grows is a leak.
  t.check(v.recent.length < 50_000 && sig.rtts.length < 50_000 && sig.owds.length < 50_000, () => `${where}: sample lists ${v.recent.length}/${sig.rtts.length}/${sig.owds.length}`);
  if (e.isGuess) t.check(bw <= INITIAL_RATE_BYTES_PER_MS, () => `${where}: still a guess at ${bw}`);
}

/**
 * A LinkSender with a model of its queue (resends first, each once, then the rest in order) and
 * of its in-flight records by transport counter (each acknowledged or lost at most once, the
 * exact set each acknowledgement settles), its methods wrapped on the instance.
 */
export class CheckedSender {
  /** What the checked calls did, for the fuzz's coverage checks. */
  readonly seen = { enqueued: 0, refused: 0, firsts: 0, sent: 0, acked: 0, lost: 0, evicted: 0, shown: 0, abandoned: 0, resets: 0, rtts: 0, staleAcks: 0, wrapped: 0 };
  private readonly v: SenderView;
  private readonly flightSlots: number;
  /** Each flight slot's record (any state), as the sender keeps it: counter % flightSlots. */
  private readonly bySlot = new Map<number, Rec>();
  private readonly inflight = new Map<number, Rec>();
  private inflightBytes = 0;
  private highestSent = -1;
  /** At or below the lowest counter in flight (lowestInFlight). */
  private minCursor = 0;
  private readonly firsts: Entry[] = [];
  private regular: Entry[] = [];
  private head = 0;
  private queuedBytes = 0;
  /** Store slots ever reported lost: a slot is sent once, so it is lost at most once. */
  private readonly lostSlots = new Set<number>();
  private ops = 0;
  private readonly o: Pick<LinkSender, "enqueue" | "dequeue" | "onSent" | "onAck" | "lossesShown" | "abandonInFlight" | "resetFlight" | "expandCounter">;

  constructor(
    readonly s: LinkSender,
    private readonly t: Trace,
    readonly name = "sender",
  ) {
    this.v = s as unknown as SenderView;
    this.flightSlots = this.v.fCounter.length;
    this.o = {
      enqueue: s.enqueue.bind(s),
      dequeue: s.dequeue.bind(s),
      onSent: s.onSent.bind(s),
      onAck: s.onAck.bind(s),
      lossesShown: s.lossesShown.bind(s),
      abandonInFlight: s.abandonInFlight.bind(s),
      resetFlight: s.resetFlight.bind(s),
      expandCounter: s.expandCounter.bind(s),
    };
    s.enqueue = (p, d, n, r, f) => this.enqueue(p, d, n, r, f);
    s.dequeue = () => this.dequeue();
    s.onSent = (c, b, slot, n) => this.onSent(c, b, slot, n);
    s.onAck = (h, hi, lo, d, n, clock) => this.onAck(h, hi, lo, d, n, clock);
    s.lossesShown = (h, hi, lo) => this.lossesShown(h, hi, lo);
    s.abandonInFlight = () => this.abandonInFlight();
    s.resetFlight = (peer) => this.resetFlight(peer);
    s.expandCounter = (low32) => this.expandCounter(low32);
  }

  /** Packets queued, as the model counts them. */
  get queued(): number {
    return this.firsts.length + this.regular.length - this.head;
  }

  get inFlightCount(): number {
    return this.inflight.size;
  }

  get highest(): number {
    return this.highestSent;
  }

  /** A counter sent in this session and still in flight, picked by `r` in [0, 1); undefined if none. */
  inflightCounterAt(r: number): number | undefined {
    if (this.inflight.size === 0) return undefined;
    let k = Math.floor(r * this.inflight.size);
    for (const c of this.inflight.keys()) if (k-- === 0) return c;
    return undefined;
  }

  private enqueue(packet: Uint8Array, dataSeq: number, nowMs: number, resends = 0, first = false): boolean {
    const t = this.t;
    const length = this.s.queueLength;
    const ok = this.o.enqueue(packet, dataSeq, nowMs, resends, first);
    const fits = packet.length <= this.s.maxPacket && length < STORE_SLOTS / 2;
    t.check(ok === fits, () => `${this.name} enqueue of ${packet.length} bytes with ${length} slots queued: ${ok}, expected ${fits}`);
    if (ok) {
      const e: Entry = { seq: this.v.writeSeq - 1, len: packet.length, dataSeq, queuedMs: nowMs, resends, hash: packetHash(packet) };
      if (first && this.firsts.length < FEEDBACK_BITMAP_COUNTERS) (this.firsts.push(e), this.seen.firsts++);
      else this.regular.push(e);
      this.queuedBytes += packet.length;
      this.seen.enqueued++;
    } else this.seen.refused++;
    this.end("enqueue");
    return ok;
  }

  private dequeue(): void {
    const t = this.t;
    const want = this.firsts[0] ?? this.regular[this.head];
    const got = this.s.peek();
    t.check(got === (want?.seq ?? -1), () => `${this.name} queue head is slot ${got}, expected ${want?.seq ?? -1} (${this.firsts.length} resends first)`);
    if (want) {
      const p = this.s.packet(got);
      t.check(p !== undefined && packetHash(p) === want.hash && this.s.lengthOf(got) === want.len, () => `${this.name} slot ${got}: the packet's bytes changed while it was queued`);
      t.check(this.s.dataSeqOf(got) === want.dataSeq && this.s.queuedSince(got) === want.queuedMs && this.s.resendsOf(got) === want.resends, () => `${this.name} slot ${got}: data sequence, queue time or resends changed`);
    }
    this.o.dequeue();
    if (want) {
      if (this.firsts[0] === want) this.firsts.shift();
      else this.head++;
      if (this.head > 256 && this.head * 2 > this.regular.length) (this.regular = this.regular.slice(this.head)), (this.head = 0);
      this.queuedBytes -= want.len;
    }
    this.end("dequeue");
  }

  private onSent(counter: number, bytes: number, slot: number, nowMs: number): void {
    const t = this.t;
    const i = counter % this.flightSlots;
    const old = this.bySlot.get(i);
    const lost0 = this.s.lostPackets;
    this.o.onSent(counter, bytes, slot, nowMs);
    let evicted = 0;
    if (old?.inFlight) {
      // Wrapped onto a record never settled: counted lost (its data is not sent again).
      old.inFlight = false;
      this.inflight.delete(old.counter);
      this.inflightBytes -= old.bytes;
      evicted = 1;
      this.seen.evicted++;
    }
    t.check(this.s.lostPackets - lost0 === evicted, () => `${this.name} onSent ${counter}: ${this.s.lostPackets - lost0} counted lost, expected ${evicted}`);
    const rec: Rec = { counter, bytes, slot, sentMs: nowMs, inFlight: true };
    this.bySlot.set(i, rec);
    this.inflight.set(counter, rec);
    if (this.inflight.size === 1 || counter < this.minCursor) this.minCursor = counter;
    this.inflightBytes += bytes;
    if (counter > this.highestSent) this.highestSent = counter;
    if (counter >= 2 ** 32) this.seen.wrapped++;
    this.seen.sent++;
    // A packet sent with nothing else waiting is application-limited: its rate sample must not
    // lower the estimate (estimator.ts onRateSample). The model's queue is what waits.
    const appLimited = this.queued === 0 ? 1 : 0;
    t.check(this.v.fAppLimited[i] === appLimited, () => `${this.name} onSent ${counter}: application-limited ${this.v.fAppLimited[i]}, expected ${appLimited} (${this.queued} queued, queueLength ${this.s.queueLength})`);
    this.end(`onSent ${counter}`);
  }

  /** The loss rule (linksender.ts findLost) over the model's records in flight, from `from` up. */
  private expectLost(highest: number, from: number, minRttMs: number, shownHi?: number, shownLo?: number): Rec[] {
    const h = this.bySlot.get(highest % this.flightSlots);
    const sentBefore = h && h.counter === highest ? h.sentMs - reorderWindowMs(minRttMs) : Number.NEGATIVE_INFINITY;
    const top = Math.min(highest - 1, this.highestSent);
    const out: Rec[] = [];
    const consider = (r: Rec): void => {
      if (r.counter < from || r.counter > top) return;
      if (shownHi !== undefined && acks(r.counter, highest, shownHi, shownLo!)) return;
      if (r.counter <= highest - REORDER_THRESHOLD || r.sentMs <= sentBefore) out.push(r);
    };
    // By counter when the range is the smaller (a flood of thousands in flight, acknowledged a few at a time).
    if (top - from < this.inflight.size) for (let c = Math.max(from, this.lowestInFlight()); c <= top; c++) (this.inflight.has(c) ? consider(this.inflight.get(c)!) : undefined);
    else for (const r of this.inflight.values()) consider(r);
    return out.sort((a, b) => a.counter - b.counter);
  }

  private settleLost(recs: Rec[], got: number[], op: string): void {
    const want = recs.filter((r) => r.slot >= 0).map((r) => r.slot);
    this.t.check(got.length === want.length && got.every((s, k) => s === want[k]), () => `${this.name} ${op}: lost slots [${got.join(", ")}], expected [${want.join(", ")}]`);
    for (const r of recs) {
      r.inFlight = false;
      this.inflight.delete(r.counter);
      this.inflightBytes -= r.bytes;
      this.seen.lost++;
    }
    for (const s of got) {
      this.t.check(!this.lostSlots.has(s), () => `${this.name} ${op}: slot ${s} reported lost twice`);
      this.lostSlots.add(s);
    }
  }

  private onAck(highest: number, hi: number, lo: number, ackDelayMs: number, nowMs: number, peerClock?: number): AckResult {
    const t = this.t;
    const s = this.s;
    const op = `onAck ${highest} (${hi.toString(16)}:${lo.toString(16)}, delay ${ackDelayMs}) at ${nowMs}`;
    const lowest = this.v.lowestUnacked;
    const minRtt = s.estimator.minRttMs;
    const delivered0 = s.delivered;
    const lost0 = s.lostPackets;
    const top = Math.min(highest, this.highestSent);
    const acked: Rec[] = [];
    for (let c = Math.max(0, top - FEEDBACK_BITMAP_COUNTERS); c <= top; c++) {
      const r = this.inflight.get(c);
      if (r && acks(c, highest, hi, lo)) acked.push(r);
    }
    const r = this.o.onAck(highest, hi, lo, ackDelayMs, nowMs, peerClock);
    t.check(r.newlyAcked === acked.length, () => `${this.name} ${op}: ${r.newlyAcked} newly acknowledged, expected ${acked.length}`);
    let bytes = 0;
    let rtt = -1;
    for (const a of acked) {
      a.inFlight = false;
      this.inflight.delete(a.counter);
      this.inflightBytes -= a.bytes;
      bytes += a.bytes;
      if (a.counter === highest) rtt = nowMs - a.sentMs - ackDelayMs;
    }
    if (acked.length === 0) this.seen.staleAcks++;
    this.seen.acked += acked.length;
    t.check(s.delivered - delivered0 === bytes, () => `${this.name} ${op}: delivered grew by ${s.delivered - delivered0}, expected ${bytes}`);
    const wantRtt = rtt >= 0 ? Math.max(0.05, rtt) : -1;
    t.check(r.rttMs === wantRtt, () => `${this.name} ${op}: RTT sample ${r.rttMs}, expected ${wantRtt}`);
    if (wantRtt > 0) this.seen.rtts++;
    const lost = this.expectLost(highest, lowest, minRtt);
    this.settleLost(lost, r.lost, op);
    t.check(s.lostPackets - lost0 === lost.length, () => `${this.name} ${op}: lostPackets grew by ${s.lostPackets - lost0}, expected ${lost.length}`);
    if (acked.length > 0) t.check(s.lastAckMs === nowMs, () => `${this.name} ${op}: lastAckMs ${s.lastAckMs}`);
    this.checkLowest(op, true);
    this.end(op);
    return r;
  }

  private lossesShown(highest: number, hi: number, lo: number): number[] {
    const op = `lossesShown ${highest} (${hi.toString(16)}:${lo.toString(16)})`;
    const lowest = this.v.lowestUnacked;
    const minRtt = this.s.estimator.minRttMs;
    const lost0 = this.s.lostPackets;
    const want = highest > this.highestSent ? [] : this.expectLost(highest, Math.max(lowest, highest - FEEDBACK_BITMAP_COUNTERS), minRtt, hi, lo);
    const got = this.o.lossesShown(highest, hi, lo);
    this.settleLost(want, got, op);
    this.seen.shown += want.length;
    this.t.check(this.s.lostPackets - lost0 === want.length, () => `${this.name} ${op}: lostPackets grew by ${this.s.lostPackets - lost0}, expected ${want.length}`);
    this.checkLowest(op, false);
    this.end(op);
    return got;
  }

  private abandonInFlight(): number[] {
    const all = [...this.inflight.values()].sort((a, b) => a.counter - b.counter);
    const got = this.o.abandonInFlight();
    this.settleLost(all, got, "abandonInFlight");
    this.seen.abandoned += all.length;
    this.t.check(this.s.inflightBytes === 0 && this.v.lowestUnacked === this.highestSent + 1, () => `${this.name} abandonInFlight: ${this.s.inflightBytes} bytes in flight, lowest unacked ${this.v.lowestUnacked}`);
    this.end("abandonInFlight");
    return got;
  }

  private resetFlight(peerInstance?: number): void {
    this.o.resetFlight(peerInstance);
    this.bySlot.clear();
    this.inflight.clear();
    this.inflightBytes = 0;
    this.highestSent = -1;
    this.seen.resets++;
    this.t.check(this.s.nextCounter === 0, () => `${this.name} resetFlight: next counter ${this.s.nextCounter}`);
    this.end("resetFlight");
  }

  private expandCounter(low32: number): number {
    const r = this.o.expandCounter(low32);
    const h = this.highestSent;
    // The counter at or below the highest sent, within 2^31, whose low 32 bits are low32: the one
    // the peer can have received (it never saw one above the highest we sent).
    const back = (((h % 2 ** 32) - low32) % 2 ** 32 + 2 ** 32) % 2 ** 32;
    const want = h >= 0 && back < 2 ** 31 && h - back >= 0 ? h - back : undefined;
    this.t.check(want === undefined ? r < 0 : r === want, () => `${this.name} expandCounter(${low32}) with highest sent ${h}: ${r}, expected ${want ?? "negative"}`);
    return r;
  }

  /** The lowest counter in flight, or the highest sent + 1: found from the last one up (counters are sent in increasing order). */
  private lowestInFlight(): number {
    if (this.inflight.size === 0) return (this.minCursor = this.highestSent + 1);
    while (!this.inflight.has(this.minCursor) && this.minCursor <= this.highestSent) this.minCursor++;
    this.t.check(this.minCursor <= this.highestSent, () => `${this.name}: the model lost its lowest counter in flight`);
    return this.minCursor;
  }

  /** lowestUnacked never passes a record in flight; after an acknowledgement it is the lowest one (or past the highest sent). */
  private checkLowest(op: string, exact: boolean): void {
    const min = this.lowestInFlight();
    const lowest = this.v.lowestUnacked;
    this.t.check(exact ? lowest === min : lowest <= min, () => `${this.name} ${op}: lowest unacknowledged ${lowest}, lowest in flight ${min}`);
  }

  /** After every wrapped call: the sums agree with the model; now and then every record is compared. */
  private end(op: string): void {
    const t = this.t;
    const s = this.s;
    t.check(s.inflightBytes === this.inflightBytes, () => `${this.name} ${op}: ${s.inflightBytes} bytes in flight, model ${this.inflightBytes}`);
    t.check(s.queuedBytes === this.queuedBytes && s.queuedBytes >= 0, () => `${this.name} ${op}: ${s.queuedBytes} bytes queued, model ${this.queuedBytes}`);
    t.check(this.queued > 0 || s.queuedBytes === 0, () => `${this.name} ${op}: queue empty with ${s.queuedBytes} bytes`);
    t.check(s.queueLength >= this.queued && this.v.firstCount === this.firsts.length, () => `${this.name} ${op}: queue length ${s.queueLength}, model ${this.queued}; ${this.v.firstCount} resends first, model ${this.firsts.length}`);
    t.check(s.nextCounter === this.highestSent + 1, () => `${this.name} ${op}: next counter ${s.nextCounter}, highest sent ${this.highestSent}`);
    if (++this.ops % 64 === 0) this.scan(op);
  }

  /** Every flight slot against the model. */
  private scan(op: string): void {
    const v = this.v;
    let n = 0;
    let bytes = 0;
    for (let i = 0; i < this.flightSlots; i++) {
      if (v.fState[i] !== IN_FLIGHT) continue;
      const c = v.fCounter[i]!;
      const r = this.inflight.get(c);
      this.t.check(r !== undefined && r.bytes === v.fBytes[i], () => `${this.name} ${op}: counter ${c} in flight, the model has ${r ? `${r.bytes} bytes` : "no record"}`);
      n++;
      bytes += v.fBytes[i]!;
    }
    this.t.check(n === this.inflight.size && bytes === this.s.inflightBytes, () => `${this.name} ${op}: ${n} records in flight (${bytes} bytes), model ${this.inflight.size}`);
  }

  /**
   * The pacer and the estimator at `nowMs` (what the tunnel asks after every input): finite
   * answers, sendableAt never before now and, when it says now, canSend agrees; and when it
   * says later, the pacer allows the packet then (a timer set for it finds it sendable).
   */
  check(nowMs: number, where: string): void {
    const t = this.t;
    const s = this.s;
    const v = this.v;
    checkEstimator(s.estimator, t, `${this.name} ${where}`);
    const rate = s.estimator.pacingRate();
    const cap = s.estimator.inflightCap();
    for (const bytes of [1 + TUNNEL_OVERHEAD, s.maxPacket + TUNNEL_OVERHEAD]) {
      const at = s.sendableAt(bytes, nowMs);
      t.check(finite(at) && (at === nowMs || at >= nowMs + MIN_WAIT_MS), () => `${this.name} ${where}: sendableAt(${bytes}, ${nowMs}) = ${at}`);
      const can = s.canSend(bytes, nowMs);
      t.check(can ? at === nowMs : at > nowMs || s.inflightBytes >= cap, () => `${this.name} ${where}: canSend(${bytes}) ${can} but sendableAt ${at} at ${nowMs} (in flight ${s.inflightBytes} of ${cap})`);
      if (at > nowMs) {
        const tokens = v.tokens;
        const refilled = v.refilledMs;
        const then = s.sendableAt(bytes, at);
        v.tokens = tokens;
        v.refilledMs = refilled;
        t.check(then === at, () => `${this.name} ${where}: at ${nowMs} the pacer said ${bytes} bytes at ${at}, and at ${at} it says ${then} (tokens ${tokens}, rate ${rate})`);
      }
      const wait = s.waitFor(bytes, nowMs);
      const waitFirst = s.waitFor(bytes, nowMs, true);
      t.check(finite(wait) && wait >= 0 && finite(waitFirst) && waitFirst >= 0 && waitFirst <= wait, () => `${this.name} ${where}: waitFor ${wait}, first ${waitFirst}`);
    }
    const burst = Math.max(GUESS_BURST_PACKETS * s.maxPacket, rate * BURST_MS);
    t.check(finite(v.tokens) && v.tokens <= burst, () => `${this.name} ${where}: ${v.tokens} tokens, burst ${burst}`);
  }
}
