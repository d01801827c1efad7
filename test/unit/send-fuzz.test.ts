/**
 * Seeded fuzz of the send path's state machines: one link's sender (src/core/linksender.ts: its
 * queue, pacer and in-flight records), the rate estimator behind it (estimator.ts), queue
 * admission (standingqueue.ts), the link-up rate train (train.ts), and SendPath (sendpath.ts)
 * over one to four links, driven through its public API as the tunnel drives it.
 *
 * The inputs are random but of the kinds the tunnel meets: packets of every size, bursts that
 * fill the queue, resends that go first, acknowledgements in order, reordered, duplicated, late
 * by seconds, of counters never sent, of counters near the 2^32 wrap (the wire carries the low 32
 * bits), FEEDBACK ack delays of 0 to 65 s, peer clocks that wrap or jump (a peer restart), RTTs
 * from 0.01 ms to 10 s, rate samples of extreme values, stalls and blackouts, long idle gaps,
 * clock steps of 0 and of fractions of a ms on clocks of a day's and a year's uptime (floating
 * point: the reorder buffer's livelock of cddac6f was `now - sent >= 200` reading
 * 199.99999999999994), upload caps set and changed. After every call the checked wrappers
 * (test/helpers/send-model.ts) compare the outcome with a model and check what must always hold;
 * after every timer, SendPath's deadlines must not be in the past (or the timer must have
 * something to do when they are now). A failure names the scenario and seed, the step and the
 * last operations; the same seed replays the same operations.
 *
 * Virtual clock only, every loop bounded. To replay a failure, run its test alone (`-t`) with
 * SEEDS cut to the seed it names.
 */
import { describe, expect, test } from "bun:test";
import { AckState } from "../../src/core/ackstate.ts";
import { RateEstimator } from "../../src/core/estimator.ts";
import { Link, LinkStatus } from "../../src/core/link.ts";
import { LinkSender } from "../../src/core/linksender.ts";
import { chooseCarriers } from "../../src/core/policy.ts";
import { SendPath, type SendPathHost } from "../../src/core/sendpath.ts";
import { StandingQueue } from "../../src/core/standingqueue.ts";
import { RateTrain, TRAIN_PACKETS } from "../../src/core/train.ts";
import { FEEDBACK_SIZE, KEEPALIVE_SIZE, newFeedback, readFeedback } from "../../src/wire/inner.ts";
import { TAG_SIZE, TRANSPORT_HEADER_SIZE, TUNNEL_OVERHEAD } from "../../src/wire/layout.ts";
import { Rng } from "../helpers/random.ts";
import { Trace } from "../helpers/receive-model.ts";
import { CheckedSender, checkEstimator } from "../helpers/send-model.ts";
import { TUN_MTU } from "../sim/corepair.ts";
import { EventHeap } from "../sim/pathmodel.ts";
import { linkConfig } from "../sim/simnet.ts";

const U32 = 2 ** 32;
const PROBE_BYTES = TRANSPORT_HEADER_SIZE + KEEPALIVE_SIZE + TAG_SIZE;

/** What happens later (arrivals, acknowledgements, the peer's ack timer), by time then by order. */
interface Ev {
  at: number;
  run: () => void;
}

class Events {
  private readonly heap = new EventHeap<Ev>();
  get nextAt(): number {
    return this.heap.peekTime();
  }
  push(at: number, run: () => void): void {
    this.heap.push(at, { at, run });
  }
  pop(): Ev | undefined {
    return this.heap.pop();
  }
}

/** Where the clock starts: performance.now() at start, after a day, after a year (where 1e-9 ms steps round to nothing). */
const ORIGINS = [0, 0.1, 86_400_000 + 1 / 3, 3e10 + 0.7];

/** A step of the virtual clock: none, fractions of a ms that floating point rounds, ordinary ones, idle gaps. */
function clockStep(rng: Rng): number {
  const r = rng.float();
  if (r < 0.1) return 0;
  if (r < 0.25) return rng.pick([1e-9, 1e-6, 0.01, 0.1, 1 / 3, 0.7, 0.2 + 1e-12, 0.30000000000000004]);
  if (r < 0.97) return rng.log(0.01, 30);
  return rng.log(500, 60_000);
}

/** The peer's clock offset, ms: mostly near its 32-bit wrap in 0.1 ms units (every 5 days), so that it wraps during the run. */
function peerOffset(rng: Rng): number {
  return rng.chance(0.6) ? U32 / 10 - rng.log(1, 20_000) : rng.float() * (U32 / 10);
}

/** Packet sizes: tiny, TCP acknowledgements, the express lane's limit and just above it, full, one byte too big. */
const SIZES = [1, 20, 40, 52, 100, 200, 201, 576, 1000, 1200, 1431, 1432];

/** A packet whose bytes 1..3 and last carry `id` (the checker fingerprints them); byte 0 is 0: no IP packet, so never TCP data. */
function makePacket(size: number, id: number): Uint8Array {
  const p = new Uint8Array(size);
  if (size > 1) p[1] = id & 0xff;
  if (size > 2) p[2] = (id >>> 8) & 0xff;
  if (size > 3) p[3] = (id >>> 16) & 0xff;
  p[size - 1] = (id * 7) & 0xff;
  return p;
}

interface Fb {
  highest: number;
  hi: number;
  lo: number;
  delay: number;
  clock: number;
}

/** An acknowledgement's fields as the fuzz makes them up: any bitmap, any delay up to 65 s, any clock. */
function garbage(rng: Rng, near: number): Fb {
  const r = rng.float();
  const highest = r < 0.4 ? (near - rng.int(80)) >>> 0 : r < 0.7 ? (near + 1 + rng.int(100)) >>> 0 : r < 0.8 ? (U32 - 1 - rng.int(100)) >>> 0 : rng.int(U32);
  const word = (): number => (rng.chance(0.3) ? 0 : rng.chance(0.3) ? 0xffff_ffff : rng.int(U32));
  const delay = rng.chance(0.3) ? 0 : rng.log(0.001, 65_535);
  return { highest, hi: word(), lo: word(), delay, clock: rng.int(U32) };
}

// ------------------------------------------------------------------ LinkSender and its estimator

/**
 * One LinkSender over a path (its RTT, jitter, loss, bottleneck rate; blackouts) to a peer that
 * acknowledges as the tunnel does (the core's AckState), with the fuzz's own inputs in between.
 */
