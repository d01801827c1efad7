/**
 * Logging as the C MLVPN does it (docs/c-mlvpn.md, "Logging"). Warnings always show; info at verbosity ≥ 2
 * (the default); debug at ≥ 3, or at 2 for the tokens given with -D. Where lines go is a sink:
 * `lineSink` writes the `--debug` format `YYYY-MM-DDTHH:MM:SS [LEVL/token] message`, and
 * src/io/syslog.ts sends to syslog.
 *
 * Identical warnings and errors are collapsed: the first is written, the repeats within the next
 * `repeatWindowMs` are counted, and one line "… (repeated N more times)" reports them when the
 * window ends. A flood from one source thus costs one line per window, whatever its rate. This is
 * the program's one limiter of log lines, RepeatLimiter of src/core/ratelimit.ts: the core uses it
 * too, keyed by what happened rather than by the text (which names a source address a spoofed
 * flood varies), and without a timer.
 */
import { RepeatLimiter } from "./core/ratelimit.ts";

export type Level = "error" | "warn" | "info" | "debug";

const LABEL: Record<Level, string> = { error: " ERR", warn: "WARN", info: "INFO", debug: " DBG" };

export interface Logger {
  error(token: string, message: string): void;
  warn(token: string, message: string): void;
  info(token: string, message: string): void;
  debug(token: string, message: string): void;
  /** Writes the pending "(repeated N more times)" lines now (at shutdown). */
  flush?(): void;
}

export type LogSink = (level: Level, token: string, message: string) => void;

const pad = (n: number) => String(n).padStart(2, "0");

function stamp(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The C `--debug` line format (local time), one line per call of `write`. */
export function lineSink(write: (line: string) => void, now: () => Date = () => new Date()): LogSink {
  return (level, token, message) => write(`${stamp(now())} [${LABEL[level]}${token ? `/${token}` : ""}] ${message}\n`);
}

export const REPEAT_WINDOW_MS = 10_000;
/** Distinct messages tracked at once; a flood of distinct ones evicts the oldest (after reporting it). */
const MAX_REPEAT_KEYS = 256;

interface Line {
  level: Level;
  token: string;
  message: string;
}

/**
 * Collapses identical warnings and errors with the limiter the core uses (RepeatLimiter), keyed by
 * the whole line; one timer, armed for the oldest open window, reports the counts as windows end.
 */
/** The monotonic clock and the one-shot timer the collapsing runs on (injected by tests). */
export interface RepeatClock {
  now(): number;
  /** Calls `fn` once after `ms`; the result cancels it. The timer must not keep the process alive. */
  after(ms: number, fn: () => void): () => void;
}

const REAL_CLOCK: RepeatClock = {
  now: () => performance.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref?.(); // a pending report never keeps the process alive
    return () => clearTimeout(t);
  },
};

class RepeatFilter {
  private readonly repeats: RepeatLimiter<Line>;
  private cancel: (() => void) | undefined;
  private readonly report = (l: Line, count: number): void => this.sink(l.level, l.token, `${l.message} (repeated ${count} more time${count === 1 ? "" : "s"})`);

  constructor(
    private readonly sink: LogSink,
    windowMs: number,
    private readonly clock: RepeatClock,
  ) {
    this.repeats = new RepeatLimiter(windowMs, MAX_REPEAT_KEYS, this.report);
  }

  write(level: Level, token: string, message: string): void {
    const line = { level, token, message };
    const earlier = this.repeats.pass(`${level}\0${token}\0${message}`, line, this.clock.now());
    if (earlier < 0) return;
    // A window that ended while its timer was late: its count first.
    if (earlier > 0) this.report(line, earlier);
    this.sink(level, token, message);
    this.arm(this.clock.now());
  }

  flush(): void {
    this.cancel?.();
    this.cancel = undefined;
    this.repeats.flush(this.report);
  }

  private arm(nowMs: number): void {
    if (this.cancel) return;
    const next = this.repeats.expire(nowMs, this.report);
    if (next === undefined) return;
    this.cancel = this.clock.after(next - nowMs, () => {
      this.cancel = undefined;
      this.arm(this.clock.now());
    });
  }
}

export function createLogger(opts: {
  verbosity: number;
  debugTokens: readonly string[];
  /** Where lines go; default: `lineSink(write, now)`. */
  sink?: LogSink;
  write?: (line: string) => void;
  now?: () => Date;
  /** 0 turns the collapsing of identical warnings off. */
  repeatWindowMs?: number;
  /** The collapsing's clock and timer (default: performance.now() and setTimeout). */
  repeatClock?: RepeatClock;
}): Logger {
  const tokens = new Set(opts.debugTokens);
  const sink = opts.sink ?? lineSink(opts.write ?? (() => {}), opts.now);
  const windowMs = opts.repeatWindowMs ?? REPEAT_WINDOW_MS;
  const repeats = windowMs > 0 ? new RepeatFilter(sink, windowMs, opts.repeatClock ?? REAL_CLOCK) : undefined;
  const shows = (level: Level, token: string): boolean => {
    if (level === "error" || level === "warn") return true;
    if (level === "info") return opts.verbosity >= 2;
    return opts.verbosity >= 3 || (opts.verbosity === 2 && tokens.has(token));
  };
  const log = (level: Level) => (token: string, message: string) => {
    if (!shows(level, token)) return;
    if (repeats && (level === "error" || level === "warn")) repeats.write(level, token, message);
    else sink(level, token, message);
  };
  return { error: log("error"), warn: log("warn"), info: log("info"), debug: log("debug"), flush: () => repeats?.flush() };
}
