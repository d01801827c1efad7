/**
 * Seeded fuzz of the receive path's state machines: the reorder buffer (src/core/reorder.ts, fixed
 * and adaptive span) and the delay equaliser (src/core/equaliser.ts) in front of it or of
 * PassThrough. A far end sends the data sequence over paths of different delay and jitter, loses
 * some, copies some onto a second path, sends lost ones again; in between come bursts, long gaps,
 * jumps in the sequence, rate changes (which widen and shrink the adaptive span), holdMs changes,
 * resendDue(), handleTimeout() at deadlines (late, or not at all for a while) and at arbitrary
 * times, copies of held, delivered, given-up, forgotten and future packets, flush() and reset().
 * For the equaliser also links going down (with the flush the tunnel does), up, stalling,
 * resuming, changing priority and RTT, and new links.
 *
 * The checked wrappers (test/helpers/receive-model.ts) check every invariant after every call:
 * why it is written this way rather than as the existing randomised test (reorder.test.ts `run`)
 * is that that one fed a fixed list of sequences and never mixed copies of held packets with a
 * span that shrinks, which is how cddac6f's livelock got through.
 *
 * Virtual clock only; every scenario is a fixed seed; a failure names the scenario, its seed, the
 * step and the last operations. To replay one, run its test alone (`-t`) with SEEDS cut to that
 * seed: the same seed gives the same operations.
 */
import { describe, expect, test } from "bun:test";
import { Equaliser } from "../../src/core/equaliser.ts";
import { Link, LinkStatus } from "../../src/core/link.ts";
import { reorderHoldMs } from "../../src/core/policy.ts";
import { Rng } from "../helpers/random.ts";
import { CheckedEqualiser, CheckedPassThrough, CheckedReorder, Trace } from "../helpers/receive-model.ts";
import { linkConfig } from "../sim/simnet.ts";

interface Arrival {
  at: number;
  seq: number;
  path: number;
  order: number;
}

/** Packets on their way, by arrival time (then by sending order): a binary heap. */
class Arrivals {
  private h: Arrival[] = [];
  private order = 0;

  get size(): number {
    return this.h.length;
  }
  peek(): Arrival | undefined {
    return this.h[0];
  }
  clear(): void {
    this.h = [];
  }
  push(at: number, seq: number, path: number): void {
    const h = this.h;
    h.push({ at, seq, path, order: this.order++ });
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  pop(): Arrival | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    if (h.length === 0 || !last) return top;
    h[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
    return top;
  }
  private less(a: Arrival, b: Arrival): boolean {
    return a.at < b.at || (a.at === b.at && a.order < b.order);
  }
}

interface Path {
  delayMs: number;
  jitterMs: number;
  loss: number;
}

/**
 * The far end: sends the data sequence at `ratePerMs` over the paths (each packet on one picked
 * at random, now and then a redundant copy on a second), loses some, sends a lost one again when
 * asked (as a loss report or an acknowledgement would make it).
 */
class Sender {
  ratePerMs = 1;
  nextSendMs = 0;
  dupProb = 0.02;
  private readonly lost: number[] = [];

  constructor(
    private readonly rng: Rng,
    public paths: Path[],
    private readonly arrivals: Arrivals,
    public seq: number,
  ) {}

  sendUntil(toMs: number): void {
    while (this.nextSendMs < toMs) {
      this.send(this.nextSendMs);
      this.nextSendMs += (0.5 + this.rng.float()) / this.ratePerMs;
    }
  }

  /** `n` packets at once (a TSO burst, a window opening). */
  burst(atMs: number, n: number): void {
    for (let i = 0; i < n; i++) this.send(atMs);
  }

  /** A new stream (the peer restarted): what the old one lost is never sent again. */
  restart(seq: number): void {
    this.seq = seq;
    this.lost.length = 0;
  }