function runSender(seed: number, steps: number): CheckedSender {
  const trace = new Trace(`linksender seed ${seed}`);
  const rng = new Rng(seed * 7_777_777 + 13);
  let now = rng.pick(ORIGINS);
  const cap = rng.chance(0.3) ? rng.pick([1, 3000, 125_000, 1_250_000, 125_000_000]) : 0;
  const checked = new CheckedSender(new LinkSender(rng.pick([TUN_MTU, 1500, 600]), cap, now), trace);
  const s = checked.s;
  const events = new Events();
  const path = { rttMs: rng.log(0.01, 10_000), jitterMs: 0, loss: 0, rate: rng.log(1, 50_000), blackoutUntil: Number.NEGATIVE_INFINITY, lastArrival: Number.NEGATIVE_INFINITY };
  const newPath = (): void => {
    path.rttMs = rng.log(0.01, 10_000);
    path.jitterMs = rng.chance(0.5) ? rng.log(0.001, path.rttMs) : 0;
    path.loss = rng.chance(0.5) ? rng.log(0.001, 0.2) : 0;
    path.rate = rng.log(1, 50_000);
  };
  newPath();
  // The peer: its acknowledgement state for our counters, its clock, the session (epoch) they belong to.
  let epoch = 0;
  let session = 1;
  let peerInstance = 1;
  let offset = peerOffset(rng);
  let peer = new AckState();
  let counter = rng.pick([0, U32 - 1 - rng.int(3000), 2 ** 40 - 5000]);
  let dataSeq = 0;
  const recent: Fb[] = [];
  const buf = new Uint8Array(FEEDBACK_SIZE);
  const fields = newFeedback();

  const onFeedback = (f: Fb, showLoss: boolean): void => {
    const h = s.expandCounter(f.highest);
    if (h < 0) return;
    const r = s.onAck(h, f.hi, f.lo, f.delay, now, f.clock);
    for (const slot of r.lost) resend(slot);
    if (showLoss) for (const slot of s.lossesShown(h, f.hi, f.lo)) resend(slot);
    pump();
  };
  const sendFeedback = (): void => {
    if (!peer.hasPending) return;
    peer.write(buf, 0, now + offset);
    readFeedback(buf, 0, FEEDBACK_SIZE, fields);
    const f: Fb = { highest: fields.highest, hi: fields.bitmapHi, lo: fields.bitmapLo, delay: fields.ackDelayMs, clock: fields.receiverClock };
    recent.push(f);
    if (recent.length > 64) recent.shift();
    const e = epoch;
    for (let copies = rng.chance(0.03) ? 2 : 1; copies > 0; copies--) {
      if (now < path.blackoutUntil || rng.chance(path.loss)) continue;
      const late = rng.chance(0.02) ? rng.log(100, 5000) : 0;
      events.push(now + path.rttMs / 2 + rng.float() * path.jitterMs + late, () => e === epoch && onFeedback(f, rng.chance(0.1)));
    }
  };
  const peerReceive = (c: number, urgent: boolean, e: number): void => {
    if (e !== epoch) return; // a packet of a session the peer no longer has
    peer.onReceive(session, c, now + offset, urgent);
    if (peer.dueMs <= now + offset) return sendFeedback();
    events.push(peer.dueMs - offset, () => e === epoch && peer.dueMs <= now + offset && sendFeedback());
  };
  const transmit = (c: number, bytes: number, urgent: boolean): void => {
    if (now < path.blackoutUntil || rng.chance(path.loss)) return;
    // The bottleneck serialises (FIFO), but now and then a packet overtakes (reordering).
    const fifo = !rng.chance(0.02);
    const at = Math.max(now + path.rttMs / 2 + rng.float() * path.jitterMs, fifo ? path.lastArrival + bytes / path.rate : 0);
    if (fifo) path.lastArrival = at;
    const e = epoch;
    events.push(at, () => peerReceive(c, urgent, e));
  };
  const pump = (): void => {
    for (let slot = s.peek(); slot >= 0; slot = s.peek()) {
      const bytes = s.lengthOf(slot) + TUNNEL_OVERHEAD;
      if (!s.canSend(bytes, now)) return;
      s.dequeue();
      const c = counter++;
      s.onSent(c, bytes, slot, now);
      transmit(c, bytes, false);
    }
  };
  /** A lost data packet goes again, first, while its slot holds it (sendpath.ts resend, on the same link). */
  const resend = (slot: number): void => {
    const p = s.packet(slot);
    if (p && s.resendsOf(slot) < 3) s.enqueue(p, s.dataSeqOf(slot), now, s.resendsOf(slot) + 1, rng.chance(0.7));
  };
  /** Time passes: what arrives is handled, and the pacer sends when it allows (the tunnel's timer). */
  const advance = (to: number): void => {
    for (let guard = 0; ; guard++) {
      trace.check(guard < 50_000, () => `advance to ${to} did not end (now ${now})`);
      const head = s.peek();
      const pace = head >= 0 && s.inflightBytes < s.estimator.inflightCap() ? s.sendableAt(s.lengthOf(head) + TUNNEL_OVERHEAD, now) : Number.POSITIVE_INFINITY;
      const t = Math.min(pace, events.nextAt);
      if (t > to) break;
      if (pace <= events.nextAt) {
        now = Math.max(now, pace);
        const sent = s.sentPackets;
        pump();
        // The pacer said now: something must go (else the tunnel's timer would fire for nothing, again and again).
        trace.check(s.sentPackets > sent, () => `the pacer allowed slot ${head} at ${pace} and pump sent nothing at ${now}`);
      } else {
        const ev = events.pop()!;
        now = Math.max(now, ev.at);
        ev.run();
      }
      checked.check(now, "advance");
    }
    now = Math.max(now, to);
  };

  for (trace.step = 0; trace.step < steps; trace.step++) {
    const r = rng.float();
    let op = "";
    if (r < 0.3) {
      const dt = clockStep(rng);
      op = `advance ${dt}`;
      trace.op(op);
      advance(now + dt);
    } else if (r < 0.45) {
      const n = 1 + rng.int(rng.chance(0.1) ? 1200 : 12);
      op = `enqueue ${n}`;
      trace.op(op);
      for (let i = 0; i < n; i++) {
        const size = rng.chance(0.02) ? s.maxPacket + 1 : Math.min(s.maxPacket, rng.pick(SIZES));
        s.enqueue(makePacket(size, dataSeq), dataSeq++, now, rng.chance(0.05) ? 1 + rng.int(2) : 0, rng.chance(0.05));
      }
      pump();
    } else if (r < 0.5) {
      // Probes, keepalives, express packets: recorded in flight, not paced (the tokens go below 0).
      const n = rng.chance(0.05) ? rng.int(5000) : 1 + rng.int(3);
      op = `${n} unpaced packets`;
      trace.op(op);
      for (let i = 0; i < n; i++) {
        const c = counter++;
        const bytes = rng.chance(0.5) ? PROBE_BYTES : 40 + rng.int(200);
        s.onSent(c, bytes, -1, now);
        transmit(c, bytes, rng.chance(0.5));
      }
    } else if (r < 0.52) {
      // Counters not recorded in flight: FEEDBACKs, loss reports, a rate train (which the peer acknowledges).
      const n = 1 + rng.int(TRAIN_PACKETS);
      const train = rng.chance(0.5);
      op = `${n} counters unrecorded${train ? " (a train)" : ""}`;
      trace.op(op);
      for (let i = 0; i < n; i++) {
        const c = counter++;
        if (train) transmit(c, TUN_MTU + TUNNEL_OVERHEAD, true);
      }
    } else if (r < 0.58) {
      const f = garbage(rng, counter - 1);
      op = `made-up ack ${JSON.stringify(f)}`;
      trace.op(op);
      if (rng.chance(0.5)) onFeedback(f, rng.chance(0.3));
      else {
        // Straight to onAck: a full counter in flight, above the highest sent, or long settled.
        const pick = rng.float();
        const c = checked.inflightCounterAt(rng.float());
        const h = pick < 0.5 && c !== undefined ? c : pick < 0.75 ? checked.highest + 1 + rng.int(100) : Math.max(0, checked.highest - rng.int(10_000));
        s.onAck(h, f.hi, f.lo, f.delay, now, rng.chance(0.8) ? f.clock : undefined);
        pump();
      }
    } else if (r < 0.62) {
      if (recent.length > 0) {
        const f = rng.pick(recent);
        op = `late copy of ack ${f.highest}`;
        trace.op(op);
        onFeedback(f, rng.chance(0.3));
      }
    } else if (r < 0.64) {
      const f = garbage(rng, counter - 1);
      const h = s.expandCounter(f.highest);
      op = `loss report ${h}`;
      trace.op(op);
      if (h >= 0) for (const slot of s.lossesShown(h, f.hi, f.lo)) resend(slot);
      pump();
    } else if (r < 0.66) {
      op = "abandonInFlight";
      trace.op(op);
      for (const slot of s.abandonInFlight()) resend(slot);
      pump();
    } else if (r < 0.68) {
      // A new session: counters from 0; a restarted peer has another clock.
      const restart = rng.chance(0.5);
      op = `resetFlight${restart ? " (peer restarted)" : ""}`;
      trace.op(op);
      epoch++;
      session++;
      peer = new AckState();
      if (restart) (offset = peerOffset(rng)), peerInstance++;
      s.resetFlight(peerInstance);
      // From 0, or (standing for a session that has gone on for long) near the 32-bit wrap.
      counter = rng.chance(0.5) ? 0 : U32 - 1 - rng.int(3000);
      path.lastArrival = Number.NEGATIVE_INFINITY;
    } else if (r < 0.71) {
      if (rng.chance(0.5)) {
        newPath();
        op = `path ${JSON.stringify(path)}`;
      } else {
        path.blackoutUntil = now + rng.log(50, 10_000);
        op = `blackout until ${path.blackoutUntil}`;
      }
      trace.op(op);
    } else if (r < 0.75) {
      const e = s.estimator;
      const k = rng.int(4);
      if (k === 0) {
        const until = now + rng.log(1, 1000);
        op = `keepQueueShort(${until})`;
        e.keepQueueShort(until);
      } else if (k === 1) {
        const bytesPerSec = rng.pick([0, 0, 1, 3000, 500_000, 125_000_000]);
        op = `upload cap ${bytesPerSec}`;
        e.setUploadLimit(bytesPerSec);
      } else if (k === 2) {
        const gain = rng.chance(0.1) ? Number.NaN : rng.float() * 4; // startup.ts startupGain: 2 to 4
        op = `startup gain ${gain}`;
        e.setStartupGain(gain);
      } else {
        const rate = rng.pick([Number.NaN, Number.POSITIVE_INFINITY, -1, 0, 1e-9, 3, 600, 1e6, 1e15]);
        op = `startFrom(${rate})`;
        e.startFrom(rate);
      }
      trace.op(op);
    } else if (r < 0.78) {
      // Within 2^31 below the highest sent or anything, and the window's edges each time.
      const h = checked.highest;
      const low = rng.chance(0.5) ? (counter - rng.int(2 ** 31 + 10)) >>> 0 : rng.int(U32);
      op = `expandCounter(${low}) and the edges below ${h}`;
      trace.op(op);
      for (const x of [low, h, h + 1, h - 2 ** 31 + 1, h - 2 ** 31, h - 2 ** 31 - 1]) s.expandCounter(x >>> 0);
    } else {
      const dt = rng.log(0.001, 3);
      op = `advance ${dt}`;
      trace.op(op);
      advance(now + dt);
    }
    checked.check(now, op);
  }
  // The path heals and everything on its way arrives.
  path.blackoutUntil = Number.NEGATIVE_INFINITY;
  path.loss = 0;
  trace.op("drain");
  advance(now + 30_000);
  return checked;
}

