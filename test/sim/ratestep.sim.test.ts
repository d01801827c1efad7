/**
 * A link whose rate steps up during a transfer (an LTE cell that frees up; LTE's rate swings
 * several times within a second): 4 → 16 Mbit/s at 25 ms, one TCP upload. The link's estimate
 * lags the step by a few rounds (the estimator paces a quarter above it each round while packets
 * wait), and meanwhile our queue stands. It used to be refused like a full link's after a round
 * trip above 15 ms, and CUBIC backed off from a link with three quarters of its capacity unused:
 * 10 refusals in the 3 s after the step, 8.8 Mbit/s over them. A standing queue is now refused
 * only while the link shows it is full (a queue at its bottleneck, or a round's loss:
 * estimator.ts `full`); else it gets a link in startup's room (sendpath.ts).
 */
import { describe, expect, test } from "bun:test";
import { meanGoodput, runTransfer, WARMUP_MS } from "./corepair.ts";

const STEP_AT = 6000;

describe("one link's rate steps from 4 to 16 Mbit/s during one TCP upload (CUBIC)", () => {
  test("our queue behind the estimate's lag is not refused, and the stream follows the step", () => {
    let refusedAtStep = -1;
    let refusedAfter = -1;
    const r = runTransfer({
      links: [{ up: { rateMbit: 4, delayMs: 25 }, down: { rateMbit: 4, delayMs: 25 } }],
      download: false,
      durationMs: STEP_AT + 3000,
      reorderSize: 64,
      cc: "cubic",
      seed: 1,
      tickMs: 100,
      onTick: (now, paths, ends) => {
        const t = now - WARMUP_MS;
        for (const p of paths[0]!) p.spec = { ...p.spec, rateMbit: t >= STEP_AT ? 16 : 4 };
        const refused = ends[0]!.drops.get("queue-full") ?? 0;
        if (refusedAtStep < 0 && t >= STEP_AT) refusedAtStep = refused;
        refusedAfter = refused;
      },
    });
    const mean = meanGoodput(r, STEP_AT, STEP_AT + 3000);
    // Before: 10 refusals, 8.8 Mbit/s. Now: none, 10.1.
    expect(refusedAfter - refusedAtStep).toBeLessThan(3);
    expect(mean).toBeGreaterThan(9.5);
  });
});