  /** A packet sent again that was not lost (the sender took reordering for loss): a copy that comes later. */
  spurious(seq: number, atMs: number): void {
    this.transmit(seq, this.rng.int(this.paths.length), atMs);
  }

  /** The next packet is lost on the way. */
  lose(): void {
    this.lost.push(this.seq++);
  }

  /** Sends lost `seq` again at `atMs` (the sender found the loss). */
  resendAt(seq: number, atMs: number): void {
    const i = this.lost.indexOf(seq);
    if (i >= 0) this.lost.splice(i, 1);
    this.transmit(seq, this.rng.int(this.paths.length), atMs);
  }

  /** Sends a lost packet again; its sequence, or undefined when none is lost. */
  resend(atMs: number): number | undefined {
    if (this.lost.length === 0) return undefined;
    const seq = this.lost.splice(this.rng.int(this.lost.length), 1)[0]!;
    this.transmit(seq, this.rng.int(this.paths.length), atMs);
    return seq;
  }

  private send(atMs: number): void {
    const seq = this.seq++;
    const n = this.paths.length;
    const p = this.rng.int(n);
    this.transmit(seq, p, atMs);
    if (n > 1 && this.rng.chance(this.dupProb)) this.transmit(seq, (p + 1 + this.rng.int(n - 1)) % n, atMs);
  }

  private transmit(seq: number, p: number, atMs: number): void {
    const path = this.paths[p]!;
    if (this.rng.chance(path.loss)) {
      this.lost.push(seq);
      if (this.lost.length > 256) this.lost.shift();
      return;
    }
    this.arrivals.push(atMs + path.delayMs + this.rng.float() * path.jitterMs, seq, p);
  }
}

function randomPath(rng: Rng, delayMs: number): Path {
  return { delayMs, jitterMs: rng.chance(0.3) ? rng.log(0.1, 40) : rng.float(), loss: rng.chance(0.5) ? rng.log(0.001, 0.1) : 0 };
}

/**
 * One to three paths. Mostly their spread of delays is within the hold time, as the tunnel sets
 * it (policy.ts reorderHoldMs follows the links' spread); sometimes not (the hold lags behind a
 * change, or the fuzz's hold is just short), and then most packets of the slower paths come late.
 */
function randomPaths(rng: Rng, holdMs: number, matched = rng.chance(0.8)): Path[] {
  const base = rng.log(0.5, 100);
  const spread = matched ? 0.8 * holdMs : rng.log(1, 300);
  return Array.from({ length: 1 + rng.int(3) }, (_, i) => randomPath(rng, base + (i === 0 ? 0 : rng.float() * spread)));
}

/**
 * Where a stream may start: 0, anywhere, around 2^32 (the ring's `&` takes the low 32 bits), far
 * above it. Not near 2^53: the counters add up skipped sequences, and a few resets between 0 and
 * 2^53 would take holesSkipped past exact integers (the unit tests cover sequences near 2^53).
 */
const STARTS = [0, 1000, 2 ** 32 - 3000, 2 ** 48 - 2 ** 20];
/** The reorder hold as lifecycle.ts sets it (policy.ts reorderHoldMs: 10 to 1000 ms, mostly short), and shorter. */
const HOLDS = [1, 5, 10, 10, 20, 30, 50, 100, 250, 1000];

/** What a run exercised, so that a generator that stops reaching a case fails instead of passing idly. */
interface Coverage {
  heldCopiesPastSpan: number;
  spanShrinks: number;
  widest: number;
  /** handleTimeout calls with a deadline due (something to give up). */
  timeouts: number;
}

/** What is being fuzzed, as the common driver sees it (a checked reorder buffer or equaliser). */
interface Target {
  nextDeadline(): number;
  handleTimeout(nowMs: number): void;
  flush(nowMs: number): void;
  reset(): void;
  resendDue(sentByMs: number): void;
  readonly holdMs: number;
}

/**
 * The common driver: a clock, a sender, and the timer of whatever is being fuzzed (`target`),
 * fired at each deadline as the shell would (src/io/driver.ts), sometimes late, sometimes not at
 * all for a while (a busy event loop), so that one handleTimeout has several deadlines to catch up.
 */
class Run {
  now = 0;
  readonly arrivals = new Arrivals();
  readonly sender: Sender;
  readonly coverage: Coverage = { heldCopiesPastSpan: 0, spanShrinks: 0, widest: 0, timeouts: 0 };
  /** Calls due at a later time (the receive path's, as packets come). */
  private later: { at: number; what: string; run: () => void }[] = [];
  /** Packets a surge sends at most (surge runs: several times the capacity, so that the adaptive span widens past it). */
  surgeMax = 100;