// ------------------------------------------------------------------ the estimator alone

/** A RateEstimator fed samples of every magnitude, with ticks, caps, gains and one-way delays that jump. */
function runEstimator(seed: number, steps: number): { startup: number; cycle: number } {
  const trace = new Trace(`estimator seed ${seed}`);
  const rng = new Rng(seed * 31_337 + 5);
  let now = rng.pick(ORIGINS);
  const e = new RateEstimator(rng.chance(0.3) ? rng.pick([1, 3000, 1_250_000]) : 0, now);
  let owdBase = rng.float() * 1e6;
  let startup = 0;
  let cycle = 0;
  for (trace.step = 0; trace.step < steps; trace.step++) {
    const r = rng.float();
    let op: string;
    if (r < 0.25) {
      now += clockStep(rng);
      const backlogged = rng.chance(0.5);
      op = `onTick(${now}, ${backlogged})`;
      e.onTick(now, backlogged);
    } else if (r < 0.45) {
      const rate = rng.chance(0.1) ? rng.pick([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -5, 0, Number.MIN_VALUE, 1e15]) : rng.log(1e-6, 1e7);
      const appLimited = rng.chance(0.3);
      op = `onRateSample(${rate}, ${appLimited})`;
      e.onDelivered(rng.int(100_000));
      e.onRateSample(rate, appLimited, now);
    } else if (r < 0.6) {
      const rtt = rng.log(0.01, 10_000);
      op = `onRttSample(${rtt})`;
      e.onRttSample(rtt, now);
    } else if (r < 0.75) {
      // The relative one-way delay: mostly near its base, now and then a jump of the peer's clock (±2^31 units).
      if (rng.chance(0.05)) owdBase += (rng.float() - 0.5) * 2 ** 31 / 10;
      const owd = owdBase + rng.log(0.001, 2000);
      op = `onOneWayDelaySample(${owd})`;
      e.onOneWayDelaySample(owd, now);
    } else if (r < 0.78) {
      op = "resetOneWayDelay";
      e.resetOneWayDelay();
    } else if (r < 0.82) {
      const rate = rng.pick([Number.NaN, Number.POSITIVE_INFINITY, 0, 1e-9, 2, 900, 1e6]);
      op = `startFrom(${rate})`;
      e.startFrom(rate);
    } else if (r < 0.86) {
      const bytesPerSec = rng.pick([0, 1, 3999, 4000, 100_000, 1e9]);
      op = `setUploadLimit(${bytesPerSec})`;
      e.setUploadLimit(bytesPerSec);
    } else if (r < 0.9) {
      const gain = rng.pick([Number.NaN, -1, 0, 1.5, 2, 3.3, 4, 9]);
      op = `setStartupGain(${gain})`;
      e.setStartupGain(gain);
    } else if (r < 0.93) {
      const until = now + rng.log(0.01, 5000);
      op = `keepQueueShort(${until})`;
      e.keepQueueShort(until);
    } else {
      now += rng.log(1e4, 1e6);
      op = `idle until ${now}`;
      e.onTick(now, false);
    }
    trace.op(op);
    checkEstimator(e, trace, op);
    if (e.inStartup) startup++;
    else cycle++;
  }
  return { startup, cycle };
}

