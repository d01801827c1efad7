/**
 * One direction of a simulated link, on a virtual clock: a FIFO bottleneck (a constant rate, or
 * a Mahimahi trace of 1500-byte delivery opportunities as in bench/traces/README.md), a queue
 * limit, then a constant delay with jitter (order kept: a link does not reorder its own
 * packets), random loss, and a cut. `send` returns when the packet arrives, or -1 if it is lost.
 * Plus a binary heap of timed events for the simulations that use it.
 */
import { readFileSync } from "node:fs";
import { SeededRandom } from "../helpers/random.ts";

/** Bytes one trace opportunity carries (Mahimahi: one MTU-sized packet). */
export const TRACE_OPPORTUNITY_BYTES = 1500;

export class Trace {
  /** Opportunity times within one period, ms, ascending. */
  readonly times: Float64Array;
  readonly periodMs: number;

  constructor(times: number[]) {
    if (times.length === 0) throw new Error("empty trace");
    this.times = Float64Array.from(times);
    this.periodMs = Math.max(1, times[times.length - 1]!);
  }

  /** A trace of bench/traces by file name (`Verizon-LTE-short.up`). */
  static bench(name: string): Trace {
    return Trace.load(new URL(`../../bench/traces/${name}`, import.meta.url).pathname);
  }

  static load(path: string): Trace {
    const times = readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l, i) => {
        const v = Number(l);
        if (!Number.isInteger(v) || v < 0) throw new Error(`${path}:${i + 1}: not a time in ms: ${l}`);
        return v;
      });
    return new Trace(times);
  }

  /** Time of opportunity number k (the trace repeats with its period). */
  at(k: number): number {
    const n = this.times.length;
    return Math.floor(k / n) * this.periodMs + this.times[k % n]!;
  }

  /** The first opportunity at or after t. */
  firstAtOrAfter(t: number): number {
    const n = this.times.length;
    const period = Math.floor(t / this.periodMs);
    const within = t - period * this.periodMs;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.times[mid]! < within) lo = mid + 1;
      else hi = mid;
    }
    return period * n + lo;
  }

  /** Mean rate over [fromMs, toMs) of the trace's time, Mbit/s. */
  meanMbit(fromMs: number, toMs: number): number {
    const count = this.firstAtOrAfter(toMs) - this.firstAtOrAfter(fromMs);
    return (count * TRACE_OPPORTUNITY_BYTES * 8) / 1000 / (toMs - fromMs);
  }
}

/**
 * The lab's htb bucket, ms of tokens: test/lab/topology.ts (HTB_LATE_DEQUEUE_MS, which takes it
 * from here) explains why 10. The simulator's tests put links behind the same bucket.
 */
export const LAB_BUCKET_MS = 10;

/** The largest frame at the lab's MTU (1500 + Ethernet header): a shaper's bucket holds at least one. */
const MAX_FRAME_BYTES = 1514;

/**
 * A shaper's bucket, bytes: one frame plus `ms` of tokens at the rate. The lab's htb is this with
 * 10 ms (test/lab/topology.ts htbBurstBytes); real shapers' buckets are often longer (DOCSIS, policers).
 */
export function bucketBytes(rateMbit: number, ms: number): number {
  return Math.ceil(MAX_FRAME_BYTES + (rateMbit * 1e6 * ms) / 8000);
}

export interface PathSpec {
  delayMs: number;
  jitterMs?: number;
  /** Loss probability, 0..1. */
  loss?: number;
  rateMbit?: number;
  trace?: Trace;
  /** Bottleneck queue limit, packets (default: 100 ms at the rate, at least 32). */
  queuePackets?: number;
  /**
   * A token bucket in front of a constant rate, bytes (a shaper's burst, as the lab's htb): credit
   * earned while idle lets that many bytes leave at once.
   */
  burstBytes?: number;
  cut?: boolean;
}

export class Path {
  private busyUntil = 0;
  private lastArrival = 0;
  /** Departure times of the packets in the bottleneck queue (FIFO). */
  private readonly departures: number[] = [];
  private departHead = 0;
  // trace state: the opportunity in use and the bytes it has left
  private opp = -1;
  private oppLeft = 0;
  /** Virtual time at which the trace starts (its line 0). */
  private readonly traceStart: number;
  sent = 0;
  dropped = 0;