  constructor(
    readonly rng: Rng,
    readonly trace: Trace,
    paths: Path[],
    private readonly target: Target,
    private readonly arrive: (seq: number, path: number, atMs: number) => void,
  ) {
    this.sender = new Sender(rng, paths, this.arrivals, rng.pick(STARTS));
  }

  timeout(atMs: number): void {
    this.trace.op(`handleTimeout(${atMs})`);
    if (this.target.nextDeadline() <= atMs) this.coverage.timeouts++;
    this.target.handleTimeout(atMs);
  }

  /** Runs the clock to `toMs`: sending (unless paused), arrivals in time order, the timer. */
  advance(toMs: number, sending = true): void {
    if (sending) this.sender.sendUntil(toMs);
    const late = this.rng.chance(0.2) ? this.rng.log(0.01, 20) : 0;
    const off = this.rng.chance(0.03);
    for (;;) {
      const a = this.arrivals.peek();
      const arrival = a && a.at <= toMs ? a.at : Infinity;
      const deadline = off ? Infinity : this.target.nextDeadline() + late;
      let soonest = -1;
      for (let i = 0; i < this.later.length; i++) if (this.later[i]!.at <= toMs && (soonest < 0 || this.later[i]!.at < this.later[soonest]!.at)) soonest = i;
      const action = soonest < 0 ? Infinity : this.later[soonest]!.at;
      if (deadline <= arrival && deadline <= action && deadline <= toMs) {
        // The checked handleTimeout fails if the deadline does not move past the time it ran at.
        this.now = Math.max(this.now, deadline);
        this.timeout(this.now);
        continue;
      }
      if (action <= arrival && action !== Infinity) {
        const [l] = this.later.splice(soonest, 1);
        this.now = Math.max(this.now, l!.at);
        this.trace.op(`${l!.what} at ${this.now}`);
        l!.run();
        continue;
      }
      if (!a || arrival === Infinity) break;
      this.arrivals.pop();
      this.now = Math.max(this.now, a.at);
      this.trace.op(`arrive ${a.seq} on path ${a.path} at ${this.now}`);
      this.arrive(a.seq, a.path, this.now);
    }
    this.now = Math.max(this.now, toMs);
    if (!sending) this.sender.nextSendMs = Math.max(this.sender.nextSendMs, this.now);
  }