// ------------------------------------------------------------------ admission

/**
 * StandingQueue under waits around its target, with the target and interval now and then
 * changed. A model of CoDel's rule as standingqueue.ts states it: a wait at or below the target
 * is always taken, one past target + interval never; one in between is refused only while the
 * queue refuses, which it starts once every offer for an interval was above the target, and
 * stops once every offer for an interval was at or below it (or the queue ran empty).
 */
function runAdmission(seed: number, steps: number): { refusedInBetween: number; admittedAbove: number; stopped: number } {
  const trace = new Trace(`admission seed ${seed}`);
  const rng = new Rng(seed * 92_821 + 3);
  const q = new StandingQueue();
  let now = rng.pick(ORIGINS);
  let target = rng.log(0.5, 200);
  let interval = rng.log(0.01, 500);
  let aboveSince = Number.POSITIVE_INFINITY;
  let belowSince = Number.POSITIVE_INFINITY;
  let refusing = false;
  const counts = { refusedInBetween: 0, admittedAbove: 0, stopped: 0 };
  /** The model's own state back to a queue that refuses nothing (the queue's is changed only by its calls). */
  const forget = (): void => {
    aboveSince = belowSince = Number.POSITIVE_INFINITY;
    refusing = false;
  };
  for (trace.step = 0; trace.step < steps; trace.step++) {
    const r = rng.float();
    if (r < 0.03) {
      trace.op("reset (the queue ran empty)");
      q.reset();
      forget();
      continue;
    }
    if (r < 0.05) {
      // New limits (the links' delays changed); the queue starts afresh with them here.
      target = rng.log(0.5, 200);
      interval = rng.log(0.01, 500);
      trace.op(`target ${target}, interval ${interval}`);
      q.reset();
      forget();
      continue;
    }
    now += clockStep(rng) / 4;
    const wait = rng.chance(0.5) ? target * (0.5 + rng.float()) : rng.chance(0.5) ? target + rng.float() * interval : rng.chance(0.5) ? target : target + interval + rng.log(1e-9, 100);
    const ok = q.admit(wait, target, interval, now);
    trace.op(`admit(${wait}, ${target}, ${interval}, ${now}) = ${ok}`);
    if (wait <= target) {
      trace.check(ok, () => `a wait of ${wait} within the target ${target} was refused`);
      if (!refusing) aboveSince = Number.POSITIVE_INFINITY;
      else if (belowSince === Number.POSITIVE_INFINITY) belowSince = now;
      else if (now - belowSince >= interval) (forget(), counts.stopped++);
      continue;
    }
    belowSince = Number.POSITIVE_INFINITY;
    if (aboveSince === Number.POSITIVE_INFINITY) aboveSince = now;
    if (now - aboveSince >= interval) refusing = true;
    if (wait > target + interval) trace.check(!ok, () => `a wait of ${wait} past ${target} + ${interval} was taken`);
    else {
      trace.check(ok === !refusing, () => `${ok ? "took" : "refused"} ${wait} (target ${target}): offers above the target for ${now - aboveSince} of ${interval} ms${refusing ? ", refusing since" : ""}`);
      if (ok) counts.admittedAbove++;
      else counts.refusedInBetween++;
    }
  }
  return counts;
}

// ------------------------------------------------------------------ the rate train alone

interface TrainCase {
  /** The train's arrivals at the peer, ms (before its clock), and which were heard. */
  arrivals: number[];
  heard: boolean[];
  /** The most the reading may be, bytes per ms (Infinity: only sanity is checked). */
  bound: number;
  describe: string;
}

/**
 * A train's arrivals through a path: a token bucket (depth in packets, rate) in front of a line
 * (its spacing per packet), then cross traffic that only adds spacing. Past the bucket's burst,
 * what was left in the bucket shortens the first spacing (the rest is the bucket's rate). In the
 * documented domain (train.ts: bursts that arrive together, within a clock unit, and no late
 * reader) the reading is at most the bottleneck's rate; a line slower than that still bounds it
 * (no spacing is shorter than its). A late reader (arrivals read in batches) is checked for sanity
 * only: a batch read in the middle of a train ends in a spacing shorter than the rate's, which
 * the median can take (6.4 ms a packet, packets 1-6 read together 1 ms before packet 7: 1364
 * bytes/ms for 234; found by this fuzz, left to the train's design: train.ts).
 */
