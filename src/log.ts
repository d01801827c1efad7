/**
 * Logging as the C MLVPN does it (reference §11.1). Warnings always show; info at verbosity ≥ 2
 * (the default); debug at ≥ 3, or at 2 for the tokens given with -D. Where lines go is a sink:
 * `lineSink` writes the `--debug` format `YYYY-MM-DDTHH:MM:SS [LEVL/token] message`, and
 * src/io/syslog.ts sends to syslog.
 *
 * Identical warnings and errors are collapsed: the first is written, the repeats within the next
 * `repeatWindowMs` are counted, and one line "… (repeated N more times)" reports them when the
 * window ends. A flood from one source thus costs one line per window, whatever its rate.
 */
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

interface Repeat {
  level: Level;
  token: string;
  message: string;
  count: number;
  timer: ReturnType<typeof setTimeout>;
}

class RepeatFilter {
  private readonly open = new Map<string, Repeat>();

  constructor(
    private readonly sink: LogSink,
    private readonly windowMs: number,
  ) {}

  write(level: Level, token: string, message: string): void {
    const key = `${level}\0${token}\0${message}`;
    const seen = this.open.get(key);
    if (seen) {
      seen.count++;
      return;
    }
    if (this.open.size >= MAX_REPEAT_KEYS) this.close(this.open.keys().next().value!);
    this.sink(level, token, message);
    this.open.set(key, { level, token, message, count: 0, timer: this.arm(key) });
  }

  flush(): void {
    for (const key of [...this.open.keys()]) this.close(key);
  }

  private arm(key: string): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => this.windowEnded(key), this.windowMs);
    timer.unref?.(); // a pending report never keeps the process alive
    return timer;
  }

  /** Reports the repeats and keeps counting for one more window; a quiet window ends it. */
  private windowEnded(key: string): void {
    const r = this.open.get(key);
    if (!r) return;
    if (r.count === 0) {
      this.open.delete(key);
      return;
    }
    this.report(r);
    r.timer = this.arm(key);
  }

  private close(key: string): void {
    const r = this.open.get(key)!;
    clearTimeout(r.timer);
    this.open.delete(key);
    if (r.count > 0) this.report(r);
  }

  private report(r: Repeat): void {
    this.sink(r.level, r.token, `${r.message} (repeated ${r.count} more time${r.count === 1 ? "" : "s"})`);
    r.count = 0;
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
}): Logger {
  const tokens = new Set(opts.debugTokens);
  const sink = opts.sink ?? lineSink(opts.write ?? (() => {}), opts.now);
  const windowMs = opts.repeatWindowMs ?? REPEAT_WINDOW_MS;
  const repeats = windowMs > 0 ? new RepeatFilter(sink, windowMs) : undefined;
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
