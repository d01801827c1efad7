/**
 * The low mode of issue 11's lossy cells (docs/scheduler.md, "Bursts and standing queues" and "A
 * low estimate must not hold itself up"), on the simulator with one CUBIC stream (tcpmodel.ts
 * through corepair.ts):
 *
 * - the lab's r3d3l cell (8+30 Mbit/s, 10+10 ms, 1 % loss on the 8 Mbit/s link), at several
 *   seeds: before the fix the stream settled at 0.40-0.67 × the 30 Mbit/s link alone in four seeds
 *   of six with the guide's buffer of 64 (the repairs' bursts refused as queue-full, TCP held
 *   below the links' estimates, the estimates never rising);
 * - a link whose capacity falls and comes back (30 → 10 → 30 Mbit/s): the estimate and the
 *   stream follow it back up within half a second, where they took 1.5 s before.
 */
import { describe, expect, test } from "bun:test";
import { fixedLink, meanGoodput, PAYLOAD_SHARE, runTransfer, worstWindow } from "./corepair.ts";

const DURATION_MS = 10_000;
const SEEDS = [1, 2, 3, 4, 5, 6];

/**
 * Seeds below issue 11's floor (85 % of the sum by the worst 5 s) though above the low mode. None
 * since the estimator keeps its minimum delays in a windowed-min filter (src/core/winmin.ts);
 * seeds 4 and 5 of buffer 64 were, at 80 %, 0.96 × the best link. Seen then: CUBIC's window stays flat for seconds, each of the lossy link's
 * repairs arriving after the 64-packet buffer gave its hole up, so that TCP retransmits, enters
 * recovery and undoes it (DSACK) about every 300 ms, and each recovery restarts its cubic epoch.
 */
const KNOWN_BELOW_FLOOR = new Set<string>([]);

describe("no low mode on a lossy pair (8+30 Mbit/s, 10+10 ms, 1 % loss on the 8)", () => {
  const links = [fixedLink(8, 10, 0.01), fixedLink(30, 10)];
  const bare = runTransfer({ links: [fixedLink(30, 10)], download: false, durationMs: DURATION_MS, reorderSize: 0, bare: true });
  const best = meanGoodput(bare, 2000, DURATION_MS);
  const floor = 0.85 * 38 * PAYLOAD_SHARE;
  for (const reorderSize of [64, 0]) {
    test(`buffer ${reorderSize || "off"}, seeds ${SEEDS.join(", ")}: never far below the best link, the floor where not listed`, () => {
      const rows: string[] = [];
      for (const seed of SEEDS) {
        const r = runTransfer({ links, download: false, durationMs: DURATION_MS, reorderSize, seed });
        const worst = worstWindow(r, 2000, DURATION_MS);
        const key = `rb ${reorderSize} seed ${seed}`;
        rows.push(`${key}: worst 5 s ${worst.toFixed(1)} Mbit/s (${((100 * worst) / (38 * PAYLOAD_SHARE)).toFixed(0)} %, ${(worst / best).toFixed(2)} × best)`);
        // The low mode was 0.40-0.67 × the best link; never again below 0.9 of it.
        expect(worst, key).toBeGreaterThan(0.9 * best);
        if (KNOWN_BELOW_FLOOR.has(key)) expect(worst, `${key} meets the floor now: take it off KNOWN_BELOW_FLOOR`).toBeLessThan(floor);
        else expect(worst, key).toBeGreaterThan(floor);
      }
      console.log(`  the 30 Mbit/s link alone ${best.toFixed(1)}, floor ${floor.toFixed(1)}\n  ${rows.join("\n  ")}`);
    }, 60_000);
  }
});

describe("a capacity that comes back is found again", () => {
  test("30 → 10 Mbit/s for 1 s, then 30 again: within 0.5 s the estimate is back and the stream near the sum", () => {
    const restoreAt = 5000;
    let estimateAfter = 0;
    const r = runTransfer({
      links: [fixedLink(8, 10), fixedLink(30, 10)],
      download: false,
      durationMs: 8000,
      reorderSize: 64,
      onTick: (now, paths, ends) => {
        const t = now - 1000; // corepair.ts starts TCP after a second of warm-up
        const rateMbit = t >= restoreAt - 1000 && t < restoreAt ? 10 : 30;
        for (const p of paths[1]!) p.spec = { ...p.spec, rateMbit };
        if (t === restoreAt + 500) estimateAfter = (ends[0]!.links[1]!.sender.estimator.bandwidth * 8) / 1000;
      },
    });
    const halves = Array.from({ length: 6 }, (_, i) => meanGoodput(r, restoreAt - 1000 + 500 * i, restoreAt - 500 + 500 * i));
    console.log(`  per 0.5 s from the fall: ${halves.map((x) => x.toFixed(1)).join(" ")} Mbit/s; the 30 Mbit/s link's estimate 0.5 s after it came back: ${estimateAfter.toFixed(1)}`);
    // The estimate counts what the link carries of our datagrams: 30 Mbit/s of frames, a little less.
    expect(estimateAfter).toBeGreaterThan(0.9 * 30 * (1500 - 28) / 1500);
    // From 0.5 s after the capacity came back: 85 % of the sum.
    for (const g of halves.slice(3)) expect(g).toBeGreaterThan(0.85 * 38 * PAYLOAD_SHARE);
  }, 60_000);
});