function trainCase(rng: Rng, bytes: number): TrainCase {
  const line = rng.chance(0.7) ? rng.float() * 0.012 : rng.log(0.012, 0.5); // ms per packet
  const bucketRate = rng.log(1, 20_000);
  const s = Math.max(line, bytes / bucketRate); // the bottleneck's spacing
  const depth = rng.chance(0.4) ? 0 : 1 + rng.int(TRAIN_PACKETS);
  const leftover = rng.float() * s;
  const a: number[] = [];
  let t = rng.float() * 1000;
  for (let k = 0; k < TRAIN_PACKETS; k++) {
    if (k > 0) t += k < depth ? line : k === depth ? Math.max(line, leftover) : s;
    if (k >= depth && rng.chance(0.15)) t += rng.log(0.01, 10); // cross traffic ahead of it
    a.push(t);
  }
  const batch = rng.chance(0.1);
  if (batch) {
    // A reader that takes arrivals in batches stamps each batch's packets with one clock.
    for (let k = 0, at = a[0]!; k < TRAIN_PACKETS; k++) (at = k % 3 === 0 ? a[k]! + rng.float() * 2 : at), (a[k] = Math.max(a[k]!, at));
  }
  const lossy = rng.chance(0.6);
  const heard = a.map(() => !lossy || !rng.chance(0.2));
  const together = line <= 0.012;
  const bound = batch ? Number.POSITIVE_INFINITY : together ? bytes / s : bytes / line;
  return { arrivals: a, heard, bound, describe: `line ${line} ms, bucket ${depth} packets at ${bucketRate} B/ms (left over ${leftover} ms), spacing ${s} ms${batch ? ", batch reader" : ""}` };
}

/**
 * Trains read from acknowledgements in any order, duplicated, lost, mixed with those of earlier
 * and later counters, with counters and the peer clock near their 32-bit wraps. The reading
 * comes once, when the train is over, is never NaN, never 0 or below, and never above the bound.
 */
function runTrains(seed: number, trains: number): { readings: number; finite: number } {
  const trace = new Trace(`rate train seed ${seed}`);
  const rng = new Rng(seed * 15_485_863 + 11);
  let readings = 0;
  let finite = 0;
  for (trace.step = 0; trace.step < trains; trace.step++) {
    const bytes = rng.pick([TUN_MTU + TUNNEL_OVERHEAD, 1500 + TUNNEL_OVERHEAD, 640]);
    const c = trainCase(rng, bytes);
    const first = rng.pick([0, 1000, U32 - 1 - rng.int(TRAIN_PACKETS), U32 + 5, 2 ** 40 - 3]);
    const clockBase = rng.chance(0.5) ? U32 / 10 - rng.float() * 20 : rng.float() * 4e8;
    const clock = (ms: number): number => Math.round((clockBase + ms) * 10) >>> 0;
    const train = new RateTrain();
    train.sent(first, bytes);
    trace.op(`train at ${first}: ${c.describe}; arrivals ${c.arrivals.map((x) => x.toFixed(3)).join(" ")}; heard ${c.heard.map((h) => (h ? 1 : 0)).join("")}`);
    // The acknowledgements as they come back: each heard packet's (reordered, some twice), earlier counters', and at the end a later counter's.
    const acks: { k: number; at: number }[] = [];
    for (let k = 0; k < TRAIN_PACKETS; k++) {
      if (!c.heard[k]) continue;
      const at = c.arrivals[k]! + (rng.chance(0.2) ? rng.log(0.01, 20) : 0);
      acks.push({ k, at });
      if (rng.chance(0.05)) acks.push({ k, at: at + rng.log(0.01, 50) });
    }
    for (let i = rng.int(3); i > 0; i--) acks.push({ k: -1 - rng.int(100), at: c.arrivals[0]! + rng.float() * 10 });
    acks.sort((x, y) => x.at - y.at);
    acks.push({ k: TRAIN_PACKETS + rng.int(5), at: c.arrivals[TRAIN_PACKETS - 1]! + 1 });
    let reading: number | undefined;
    for (const ack of acks) {
      const over = train.over;
      const r = train.onAck((first + ack.k) >>> 0, clock(ack.k >= 0 && ack.k < TRAIN_PACKETS ? c.arrivals[ack.k]! : ack.at));
      trace.check(r === undefined || (!over && train.over), () => `a reading ${r} before the train was over, or a second one`);
      if (r !== undefined) reading = r;
    }
    trace.check(train.over, () => "the train is not over after a later counter's acknowledgement");
    if (reading === undefined) continue;
    readings++;
    trace.check(!Number.isNaN(reading) && reading > 0, () => `reading ${reading}`);
    if (!Number.isFinite(reading)) continue;
    finite++;
    trace.check(reading <= c.bound, () => `reading ${reading} B/ms, above the ${c.bound} B/ms the arrivals show (${c.describe})`);
  }
  return { readings, finite };
}

// ------------------------------------------------------------------ SendPath over links

interface Far {
  /** The path: one-way delays, jitter, loss, the bottleneck's rate (bytes per ms), a blackout. */
  owdMs: number;
  backMs: number;
  jitterMs: number;
  loss: number;
  rate: number;
  blackoutUntil: number;
  lastArrival: number;
  /** The peer's end: its acknowledgements of our counters, its clock and process, the session (epoch) in use. */
  acks: AckState;
  offset: number;
  instance: number;
  epoch: number;
  counter: number;
  recent: Fb[];
  /** The session and the bottleneck rate of the last train sent. */
  trainEpoch: number;
  trainRate: number;
}

interface PathCoverage {
  timers: number;
  stalls: number;
  unstalls: number;
  readings: number;
  evacuations: number;
  drops: number;
  deadlinesNow: number;
}

/**
 * SendPath as the tunnel drives it (tunnel.ts, lifecycle.ts, receive.ts), over `n` links to a
 * peer that acknowledges with AckState: packets from the tun (scheduled, express, pinned), the
 * peer's FEEDBACKs and loss reports (reordered, duplicated, late, made up), its keepalives and
 * data, links going down and up, sessions restarting, peers restarting, paths changing and
 * blacking out, caps and priorities reconfigured; the timer fires at SendPath's deadlines,
 * sometimes late, and at other times. After every timer, no deadline is in the past, and one
 * that is now has the timer sending something when it fires again.
 */