  constructor(
    public spec: PathSpec,
    private readonly rand: SeededRandom,
    startMs = 0,
  ) {
    this.traceStart = startMs;
  }

  private queueLimit(): number {
    if (this.spec.queuePackets) return this.spec.queuePackets;
    const mbit = this.spec.rateMbit ?? (this.spec.trace ? this.spec.trace.meanMbit(0, this.spec.trace.periodMs) : 100);
    return Math.max(32, Math.round((mbit * 1000 * 100) / 8 / 1500));
  }

  /** Puts a packet of `wireBytes` on the link at `now`; returns its arrival time, or -1 if lost. */
  send(wireBytes: number, now: number): number {
    const s = this.spec;
    this.sent++;
    if (s.cut) return this.drop();
    while (this.departHead < this.departures.length && this.departures[this.departHead]! <= now) this.departHead++;
    if (this.departHead > 4096) {
      this.departures.splice(0, this.departHead);
      this.departHead = 0;
    }
    const queued = this.departures.length - this.departHead;
    let depart = now;
    if (s.trace || s.rateMbit) {
      if (queued >= this.queueLimit()) return this.drop();
      depart = s.trace ? this.traceDeparture(wireBytes, now) : this.rateDeparture(wireBytes, now, s.rateMbit!);
      this.departures.push(depart);
    }
    if (s.loss && this.rand.float() < s.loss) return this.drop();
    const jitter = s.jitterMs ? this.rand.float() * s.jitterMs : 0;
    this.lastArrival = Math.max(this.lastArrival, depart + s.delayMs + jitter);
    return this.lastArrival;
  }

  private drop(): number {
    this.dropped++;
    return -1;
  }

  private rateDeparture(bytes: number, now: number, mbit: number): number {
    const credit = ((this.spec.burstBytes ?? 0) * 8) / (mbit * 1000);
    this.busyUntil = Math.max(now - credit, this.busyUntil) + (bytes * 8) / (mbit * 1000);
    return Math.max(now, this.busyUntil);
  }

  /** Drains at the trace's opportunities; one that finds the queue empty is lost. */
  private traceDeparture(bytes: number, now: number): number {
    const trace = this.spec.trace!;
    const t = now - this.traceStart;
    if (this.opp < 0 || trace.at(this.opp) < t) {
      // The queue ran empty: the next opportunity from now (what was left of an earlier one is gone).
      this.opp = trace.firstAtOrAfter(t);
      this.oppLeft = TRACE_OPPORTUNITY_BYTES;
    }
    let need = bytes;
    while (need > this.oppLeft) {
      need -= this.oppLeft;
      this.opp++;
      this.oppLeft = TRACE_OPPORTUNITY_BYTES;
    }
    this.oppLeft -= need;
    return this.traceStart + trace.at(this.opp);
  }
}

interface Entry<T> {
  t: number;
  order: number;
  item: T;
}

/** A binary min-heap of events by time, ties in insertion order. */
export class EventHeap<T> {
  private readonly a: Entry<T>[] = [];
  private seq = 0;

  get size(): number {
    return this.a.length;
  }

  peekTime(): number {
    return this.a.length > 0 ? this.a[0]!.t : Number.POSITIVE_INFINITY;
  }

  push(t: number, item: T): void {
    const a = this.a;
    const e = { t, order: this.seq++, item };
    let i = a.length;
    a.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const q = a[p]!;
      if (q.t < t || (q.t === t && q.order < e.order)) break;
      a[i] = q;
      i = p;
    }
    a[i] = e;
  }

  pop(): T | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    const m = a.length;
    if (m > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= m) break;
        const r = l + 1;
        const c = r < m && before(a[r]!, a[l]!) ? r : l;
        if (!before(a[c]!, last)) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top.item;
  }
}

function before<T>(x: Entry<T>, y: Entry<T>): boolean {
  return x.t < y.t || (x.t === y.t && x.order < y.order);
}
