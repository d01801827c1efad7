import { describe, expect, test } from "bun:test";
import { ReplayWindow } from "../../src/core/replay.ts";
import { xorshift } from "../helpers/random.ts";

const MAX = Number.MAX_SAFE_INTEGER; // 2^53 - 1


/** Runs numbered mark() cases in order, like wireguard-go's replay_test.go, and names the failing one. */
function runCases(window: ReplayWindow, cases: readonly (readonly [counter: number, accepted: boolean])[]): void {
  cases.forEach(([counter, accepted], i) => {
    expect({ case: i + 1, counter, checked: window.check(counter) }).toEqual({ case: i + 1, counter, checked: accepted });
    expect({ case: i + 1, counter, marked: window.mark(counter) }).toEqual({ case: i + 1, counter, marked: accepted });
  });
}

describe("construction", () => {
  test("window sizes must be multiples of 32 and at least 2048", () => {
    for (const bad of [0, 32, 2016, 2047, 2048 + 16, 4100, 4096.5, Number.NaN, -4096]) {
      expect(() => new ReplayWindow(bad)).toThrow(RangeError);
    }
    for (const good of [2048, 2080, 4096, 65536]) expect(new ReplayWindow(good).windowSize).toBe(good);
    expect(new ReplayWindow().windowSize).toBe(4096);
  });

  test("starts empty", () => {
    const w = new ReplayWindow();
    expect(w.highest).toBe(-1);
  });
});

describe("numbered cases (after wireguard-go replay_test.go, for a window of W counters ending at highest)", () => {
  const W = 4096;

  test("in order, duplicates, old, jumps and window edges", () => {
    runCases(new ReplayWindow(W), [
      [0, true], //  1 counter 0 is a valid first counter
      [1, true], //  2
      [1, false], //  3 duplicate
      [9, true], //  4 jump forward leaves holes 2..8
      [8, true], //  5 fills a hole
      [7, true], //  6
      [7, false], //  7 duplicate of a filled hole
      [W, true], //  8 window is now [1, W]
      [W - 1, true], //  9
      [W - 1, false], // 10
      [W - 2, true], // 11
      [2, true], // 12 old hole still inside the window
      [2, false], // 13
      [W + 16, true], // 14 window is now [17, W + 16]
      [3, false], // 15 left the window
      [W + 16, false], // 16
      [W * 4, true], // 17 jump of several windows: window [3W + 1, 4W]
      [W * 4 - (W - 1), true], // 18 lowest counter inside the window
      [10, false], // 19
      [W * 4 - W, false], // 20 one below the window
      [W * 4 - (W + 1), false], // 21
      [W * 4 - (W - 2), true], // 22
      [W * 4 + 1 - W, false], // 23 the lowest one again
      [0, false], // 24
    ]);
  });

  test("huge counters near 2^53", () => {
    runCases(new ReplayWindow(W), [
      [2 ** 53, false], //  1 not a safe integer: indistinguishable from 2^53 + 1
      [MAX, true], //  2
      [MAX, false], //  3
      [MAX - 1, true], //  4
      [2 ** 53 + 2, false], //  5
      [MAX - W + 1, true], //  6 lowest edge
      [MAX - W, false], //  7 just below
      [MAX - 2, true], //  8
      [0, false], //  9
    ]);
  });

  test("invalid counters are refused and change nothing", () => {
    const w = new ReplayWindow(W);
    w.mark(100);
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, -0.5]) {
      expect(w.check(bad)).toBe(false);
      expect(w.mark(bad)).toBe(false);
    }
    expect(w.highest).toBe(100);
  });

  test("check() never changes state", () => {
    const w = new ReplayWindow(W);
    expect(w.check(5)).toBe(true);
    expect(w.check(5)).toBe(true);
    expect(w.check(10 * W)).toBe(true);
    expect(w.highest).toBe(-1);
    expect(w.mark(5)).toBe(true);
    expect(w.check(5)).toBe(false);
  });
});