function runSendPath(seed: number, n: number, steps: number, peerReorder: number): { cover: PathCoverage; senders: CheckedSender[] } {
  const trace = new Trace(`sendpath seed ${seed}, ${n} links, peer buffer ${peerReorder}`);
  const rng = new Rng(seed * 104_729 + n * 17 + peerReorder);
  let now = rng.pick(ORIGINS);
  const cover: PathCoverage = { timers: 0, stalls: 0, unstalls: 0, readings: 0, evacuations: 0, drops: 0, deadlinesNow: 0 };
  const links: Link[] = [];
  const far: Far[] = [];
  const senders: CheckedSender[] = [];
  const events = new Events();
  const up: Link[] = [];
  let carriers: Link[] = [];
  let transmissions = 0;
  let dataSeq = 0;
  const buf = new Uint8Array(FEEDBACK_SIZE);
  const fields = newFeedback();

  /** A path of 0.01 ms to 10 s RTT, split unevenly between the directions, maybe jittery and lossy, of 16 kbit/s to 240 Mbit/s. */
  const newPath = (): Pick<Far, "owdMs" | "backMs" | "jitterMs" | "loss" | "rate"> => {
    const rtt = rng.log(0.01, 10_000);
    const owdMs = rtt * (0.2 + 0.6 * rng.float());
    const jitterMs = rng.chance(0.4) ? rng.log(0.001, Math.max(0.002, rtt / 2)) : 0;
    return { owdMs, backMs: rtt - owdMs, jitterMs, loss: rng.chance(0.4) ? rng.log(0.001, 0.1) : 0, rate: rng.log(2, 30_000) };
  };
  const refreshCarriers = (): void => {
    carriers = chooseCarriers(links, now, () => true);
  };

  const host: SendPathHost = {
    transmitData: (l, _seq, packet, slot) => void send(l, packet.length + TUNNEL_OVERHEAD, slot, "data"),
    transmitExpress: (l, packet) => void send(l, TRANSPORT_HEADER_SIZE + 1 + packet.length + TAG_SIZE, -1, "express"),
    transmitProbe: (l) => void send(l, PROBE_BYTES, -1, "probe"),
    transmitTrain: (l) => {
      if (rng.chance(0.03)) return -1; // no session to seal it with, or its keys used up
      const f = far[l.index]!;
      f.trainEpoch = f.epoch;
      f.trainRate = f.rate;
      return send(l, TUN_MTU + TUNNEL_OVERHEAD, -1, "train");
    },
    candidates: () => carriers,
    active: () => {
      up.length = 0;
      for (const l of links) if (l.isUp) up.push(l);
      return up;
    },
    stallChanged: (l) => void (l.stalled ? cover.stalls++ : cover.unstalls++),
    drop: () => void cover.drops++,
  };
  const sp = new SendPath(host, peerReorder);

  /** Sends on `l` (transmit.ts seal): the next counter, recorded in flight unless a train packet; probes and trains are acknowledged at once. */
  function send(l: Link, bytes: number, slot: number, kind: "data" | "express" | "probe" | "train"): number {
    const f = far[l.index]!;
    const c = f.counter++;
    transmissions++;
    if (kind !== "train") l.sender.onSent(c, bytes, slot, now);
    if (kind === "data" || kind === "express") l.dataSentMs = now;
    const urgent = kind === "probe" || kind === "train";
    if (now >= f.blackoutUntil && !rng.chance(f.loss)) {
      // The bottleneck serialises: arrivals keep their order and are at least a packet's time apart.
      const at = Math.max(now + f.owdMs + rng.float() * f.jitterMs, f.lastArrival + bytes / f.rate);
      f.lastArrival = at;
      const e = f.epoch;
      events.push(at, () => peerReceive(l, c, urgent, e));
    }
    return c;
  }
  function peerReceive(l: Link, c: number, urgent: boolean, e: number): void {
    const f = far[l.index]!;
    if (e !== f.epoch) return;
    f.acks.onReceive(f.epoch, c, now + f.offset, urgent);
    if (f.acks.dueMs <= now + f.offset) return sendFeedback(l);
    events.push(f.acks.dueMs - f.offset, () => e === f.epoch && f.acks.dueMs <= now + f.offset && sendFeedback(l));
  }
  function sendFeedback(l: Link): void {
    const f = far[l.index]!;
    if (!f.acks.hasPending) return;
    f.acks.write(buf, 0, now + f.offset);
    readFeedback(buf, 0, FEEDBACK_SIZE, fields);
    const fb: Fb = { highest: fields.highest, hi: fields.bitmapHi, lo: fields.bitmapLo, delay: fields.ackDelayMs, clock: fields.receiverClock };
    f.recent.push(fb);
    if (f.recent.length > 32) f.recent.shift();
    const e = f.epoch;
    for (let copies = rng.chance(0.03) ? 2 : 1; copies > 0; copies--) {
      if (now < f.blackoutUntil || rng.chance(f.loss)) continue;
      const late = rng.chance(0.02) ? rng.log(100, 5000) : 0;
      events.push(now + f.backMs + rng.float() * f.jitterMs + late, () => e === f.epoch && l.isUp && feedback(l, fb));
      // The same acknowledgement as a LOSS report on another link, earlier or later (receive.ts, lossreport.ts).
      if (rng.chance(0.1)) events.push(now + rng.float() * f.backMs, () => e === f.epoch && l.isUp && sp.onLossReport(l, fb.highest, fb.hi, fb.lo, now));
    }
  }
  function feedback(l: Link, fb: Fb): void {
    l.heard(now);
    l.feedbackHeardMs = now;
    sp.onFeedback(l, fb.highest, fb.hi, fb.lo, fb.delay, fb.clock, now);
  }
  /** The tunnel's timer: onTimer, then every link's deadline must be ahead (or the timer has work when it fires again). */
  function timer(): void {
    cover.timers++;
    sp.onTimer(now);
    for (const l of host.active()) {
      const d = sp.deadline(l, now);
      trace.check(!Number.isNaN(d) && d >= now, () => `link ${l.index}: deadline ${d} after onTimer(${now}): in the past`);
      for (let k = 0; sp.deadline(l, now) <= now; k++) {
        cover.deadlinesNow++;
        const before = transmissions;
        sp.onTimer(now);
        trace.check(transmissions > before && k < 64, () => `link ${l.index}: deadline ${now} after onTimer(${now}), and onTimer then sends nothing: the timer would spin`);
      }
    }
  }
  function nextDeadline(): number {
    let t = Number.POSITIVE_INFINITY;
    for (const l of host.active()) t = Math.min(t, sp.deadline(l, now));
    return t;
  }
  function checkAll(op: string): void {
    for (const c of senders) c.check(now, op);
    for (const l of host.active()) {
      const d = sp.deadline(l, now);
      trace.check(!Number.isNaN(d), () => `${op}: link ${l.index} deadline NaN`);
      trace.check(senders[l.index]!.queued === 0 || d < Number.POSITIVE_INFINITY, () => `${op}: link ${l.index} has ${senders[l.index]!.queued} packets queued and no deadline`);
    }
  }
  function advance(to: number): void {
    for (let guard = 0; ; guard++) {
      trace.check(guard < 50_000, () => `advance to ${to} did not end (now ${now})`);
      const td = nextDeadline();
      const te = events.nextAt;
      if (Math.min(td, te) > to) break;
      // The shell's timer: on time mostly, sometimes late (a busy machine). What the network and
      // the peer do meanwhile happens at its own time: a late timer must not bunch the peer's
      // arrivals (their clocks are the train's reading).
      const fire = td <= te ? Math.max(now, td + (rng.chance(0.8) ? 0 : rng.chance(0.8) ? rng.log(0.001, 2) : rng.log(2, 100))) : te;
      if (td <= te && fire <= te) {
        now = fire;
        timer();
      } else {
        const ev = events.pop()!;
        now = Math.max(now, ev.at);
        ev.run();
      }
      checkAll("advance");
    }
    now = Math.max(now, to);
  }
  /** Lifecycle's link-up (lifecycle.ts established): a new session from counter 0, the peer's clock (another one if it restarted), a train. */
  function session(l: Link, restarted: boolean): void {
    const f = far[l.index]!;
    f.epoch++;
    f.counter = 0;
    f.acks = new AckState();
    f.lastArrival = Number.NEGATIVE_INFINITY;
    if (restarted) (f.offset = peerOffset(rng)), f.instance++;
    l.sender.resetFlight(f.instance);
    l.heard(now);
    sp.measure(l);
  }

  for (let i = 0; i < n; i++) {
    const cap = rng.chance(0.2) ? rng.pick([1, 3000, 250_000, 12_500_000]) : 0;
    const l = new Link(i, linkConfig({ bandwidth_upload: cap, priority: rng.chance(0.2) ? 1 : 0 }, i), TUN_MTU, now);
    const f: Far = { ...newPath(), acks: new AckState(), offset: peerOffset(rng), instance: 1, epoch: 0, counter: 0, recent: [], trainEpoch: -1, trainRate: 0, blackoutUntil: Number.NEGATIVE_INFINITY, lastArrival: Number.NEGATIVE_INFINITY };
    links.push(l);
    far.push(f);
    senders.push(new CheckedSender(l.sender, trace, `link ${i}`));
    // A train's reading, when it replaces the guess: from this session's train, and never above the rate its packets went through at.
    const e = l.sender.estimator;
    const startFrom = e.startFrom.bind(e);
    e.startFrom = (rate: number) => {
      trace.check(!Number.isNaN(rate) && rate > 0, () => `link ${i}: train reading ${rate}`);
      trace.check(f.trainEpoch === f.epoch, () => `link ${i}: a train sent in session ${f.trainEpoch} read ${rate} B/ms from the acknowledgements of session ${f.epoch}`);
      trace.check(!Number.isFinite(rate) || rate <= f.trainRate, () => `link ${i}: train reading ${rate} B/ms, above the path's ${f.trainRate}`);
      if (e.isGuess && Number.isFinite(rate)) cover.readings++;
      startFrom(rate);
    };
    l.setStatus(LinkStatus.AuthOk, now);
    session(l, false);
    // Some links have been up for long: their counters are near the 32-bit wrap (sessions continue them).
    if (rng.chance(0.5)) f.counter = U32 - 1 - rng.int(200);
    // The handshake's probe (lifecycle.ts): its acknowledgement is the link's first FEEDBACK, which sends the train.
    host.transmitProbe(l);
  }
  refreshCarriers();

  for (trace.step = 0; trace.step < steps; trace.step++) {
    const r = rng.float();
    const l = rng.pick(links);
    const f = far[l.index]!;
    let op = "";
    if (r < 0.35) {
      const dt = clockStep(rng);
      op = `advance ${dt}`;
      trace.op(op);
      advance(now + dt);
    } else if (r < 0.5) {
      const k = 1 + rng.int(rng.chance(0.1) ? 400 : 8);
      const pinned = rng.chance(0.05) ? l : undefined;
      op = `${k} tun packets${pinned ? ` pinned to link ${l.index}` : ""}`;
      trace.op(op);
      for (let i = 0; i < k; i++) {
        const p = makePacket(rng.chance(0.01) ? TUN_MTU + 1 : rng.pick(SIZES), dataSeq);
        if (!sp.express(p, now, pinned) && sp.schedule(p, dataSeq, now, 0, undefined, now, pinned)) dataSeq++;
      }
    } else if (r < 0.56) {
      const fb = garbage(rng, f.counter - 1);
      op = `made-up FEEDBACK on link ${l.index}: ${JSON.stringify(fb)}`;
      trace.op(op);
      if (l.isUp) feedback(l, fb);
    } else if (r < 0.6) {
      if (f.recent.length > 0 && l.isUp) {
        const fb = rng.pick(f.recent);
        op = `late copy of FEEDBACK ${fb.highest} on link ${l.index}`;
        trace.op(op);
        if (rng.chance(0.7)) feedback(l, fb);
        else sp.onLossReport(l, fb.highest, fb.hi, fb.lo, now);
      }
    } else if (r < 0.62) {
      const fb = garbage(rng, f.counter - 1);
      op = `made-up loss report of link ${l.index}`;
      trace.op(op);
      if (l.isUp) sp.onLossReport(l, fb.highest, fb.hi, fb.lo, now);
    } else if (r < 0.64) {
      if (l.isUp) {
        op = `link ${l.index} down`;
        trace.op(op);
        // lifecycle.ts linkDown: sessions gone, what waited or was in flight goes to the others.
        f.epoch++;
        l.setStatus(LinkStatus.Disconnected, now);
        refreshCarriers();
        sp.evacuate(l, now);
        cover.evacuations++;
      }
    } else if (r < 0.67) {
      if (!l.isUp) {
        op = `link ${l.index} up`;
        trace.op(op);
        l.clearStall();
        l.setStatus(LinkStatus.AuthOk, now);
        session(l, rng.chance(0.3));
        refreshCarriers();
        host.transmitProbe(l);
      }
    } else if (r < 0.69) {
      if (l.isUp) {
        op = `link ${l.index}: the peer restarted (a new session from 0, another clock)`;
        trace.op(op);
        session(l, true);
      }
    } else if (r < 0.72) {
      if (rng.chance(0.6)) {
        Object.assign(f, newPath());
        op = `link ${l.index} path ${f.owdMs}+${f.backMs} ms, ${f.rate} B/ms, loss ${f.loss}`;
      } else {
        f.blackoutUntil = now + rng.log(50, 10_000);
        op = `link ${l.index} blackout until ${f.blackoutUntil}`;
      }
      trace.op(op);
    } else if (r < 0.73) {
      op = `stallNow link ${l.index}`;
      trace.op(op);
      if (l.isUp) sp.stallNow(l, now);
    } else if (r < 0.76) {
      op = `keepalive of the peer on link ${l.index}`;
      trace.op(op);
      if (l.isUp && now >= f.blackoutUntil) {
        l.heard(now);
        sp.keepaliveAnswered(l);
      }
    } else if (r < 0.78) {
      op = `peer data on link ${l.index}`;
      trace.op(op);
      if (l.isUp && now >= f.blackoutUntil) {
        l.heard(now);
        l.dataHeardMs = now;
      }
    } else if (r < 0.8) {
      op = `timer at ${now}`;
      trace.op(op);
      timer();
    } else if (r < 0.82) {
      const bandwidth_upload = rng.pick([0, 0, 1, 3000, 250_000, 12_500_000]);
      const priority = rng.chance(0.8) ? l.settings.priority : rng.int(3);
      op = `link ${l.index} reconfigured: cap ${bandwidth_upload} B/s, priority ${priority}`;
      trace.op(op);
      l.reconfigure({ ...l.config, bandwidth_upload, priority });
      refreshCarriers();
    } else if (r < 0.83) {
      const until = now + rng.log(1, 2000);
      op = `link ${l.index} keepQueueShort(${until})`;
      trace.op(op);
      l.sender.estimator.keepQueueShort(until);
    } else if (r < 0.84) {
      op = "health tick (carriers)";
      trace.op(op);
      refreshCarriers();
    } else {
      const dt = rng.log(0.001, 5);
      op = `advance ${dt}`;
      trace.op(op);
      advance(now + dt);
    }
    checkAll(`after "${op}"`);
  }
  // Every link up and healthy: what is queued and in flight settles.
  trace.op("drain");
  for (const l of links) {
    const f = far[l.index]!;
    f.blackoutUntil = Number.NEGATIVE_INFINITY;
    f.loss = 0;
    if (!l.isUp) {
      l.clearStall();
      l.setStatus(LinkStatus.AuthOk, now);
      session(l, false);
    }
  }
  refreshCarriers();
  advance(now + 20_000);
  return { cover, senders };
}