  /**
   * The operations both fuzzers share, picked by `r` in [0, 1): mostly time passing, with bursts,
   * gaps, jumps, rate changes, resends, surges, timer wake-ups, flushes and resets. False for r in
   * [0.76, 0.9): the caller's own operations.
   */
  common(r: number): boolean {
    const { rng, sender, target, trace } = this;
    if (r < 0.5) {
      if (rng.chance(0.03)) {
        const gap = rng.log(50, 5000);
        trace.op(`idle ${gap} ms`);
        this.advance(this.now + gap, false);
      } else {
        this.advance(this.now + rng.log(0.01, 5));
      }
    } else if (r < 0.55) {
      const n = 1 + rng.int(rng.chance(0.2) ? 400 : 20);
      trace.op(`burst of ${n}`);
      sender.burst(this.now, n);
    } else if (r < 0.61) {
      // The acknowledgement that shows the loss makes the sender send it again by sentBy.
      const seq = sender.resend(this.now);
      const sentBy = this.now + rng.log(0.1, 150);
      trace.op(`resend ${seq}, resendDue(${sentBy})`);
      target.resendDue(sentBy);
    } else if (r < 0.65) {
      sender.ratePerMs = rng.log(0.02, 10);
      trace.op(`rate ${sender.ratePerMs} per ms`);
    } else if (r < 0.68) {
      const k = rng.chance(0.1) ? rng.int(1e9) : Math.ceil(rng.log(1, 2e4));
      sender.seq += k;
      trace.op(`sequence jumps by ${k}`);
    } else if (r < 0.7) {
      this.timeout(this.now); // not at a deadline: a wake-up for something else
    } else if (r < 0.73) {
      this.surge(target.holdMs);
    } else if (r < 0.75) {
      trace.op("flush");
      target.flush(this.now);
    } else if (r < 0.76) {
      this.reset();
    } else if (r < 0.9) {
      return false;
    } else {
      this.advance(this.now + rng.log(0.01, 2));
    }
    return true;
  }

  /**
   * A surge: a high rate for one to three hold times, a loss in it, then the flow goes quiet:
   * often silent (TCP's window is full behind the hole), else slow (an application-limited
   * sender). The acknowledgement of the surge shows the loss (resendDue then holds the hole open
   * for the resend, up to TCP's minimum RTO), and meanwhile copies of the surge's packets come
   * (redundant sending, or a resend of what was only reordered). The adaptive span widens to the
   * surge's rate and shrinks in the windows the copies close while the surge is still held: later
   * copies come past the narrower span, the case of cddac6f. (New data past the narrower span
   * would give the hole up first.) Returns when the episode is over (the resend has come).
   */
  surge(holdMs: number): number {
    const { rng, sender, trace } = this;
    const lasts = holdMs * (1 + 2 * rng.float());
    const start = this.now;
    sender.nextSendMs = start;
    sender.ratePerMs = Math.min(this.surgeMax / lasts, rng.log(1, 30));
    // In the last hold time of the surge: what is held behind the hole then fits in the span.
    const lossAt = start + lasts - holdMs * (0.3 + 0.7 * rng.float());
    this.advance(lossAt);
    const first = sender.seq;
    sender.lose();
    this.advance(start + lasts);
    const last = sender.seq;
    sender.ratePerMs = rng.log(0.05, 1);
    const ackAt = this.now + Math.max(...sender.paths.map((p) => p.delayMs + p.jitterMs));
    const sentBy = ackAt + rng.log(Math.min(holdMs, 100), 300);
    trace.op(`surge to ${last} losing ${first}, then ${sender.ratePerMs} per ms; resendDue(${sentBy}) at ${ackAt}`);
    this.later.push({ at: ackAt, what: `resendDue(${sentBy})`, run: () => this.target.resendDue(sentBy) });
    sender.resendAt(first, sentBy);
    // The copies come at random, or about one a hold time (each closes a window of the span's meter).
    const spaced = rng.chance(0.5);
    for (let i = 2 + rng.int(7); i > 0; i--) {
      const at = spaced ? this.now + i * holdMs * (0.8 + 0.6 * rng.float()) : lossAt + rng.float() * (sentBy - lossAt);
      sender.spurious(first + 1 + rng.int(Math.max(1, last - first - 1)), at);
    }
    if (rng.chance(0.8)) sender.nextSendMs = sentBy + 1;
    return sentBy + 200;
  }

  /**
   * A reset: mostly the peer restarted, its sequence starts again and what the old one has on the
   * way no longer decrypts; else the stream goes on (a reconfiguration reset the buffer).
   */
  reset(): void {
    this.trace.op("reset");
    this.target.reset();
    if (this.rng.chance(0.3)) return;
    this.sender.restart(this.rng.pick(STARTS));
    this.arrivals.clear();
    this.later = [];
  }

