import { describe, expect, test } from "bun:test";
import { WindowedMin } from "../../src/core/winmin.ts";

describe("WindowedMin (a minimum over a sliding window)", () => {
  test("keeps the smallest sample of the window", () => {
    const m = new WindowedMin(1000);
    expect(m.value).toBe(Number.POSITIVE_INFINITY);
    expect(m.update(30, 0)).toBe(30);
    expect(m.update(20, 10)).toBe(20);
    expect(m.update(25, 500)).toBe(20);
    expect(m.update(40, 900)).toBe(20);
  });

  test("when the best ages out it falls back to the best of the rest of the window, not to the current sample", () => {
    const m = new WindowedMin(1000);
    m.update(20, 0); // queue-free, never matched again
    for (let t = 100; t < 1000; t += 100) m.update(t === 600 ? 22 : 30, t); // 22: the best of the later half
    // 1001: the 20 aged out; a queued sample (35) comes in.
    expect(m.update(35, 1001)).toBe(22);
  });

  test("a window with no sample for longer than itself starts over from the current one", () => {
    const m = new WindowedMin(1000);
    m.update(20, 0);
    expect(m.update(50, 2500)).toBe(50);
  });

  test("reset forgets everything", () => {
    const m = new WindowedMin(1000);
    m.update(20, 0);
    m.reset();
    expect(m.update(50, 10)).toBe(50);
  });
});