// ------------------------------------------------------------------ the tests

const SEEDS = [1, 2, 3, 4, 5];

/** Field by field sums of the runs' counts. */
function sum<T extends object>(xs: T[]): T {
  const out: Record<string, number> = {};
  for (const x of xs) for (const [k, v] of Object.entries(x)) out[k] = (out[k] ?? 0) + (v as number);
  return out as T;
}

describe("send-path fuzz: one link's sender", () => {
  test(`queue, pacer, in-flight records and estimator: every invariant after every call, seeds ${SEEDS.join(", ")}`, () => {
    const seen = sum(SEEDS.map((seed) => runSender(seed, 600).seen));
    // Every kind of outcome was reached (else the generator, not the sender, would be what passed).
    for (const [k, v] of Object.entries(seen)) expect({ [k]: v > 0 }).toEqual({ [k]: true });
  });
});

describe("send-path fuzz: the rate estimator", () => {
  test(`samples of every magnitude, caps, gains, jumps of the peer's clock, seeds ${SEEDS.join(", ")}`, () => {
    const r = sum(SEEDS.map((seed) => runEstimator(seed, 3000)));
    expect(r.startup).toBeGreaterThan(0);
    expect(r.cycle).toBeGreaterThan(0);
  });
});

describe("send-path fuzz: queue admission", () => {
  test(`within the target taken, past target + interval refused, in between refused only while a queue stands (CoDel's rule), seeds ${SEEDS.join(", ")}`, () => {
    const r = sum(SEEDS.map((seed) => runAdmission(seed, 5000)));
    expect(r.refusedInBetween).toBeGreaterThan(10);
    expect(r.admittedAbove).toBeGreaterThan(10);
    expect(r.stopped).toBeGreaterThan(10);
  });
});

