/**
 * The simulated BBR's bandwidth filter (tcpmodel.ts), as Linux's: a windowed running maximum over
 * 10 round trips that only a sample updates (lib/win_minmax.c), and PROBE_RTT's low-rate samples
 * ignored (bbr_update_min_rtt marks the connection app-limited). Before, each round trip emptied
 * a slot of the filter whatever was measured, so PROBE_RTT's 200 ms of 4-packet rounds emptied
 * all ten on a short path: the estimate fell to PROBE_RTT's rate and grew back by a quarter every
 * eight rounds. Through a tunnel whose nearer link is the slower one (40 Mbit/s at 15 ms + 5 at
 * 5 ms), BBR's minimum RTT is the near link's, it expires every 10 s, and each PROBE_RTT cost
 * about two seconds at a third of the sum (11 and 14 Mbit/s), where the lab (kernel BBR) showed
 * no dip (38.8 Mbit/s over its worst 5 s).
 */
import { describe, expect, test } from "bun:test";
import { meanGoodput, runTransfer } from "./corepair.ts";
import { RunningMax } from "./tcpmodel.ts";

describe("the simulated BBR's bandwidth filter", () => {
  test("a windowed maximum keeps its value through rounds without samples, and ages out", () => {
    const m = new RunningMax(10);
    m.update(0, 100);
    m.update(3, 60);
    expect(m.value).toBe(100);
    // Ten rounds on, still inside the window: the maximum stands.
    m.update(10, 55);
    expect(m.value).toBe(100);
    // A sample 11 rounds after the maximum: the maximum has aged out; the best left in the window leads.
    m.update(11, 50);
    expect(m.value).toBe(60);
    m.update(30, 40);
    expect(m.value).toBe(40);
    m.update(31, 90);
    expect(m.value).toBe(90);
  });

  test("PROBE_RTT through a tunnel whose nearer link is the slower one costs less than a second", () => {
    const fast = { rateMbit: 40, delayMs: 15 };
    const slow = { rateMbit: 5, delayMs: 5 };
    const r = runTransfer({ links: [{ up: fast, down: fast }, { up: slow, down: slow }], download: false, durationMs: 20_000, reorderSize: 64, cc: "bbr", seed: 1 });
    let worstSecond = Number.POSITIVE_INFINITY;
    for (let t = 3000; t + 1000 <= 20_000; t += 1000) worstSecond = Math.min(worstSecond, meanGoodput(r, t, t + 1000));
    // 45 Mbit/s × payload share ≈ 43; PROBE_RTT itself (200 ms at 4 packets) takes a fifth of one second.
    expect(worstSecond).toBeGreaterThan(28);
    expect(meanGoodput(r, 3000, 20_000)).toBeGreaterThan(38);
  });
});