  /** The stream ends: what is on its way arrives, the timer runs out, a flush gives up the rest. */
  finish(): void {
    this.advance(this.now + 10_000, false);
    this.trace.check(this.arrivals.size === 0, () => `${this.arrivals.size} packets still on their way`);
    this.trace.op("final flush");
    this.target.flush(this.now);
  }
}

interface ReorderCase {
  seed: number;
  capacity: number;
  adaptive: boolean;
  steps: number;
  /** Only surge episodes (Run.surge) one after another, each with a hold of its own, nothing else in between. */
  surgesOnly?: boolean;
}

function packetView(): (bytes?: number) => Uint8Array {
  const shared = new Uint8Array(1200);
  // A new view object each time: the checkers tell packets apart by identity.
  return (bytes = 8) => shared.subarray(0, bytes);
}

function runReorder(c: ReorderCase): { buffer: CheckedReorder; coverage: Coverage } {
  const trace = new Trace(`reorder seed ${c.seed}, capacity ${c.capacity}${c.adaptive ? ", adaptive" : ""}`);
  const rng = new Rng(c.seed * 1_000_003 + c.capacity * 4 + (c.adaptive ? 1 : 0) + (c.surgesOnly ? 2 : 0));
  const buf = new CheckedReorder(c.capacity, c.adaptive, trace);
  buf.holdMs = rng.pick(HOLDS);
  const packet = packetView();
  const paths = randomPaths(rng, buf.holdMs);
  let span = buf.buffer.currentSpan;
  const insert = (seq: number, at: number): void => {
    const b = buf.buffer;
    if (buf.isHeld(seq) && seq - b.nextExpected > b.currentSpan) coverage.heldCopiesPastSpan++;
    buf.insert(seq, packet(), at);
    if (b.currentSpan < span) coverage.spanShrinks++;
    span = b.currentSpan;
    coverage.widest = Math.max(coverage.widest, span);
  };
  const run = new Run(rng, trace, paths, buf, (seq, _path, at) => insert(seq, at));
  const { coverage } = run;
  run.surgeMax = Math.max(100, (c.surgesOnly ? 8 : 1) * c.capacity);

  /** A copy of a held, delivered, given-up, long-forgotten or future packet. */
  const copy = (): void => {
    const b = buf.buffer;
    const next = b.nextExpected;
    let seq: number | undefined;
    switch (rng.int(5)) {
      case 0:
        seq = buf.heldSeqAt(rng.float());
        break;
      case 1:
        if (buf.recentDelivered.length > 0) seq = rng.pick(buf.recentDelivered);
        break;
      case 2:
        for (let i = 0; i < 8 && seq === undefined; i++) {
          const s = next - 1 - rng.int(b.maxSpan);
          if (s >= 0 && !buf.isDelivered(s)) seq = s;
        }
        break;
      case 3:
        seq = next - b.maxSpan - rng.int(3 * b.maxSpan);
        break;
      default:
        seq = b.highestSeen + rng.int(2 * b.currentSpan + 2);
    }
    if (seq === undefined || seq < 0) return;
    trace.op(`copy of ${seq} at ${run.now} (nextExpected ${next}, span ${b.currentSpan})`);
    insert(seq, run.now);
  };

  for (trace.step = 0; trace.step < c.steps; trace.step++) {
    const r = rng.float();
    if (c.surgesOnly) {
      const hold = rng.pick([2, 5, 10, 20, 30, 60]);
      trace.op(`holdMs ${hold}`);
      buf.holdMs = hold;
      run.sender.paths = randomPaths(rng, hold, true);
      run.advance(run.now + rng.log(1, 5 * hold)); // the quiet before
      run.advance(run.surge(hold));
    } else if (run.common(r)) {
      // done
    } else if (r < 0.85) {
      copy();
    } else if (r < 0.88) {
      const hold = rng.pick(HOLDS);
      trace.op(`holdMs ${hold}`);
      buf.holdMs = hold;
      // Mostly the links' spread changed and the hold follows it (policy.ts reorderHoldMs).
      if (rng.chance(0.7)) run.sender.paths = randomPaths(rng, hold, true);
    } else {
      run.sender.paths = randomPaths(rng, buf.holdMs);
      trace.op(`paths ${JSON.stringify(run.sender.paths)}`);
    }
  }
  run.finish();
  buf.finalCheck();
  return { buffer: buf, coverage };
}

type SinkKind = "adaptive" | "fixed" | "none";

function runEqualiser(seed: number, sinkKind: SinkKind, steps: number): { eq: CheckedEqualiser; held: number; late: number } {
  const trace = new Trace(`equaliser seed ${seed}, sink ${sinkKind}`);
  const rng = new Rng(seed * 7919 + sinkKind.length);
  const sink = sinkKind === "none" ? new CheckedPassThrough(trace) : new CheckedReorder(sinkKind === "adaptive" ? 64 : 16, sinkKind === "adaptive", trace);
  const links: Link[] = [];
  const paths: Path[] = [];
  const eq = new CheckedEqualiser(new Equaliser(sink, () => links), sink, trace);
  const packet = packetView();
  let now = 0;
  /** A new link, measured (its path's delay half its RTT, plus queueing) or not yet. */
  const addLink = (): void => {
    const i = links.length;
    const l = new Link(i, linkConfig({ priority: rng.chance(0.2) ? 1 : 0 }, i), 1432, 0);
    l.setStatus(LinkStatus.AuthOk, now);
    const rtt = rng.log(2, 300);
    if (rng.chance(0.9)) l.rtt.update(rtt);
    links.push(l);
    paths.push(randomPath(rng, rtt / 2));
  };
  const n = 1 + rng.int(3);
  for (let i = 0; i < n; i++) addLink();
  // Mostly bulk packets (they age the links' memory and make carriers), some small ones.
  const run = new Run(rng, trace, paths, eq, (seq, p, at) => eq.arrive(links[p]!, seq, packet(rng.chance(0.8) ? 1200 : 60), at));

  for (trace.step = 0; trace.step < steps; trace.step++) {
    now = run.now;
    const r = rng.float();
    const l = rng.pick(links);
    if (run.common(r)) {
      // done
    } else if (r < 0.78) {
      // A link goes down: the tunnel flushes (lifecycle.ts), mostly.
      trace.op(`link ${l.index} down`);
      l.setStatus(LinkStatus.Disconnected, now);
      if (rng.chance(0.8)) eq.flush(now);
    } else if (r < 0.81) {
      trace.op(`link ${l.index} up`);
      l.setStatus(LinkStatus.AuthOk, now);
      l.clearStall();
    } else if (r < 0.83) {
      trace.op(`link ${l.index} ${l.stalled ? "resumes" : "stalls"}`);
      if (l.stalled) l.resume(now);
      else l.stall(now);
    } else if (r < 0.85) {
      const priority = rng.int(3);
      trace.op(`link ${l.index} priority ${priority}`);
      l.reconfigure({ ...l.config, priority });
    } else if (r < 0.87) {
      const rtt = rng.log(2, 300);
      trace.op(`link ${l.index} RTT sample ${rtt}`);
      l.rtt.update(rtt);
      paths[l.index] = randomPath(rng, l.rtt.min / 2);
    } else if (r < 0.88) {
      if (links.length < 6) {
        addLink();
        trace.op(`new link ${links.length - 1}`);
      }
    } else if (sink instanceof CheckedReorder) {
      // Mostly what the tunnel sets (lifecycle.ts, from the links' RTTs), else anything.
      const hold = rng.chance(0.7) ? (reorderHoldMs(links) ?? sink.holdMs) : rng.pick(HOLDS);
      trace.op(`holdMs ${hold}`);
      sink.holdMs = hold;
    }
  }
  run.finish();
  if (sink instanceof CheckedReorder) sink.finalCheck();
  return { eq, held: eq.eq.stats.held, late: eq.eq.stats.late };
}

const SEEDS = [1, 2, 3, 4, 5];
/** Operations per mixed run, and surge episodes per surge run: what keeps the file under about 1.5 s. */
const STEPS = 800;
const SURGES = 40;

/** Sums what the runs of one test did (their stats and coverage), to check that they reached every case. */
function reorderRuns(cases: ReorderCase[]): { total: Record<string, number>; cover: Coverage } {
  const total: Record<string, number> = { delivered: 0, reordered: 0, duplicates: 0, late: 0, stale: 0, holesSkipped: 0, flushes: 0 };
  const cover: Coverage = { heldCopiesPastSpan: 0, spanShrinks: 0, widest: 0, timeouts: 0 };
  for (const c of cases) {
    const { buffer, coverage } = runReorder(c);
    const s = buffer.buffer.stats;
    for (const k of Object.keys(total)) total[k]! += s[k as keyof typeof s];
    cover.heldCopiesPastSpan += coverage.heldCopiesPastSpan;
    cover.spanShrinks += coverage.spanShrinks;
    cover.timeouts += coverage.timeouts;
    cover.widest = Math.max(cover.widest, coverage.widest);
  }
  return { total, cover };
}

describe("receive-path fuzz: the reorder buffer", () => {
  for (const adaptive of [false, true]) {
    for (const capacity of [1, 4, 64, 300]) {
      test(`capacity ${capacity}, ${adaptive ? "adaptive" : "fixed"} span: every invariant after every call, seeds ${SEEDS.join(", ")}`, () => {
        const { total, cover } = reorderRuns(SEEDS.map((seed) => ({ seed, capacity, adaptive, steps: STEPS })));
        // Every outcome was reached (else the generator, not the buffer, would be what passed).
        for (const [k, v] of Object.entries(total)) expect({ [k]: v > 0 }).toEqual({ [k]: true });
        // The timer gave holes up (a capacity of 1 mostly gives them up for lack of room instead).
        expect(cover.timeouts).toBeGreaterThan(10);
        if (adaptive) {
          expect(cover.spanShrinks).toBeGreaterThan(10);
          expect(cover.widest).toBeGreaterThan(capacity);
        }
      });
    }
  }

  for (const capacity of [1, 4, 64]) {
    test(`capacity ${capacity}, adaptive span: surges, silence and copies (the shape of cddac6f), seeds ${SEEDS.join(", ")}`, () => {
      const { cover } = reorderRuns(SEEDS.map((seed) => ({ seed, capacity, adaptive: true, steps: SURGES, surgesOnly: true })));
      // Copies of held packets did come past a span that had shrunk since they were held.
      expect(cover.heldCopiesPastSpan).toBeGreaterThan(0);
      expect(cover.widest).toBeGreaterThan(capacity);
    });
  }
});

describe("receive-path fuzz: the delay equaliser", () => {
  for (const sink of ["adaptive", "fixed", "none"] as const) {
    test(`in front of ${sink === "none" ? "no reorder buffer (PassThrough)" : `a reorder buffer (${sink} span)`}: every invariant after every call, seeds ${SEEDS.join(", ")}`, () => {
      let held = 0;
      let late = 0;
      for (const seed of SEEDS) {
        const r = runEqualiser(seed, sink, STEPS);
        held += r.held;
        late += r.late;
      }
      // Packets did wait here, and without a buffer some came late (else nothing was equalised).
      expect(held).toBeGreaterThan(100);
      if (sink === "none") expect(late).toBeGreaterThan(0);
    });
  }
});