describe("send-path fuzz: the rate train", () => {
  test(`readings never NaN and never above what the arrivals show, seeds ${SEEDS.join(", ")}`, () => {
    const r = sum(SEEDS.map((seed) => runTrains(seed, 2000)));
    expect(r.finite).toBeGreaterThan(1000);
    expect(r.readings).toBeGreaterThan(r.finite);
  });
});

describe("send-path fuzz: SendPath", () => {
  for (const n of [1, 2, 3, 4]) {
    test(`${n} link${n > 1 ? "s" : ""}: senders checked after every call, deadlines never in the past after the timer, seeds ${SEEDS.join(", ")}`, () => {
      const runs = SEEDS.map((seed) => runSendPath(seed, n, 500, seed % 2 === 0 ? 64 : 0));
      const cover = sum(runs.map((r) => r.cover));
      const seen = sum(runs.flatMap((r) => r.senders.map((s) => s.seen)));
      expect(cover.timers).toBeGreaterThan(100);
      expect(cover.stalls).toBeGreaterThan(0);
      expect(cover.unstalls).toBeGreaterThan(0);
      expect(seen.acked).toBeGreaterThan(100);
      expect(seen.lost).toBeGreaterThan(0);
      expect(seen.wrapped).toBeGreaterThan(0);
      // A lone link is down or restarting much of the time, and its data's rate samples come
      // before its train's reading; resends that go first come from loss reports of data, which
      // take a faster link beside the lossy one. In these runs, with more links.
      if (n >= 2) expect(cover.readings).toBeGreaterThan(0);
      if (n >= 3) expect(seen.firsts).toBeGreaterThan(0);
    });
  }
});
