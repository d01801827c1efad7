/**
 * Mahimahi link traces (bench/traces/README.md): one integer per line, the time in ms from the
 * start of the trace of one 1500-byte delivery opportunity; equal lines = several opportunities in
 * that millisecond; the trace repeats with the period of its last line.
 *
 * Pure: parsing, the opportunity count over any window (for a trace's mean over a measured
 * window), and `TraceCursor`, the walk over the opportunities that the delay line
 * (delayline.ts) drains its bottleneck queue with. Times are ms from the trace's start (a
 * rewind puts that start at "now").
 */
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";

/** Bytes one opportunity delivers (Mahimahi's unit; counted on the IP packet, as mm-link does). */
export const OPPORTUNITY_BYTES = 1500;
/** Folder of the traces shipped with the repository. */
export const TRACES_DIR = join(import.meta.dir, "..", "..", "bench", "traces");

export interface Trace {
  /** Where it was read from (for messages). */
  source: string;
  /** Opportunity times within one period, ms, non-decreasing. */
  times: Float64Array;
  /** The last line: the trace repeats after this many ms. */
  periodMs: number;
}

/** Parses a trace; an error names the source and line. */
export function parseTrace(text: string, source: string): Trace {
  const lines = text.split("\n");
  const times: number[] = [];
  let prev = 0;
  for (let i = 0; i < lines.length; i++) {
    const s = lines[i]!.trim();
    if (s === "") continue;
    if (!/^\d+$/.test(s)) throw new Error(`${source}:${i + 1}: expected a time in whole milliseconds, got ${JSON.stringify(s.slice(0, 40))}`);
    const t = Number(s);
    if (t < prev) throw new Error(`${source}:${i + 1}: ${t} ms comes before the previous line's ${prev} ms (times must not decrease)`);
    times.push(t);
    prev = t;
  }
  if (times.length === 0) throw new Error(`${source}: no delivery opportunity (an empty trace)`);
  if (prev <= 0) throw new Error(`${source}: the last line (the period) must be > 0 ms`);
  return { source, times: Float64Array.from(times), periodMs: prev };
}

/** A trace by path, or by name in bench/traces ("Verizon-LTE-short.up"). */
export function resolveTracePath(nameOrPath: string): string {
  return isAbsolute(nameOrPath) || nameOrPath.includes("/") ? nameOrPath : join(TRACES_DIR, nameOrPath);
}

export function loadTrace(nameOrPath: string): Trace {
  const path = resolveTracePath(nameOrPath);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`cannot read trace ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseTrace(text, path);
}

/** Number of entries of `times` strictly below x, or with `through`, at or below it. */
function below(times: Float64Array, x: number, through: boolean): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (through ? times[mid]! <= x : times[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Opportunities at times < t (or ≤ t, `through`), ms from the trace's start, over the repeated trace. */
function countUpTo(tr: Trace, t: number, through: boolean): number {
  const p = tr.periodMs;
  const n = tr.times.length;
  // Cycle k holds k·P + times[i] (every time is ≤ P): it lies wholly before t when t − k·P > P,
  // wholly at or before it when t − k·P ≥ P. The guard checks with full·P, which is exact, that
  // no cycle is counted whole that is not, whatever t / p rounded to; the loop counts the rest
  // exactly (t − k·P is exact).
  let full = through ? Math.max(0, Math.floor(t / p)) : t / p - 1 > 0 ? Math.ceil(t / p - 1) : 0;
  while (full > 0 && (through ? full * p > t : full * p >= t)) full--;
  let count = full * n;
  for (let k = full; through ? t - k * p >= 0 : t - k * p > 0; k++) count += below(tr.times, t - k * p, through);
  return count;
}

/** Opportunities at times < t (ms from the trace's start), over the repeated trace. */
export function opportunitiesBefore(tr: Trace, t: number): number {
  return countUpTo(tr, t, false);
}

/**
 * Opportunities at times ≤ t (ms from the trace's start), over the repeated trace: what a delay
 * line that has served through t has passed (TraceBottleneck.serve serves an opportunity at its
 * very time). Not opportunitiesBefore: times repeat (ATT-LTE-driving-2016.down has 21
 * opportunities at 0 ms), so at a reading that falls on an opportunity's millisecond the two
 * differ by its whole group, and a rewind's own round is such a reading (trace time 0).
 */
export function opportunitiesThrough(tr: Trace, t: number): number {
  return countUpTo(tr, t, true);
}

/** Mean capacity over [fromMs, toMs) of the trace, Mbit/s of IP packets. */
export function traceMeanMbit(tr: Trace, fromMs: number, toMs: number): number {
  const n = opportunitiesBefore(tr, toMs) - opportunitiesBefore(tr, fromMs);
  return (n * OPPORTUNITY_BYTES * 8) / ((toMs - fromMs) * 1000);
}

/** Capacity of each `stepMs` step from fromMs, Mbit/s. */
export function traceSeries(tr: Trace, fromMs: number, steps: number, stepMs = 1000): number[] {
  return Array.from({ length: steps }, (_, k) => traceMeanMbit(tr, fromMs + k * stepMs, fromMs + (k + 1) * stepMs));
}

/**
 * Walks the opportunities in time order from a start time (clock ms): `at` is the next one's
 * clock time. Allocation-free: the delay line's worker keeps one per direction.
 */
export class TraceCursor {
  /** Clock time of the trace's start (the last rewind). */
  private startMs = 0;
  private cycle = 0;
  private index = 0;
  /** Trace time of the next opportunity (whole ms: exact). */
  private traceAt = 0;
  /** Clock time of the next opportunity. */
  at = 0;

  constructor(readonly trace: Trace) {}

  /** The trace starts over at clock time t (its first line is at t + times[0]). */
  rewind(t: number): void {
    this.startMs = t;
    this.cycle = 0;
    this.index = 0;
    this.update();
  }

  /** Past the current opportunity. */
  advance(): void {
    if (++this.index === this.trace.times.length) {
      this.index = 0;
      this.cycle++;
    }
    this.update();
  }

  /** Trace time (ms from the trace's start) of clock time t. */
  elapsed(t: number): number {
    return t - this.startMs;
  }

  /**
   * The next opportunity is at or before clock time t. Decided in trace time, not on `at`:
   * startMs + traceAt rounds, so an opportunity on a reading's millisecond could otherwise be
   * served and yet lie after the reading's elapsed() (or the reverse); this way what was served
   * through t is exactly opportunitiesThrough(trace, elapsed(t)).
   */
  dueBy(t: number): boolean {
    return this.traceAt <= this.elapsed(t);
  }

  /** Skips every opportunity before clock time t (they are lost); returns how many. */
  skipBefore(t: number): number {
    const n = this.trace.times.length;
    const done = this.cycle * n + this.index;
    const target = opportunitiesBefore(this.trace, this.elapsed(t));
    if (target <= done) return 0;
    this.cycle = Math.floor(target / n);
    this.index = target % n;
    this.update();
    return target - done;
  }

  private update(): void {
    this.traceAt = this.cycle * this.trace.periodMs + this.trace.times[this.index]!;
    this.at = this.startMs + this.traceAt;
  }
}
