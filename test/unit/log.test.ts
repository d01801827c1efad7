/** The logger: C's verbosity rules, its --debug line format, and the collapsing of repeated warnings. */
import { describe, expect, test } from "bun:test";
import { createLogger, type Level, type RepeatClock } from "../../src/log.ts";

const at = () => new Date(2026, 10, 26, 8, 4, 5);

/** A clock the test moves by hand; due timers fire as it passes them, in order. */
class ManualClock implements RepeatClock {
  private t = 0;
  private timers: { at: number; fn: () => void; live: boolean }[] = [];
  now(): number {
    return this.t;
  }
  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + ms, fn, live: true };
    this.timers.push(timer);
    return () => void (timer.live = false);
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.live && x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      this.t = due.at;
      due.fn();
    }
    this.timers = this.timers.filter((x) => x.live);
    this.t = end;
  }
}

function capture(opts: { verbosity?: number; debugTokens?: string[]; repeatWindowMs?: number; repeatClock?: RepeatClock } = {}) {
  const lines: string[] = [];
  const log = createLogger({ verbosity: opts.verbosity ?? 2, debugTokens: opts.debugTokens ?? [], write: (l) => lines.push(l), now: at, repeatWindowMs: opts.repeatWindowMs ?? 0, repeatClock: opts.repeatClock });
  return { log, lines };
}

describe("createLogger", () => {
  test("the C --debug format: local time, level label, optional token", () => {
    const { log, lines } = capture({ verbosity: 3 });
    log.error("tuntap", "e");
    log.warn("", "w");
    log.info("net", "i");
    log.debug("rtt", "d");
    expect(lines).toEqual(["2026-11-26T08:04:05 [ ERR/tuntap] e\n", "2026-11-26T08:04:05 [WARN] w\n", "2026-11-26T08:04:05 [INFO/net] i\n", "2026-11-26T08:04:05 [ DBG/rtt] d\n"]);
  });

  test("verbosity: warnings always, info from 2, debug from 3 or for -D tokens at exactly 2", () => {
    const shown = (verbosity: number, debugTokens: string[] = []) => {
      const { log, lines } = capture({ verbosity, debugTokens });
      for (const level of ["error", "warn", "info", "debug"] as Level[]) log[level]("rtt", level);
      log.debug("wrr", "debug wrr");
      return lines.map((l) => l.slice(l.indexOf("] ") + 2, -1));
    };
    expect(shown(1, ["rtt"])).toEqual(["error", "warn"]);
    expect(shown(2)).toEqual(["error", "warn", "info"]);
    expect(shown(2, ["rtt"])).toEqual(["error", "warn", "info", "debug"]);
    expect(shown(3)).toEqual(["error", "warn", "info", "debug", "debug wrr"]);
  });

  test("identical warnings are collapsed: first line, then one count per window, nothing after a quiet window", () => {
    // On a clock moved by hand: with real timers, a busy machine that runs the test late would
    // end the second window before the line meant to fall inside it.
    const clock = new ManualClock();
    const { log, lines } = capture({ repeatWindowMs: 80, repeatClock: clock });
    for (let i = 0; i < 50; i++) log.warn("protocol", "bad packet from 192.0.2.1:5080");
    log.warn("protocol", "bad packet from 192.0.2.9:5080"); // another message: its own line
    log.info("", "info is never collapsed");
    log.info("", "info is never collapsed");
    expect(lines.map((l) => l.slice(20, -1))).toEqual([
      "[WARN/protocol] bad packet from 192.0.2.1:5080",
      "[WARN/protocol] bad packet from 192.0.2.9:5080",
      "[INFO] info is never collapsed",
      "[INFO] info is never collapsed",
    ]);
    clock.advance(120); // first window over: the 49 repeats are reported
    expect(lines.slice(4).map((l) => l.slice(20, -1))).toEqual(["[WARN/protocol] bad packet from 192.0.2.1:5080 (repeated 49 more times)"]);
    log.warn("protocol", "bad packet from 192.0.2.1:5080"); // inside the second window: counted
    clock.advance(100);
    expect(lines.slice(5).map((l) => l.slice(20, -1))).toEqual(["[WARN/protocol] bad packet from 192.0.2.1:5080 (repeated 1 more time)"]);
    clock.advance(200); // a quiet window ends it: the next one is written at once
    log.warn("protocol", "bad packet from 192.0.2.1:5080");
    expect(lines.slice(6).map((l) => l.slice(20, -1))).toEqual(["[WARN/protocol] bad packet from 192.0.2.1:5080"]);
  });

  test("flush() reports pending repeats at once (shutdown)", () => {
    const { log, lines } = capture({ repeatWindowMs: 60_000 });
    log.error("tuntap", "write failed");
    log.error("tuntap", "write failed");
    log.error("tuntap", "write failed");
    log.flush?.();
    expect(lines.map((l) => l.slice(20, -1))).toEqual(["[ ERR/tuntap] write failed", "[ ERR/tuntap] write failed (repeated 2 more times)"]);
    log.flush?.();
    expect(lines).toHaveLength(2);
  });

  test("a flood of distinct messages stays bounded: the oldest is evicted after its count is reported", () => {
    const { log, lines } = capture({ repeatWindowMs: 60_000 });
    log.warn("", "m0");
    log.warn("", "m0");
    for (let i = 1; i <= 256; i++) log.warn("", `m${i}`);
    expect(lines.map((l) => l.slice(20, -1))).toContain("[WARN] m0 (repeated 1 more time)");
    log.warn("", "m0"); // evicted, so written again
    expect(lines.at(-1)).toEndWith("[WARN] m0\n");
    log.flush?.();
  });
});