describe("bulk cases", () => {
  const W = 2048;

  test("1..W in order: counter 0 has left the window", () => {
    const w = new ReplayWindow(W);
    for (let i = 1; i <= W; i++) expect(w.mark(i)).toBe(true);
    expect(w.mark(0)).toBe(false);
    expect(w.mark(1)).toBe(false);
    expect(w.check(W + 1)).toBe(true);
  });

  test("0..W-1 in order: the whole range fits", () => {
    const w = new ReplayWindow(W);
    for (let i = 0; i < W; i++) expect(w.mark(i)).toBe(true);
    for (let i = 0; i < W; i++) expect(w.check(i)).toBe(false);
  });

  test("W down to 1: every counter below the first one is still inside", () => {
    const w = new ReplayWindow(W);
    for (let i = W; i >= 1; i--) expect(w.mark(i)).toBe(true);
    expect(w.mark(0)).toBe(false);
  });

  test("W + 1, then W down to 2, then 1 is too old", () => {
    const w = new ReplayWindow(W);
    expect(w.mark(W + 1)).toBe(true);
    for (let i = W; i >= 2; i--) expect(w.mark(i)).toBe(true);
    expect(w.mark(1)).toBe(false);
    expect(w.check(0)).toBe(false);
  });

  test("stale bits from an earlier turn of the ring do not reject new counters", () => {
    const w = new ReplayWindow(W);
    // Mark every counter for several turns of the ring, with jumps of odd sizes in between.
    let counter = 0;
    for (let turn = 0; turn < 5; turn++) {
      for (let i = 0; i < W + 100; i++) expect(w.mark(counter++)).toBe(true);
      counter += 37 * (turn + 1);
    }
  });
});

describe("holes and jumps", () => {
  const W = 2048;

  test("a hole inside the window is accepted once, whenever it comes", () => {
    const w = new ReplayWindow(W);
    w.mark(0);
    w.mark(5); // holes 1..4
    expect(w.mark(3)).toBe(true);
    expect(w.mark(3)).toBe(false);
    for (const c of [1, 2, 4]) expect(w.check(c)).toBe(true);
    w.mark(W + 2); // 0..2 leave the window, 3..5 stay
    expect([w.check(2), w.check(3), w.check(4), w.check(5)]).toEqual([false, false, true, false]);
  });

  test("jumps of 2^40 are arithmetic, and the bitmap is cleared", () => {
    const w = new ReplayWindow(W);
    let counter = 0;
    for (let i = 0; i < 2000; i++) {
      expect(w.mark(counter)).toBe(true);
      expect(w.mark(counter + 1)).toBe(true);
      counter += 2 ** 40;
    }
    expect(w.highest).toBe((2000 - 1) * 2 ** 40 + 1);
  });

  test("reset() forgets every counter", () => {
    const w = new ReplayWindow(W);
    w.mark(5);
    w.mark(100_000);
    w.reset();
    expect(w.highest).toBe(-1);
    expect(w.mark(5)).toBe(true);
    expect(w.mark(0)).toBe(true);
  });
});

/** A window defined by its meaning only: the set of marked counters and the highest one. */
class SetOracle {
  readonly marked = new Set<number>();
  highest = -1;
  constructor(readonly size: number) {}

  accepts(counter: number): boolean {
    return counter > this.highest || (counter > this.highest - this.size && !this.marked.has(counter));
  }

  mark(counter: number): boolean {
    if (!this.accepts(counter)) return false;
    if (counter > this.highest) this.highest = counter;
    this.marked.add(counter);
    return true;
  }
}

describe("randomised against a Set-based oracle", () => {
  for (const [seed, start] of [
    [1, 0],
    [0xdecafbad, 0],
    [42, 2 ** 32 - 3000],
    [7, MAX - 200_000],
  ] as const) {
    test(`seed ${seed}, counters from ${start}`, () => {
      const random = xorshift(seed);
      const size = 2048;
      const window = new ReplayWindow(size);
      const oracle = new SetOracle(size);
      let base = start;
      for (let step = 0; step < 30_000; step++) {
        const r = random();
        let counter: number;
        if (r < 0.01) counter = base + Math.floor(random() * 5 * size); // jump ahead
        else if (r < 0.1) counter = base - Math.floor(random() * 1.5 * size); // old or replayed
        else counter = base + Math.floor(random() * 40) - 30; // jittered arrival
        counter = Math.min(Math.max(counter, 0), MAX);
        base = Math.min(Math.max(base, counter), MAX - 100);
        if (random() < 0.5) base++;

        expect(window.check(counter)).toBe(oracle.accepts(counter));
        if (random() < 0.8) expect(window.mark(counter)).toBe(oracle.mark(counter));
        if (step % 97 === 0) expect(window.highest).toBe(oracle.highest);
      }
      expect(window.highest).toBe(oracle.highest);
    });
  }
});
