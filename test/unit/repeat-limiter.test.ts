/**
 * The one limiter of repeated log lines (src/core/ratelimit.ts RepeatLimiter), on an injected
 * clock: what the core's LogLimiter and the logger (src/log.ts, test/unit/log.test.ts) build on.
 */
import { describe, expect, test } from "bun:test";
import { LogLimiter, RepeatLimiter } from "../../src/core/ratelimit.ts";

describe("RepeatLimiter", () => {
  test("the first line passes, repeats in the window are counted, the next window's first line carries the count", () => {
    const r = new RepeatLimiter<string>(1000, 8);
    expect(r.pass("k", "a", 0)).toBe(0);
    expect([r.pass("k", "a", 1), r.pass("k", "a", 999)]).toEqual([-1, -1]);
    expect(r.pass("other", "b", 500)).toBe(0);
    expect(r.pass("k", "a", 1000)).toBe(2);
    expect(r.pass("k", "a", 1500)).toBe(-1);
  });

  test("expire: reports windows with repeats oldest first and reopens them, forgets quiet ones, says when the next ends", () => {
    const r = new RepeatLimiter<string>(1000, 8);
    const reports: string[] = [];
    const report = (v: string, n: number) => void reports.push(`${v}×${n}`);
    r.pass("a", "a", 0);
    r.pass("a", "a", 10);
    r.pass("b", "b", 200);
    r.pass("c", "c", 300);
    r.pass("c", "c", 310);
    r.pass("c", "c", 320);
    expect(r.expire(999, report)).toBe(1000);
    expect(reports).toEqual([]);
    expect(r.expire(1250, report)).toBe(1300); // a reported and reopened at 1250; b quiet: forgotten
    expect(reports).toEqual(["a×1"]);
    expect(r.expire(1300, report)).toBe(2250);
    expect(reports).toEqual(["a×1", "c×2"]);
    expect(r.pass("b", "b", 1301)).toBe(0); // forgotten: written again
    expect(r.expire(2300, report)).toBe(2301); // a and c had a quiet window: gone
    expect(reports).toHaveLength(2);
    expect(r.expire(3000, report)).toBeUndefined();
  });

  test("bounded: over maxKeys the oldest key is evicted with its count; flush reports the rest", () => {
    const evicted: string[] = [];
    const r = new RepeatLimiter<string>(1000, 2, (v, n) => void evicted.push(`${v}×${n}`));
    r.pass("a", "a", 0);
    r.pass("a", "a", 1);
    r.pass("b", "b", 2);
    r.pass("b", "b", 3);
    r.pass("c", "c", 4);
    expect(evicted).toEqual(["a×1"]);
    expect(r.pass("a", "a", 5)).toBe(0); // evicted: written again, evicting b
    expect(evicted).toEqual(["a×1", "b×1"]);
    r.pass("c", "c", 6);
    const flushed: string[] = [];
    r.flush((v, n) => void flushed.push(`${v}×${n}`));
    expect(flushed).toEqual(["c×1"]);
    expect(r.pass("c", "c", 7)).toBe(0);
  });
});

test("LogLimiter (the core's): one line per key and interval, whatever the text, with the count suppressed", () => {
  const l = new LogLimiter(10_000, 4);
  expect(l.pass("init:bad-cookie", "from 192.0.2.1", 0)).toBe("from 192.0.2.1");
  for (let i = 2; i < 100; i++) expect(l.pass("init:bad-cookie", `from 192.0.2.${i}`, i)).toBeUndefined();
  expect(l.pass("init:bad-cookie", "from 192.0.2.200", 10_000)).toBe("from 192.0.2.200 (98 more since the last report)");
  expect(l.pass("resp:bad-mac", "refused", 10_001)).toBe("refused");
});
