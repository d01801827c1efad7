/**
 * A resend goes before new data on its link. The peer's reorder buffer holds everything behind a
 * hole until the resend comes, and gives the hole up after its hold time (reorder.ts); a resend
 * queued behind new data waited for that queue first, came after the hold on a long path, and
 * TCP saw the hole after all: it retransmitted, and cut its window, at an RTT the holds had
 * already doubled. Only the resends a LOSS report asked for went first (they come from a faster
 * link); with links of equal delay there is no faster link, so every loss took the slow way.
 * Deterministic: virtual clock, one TCP stream up for 20 s (test/sim/corepair.ts).
 */
import { describe, expect, test } from "bun:test";
import { fixedLink, meanGoodput, runTransfer } from "./corepair.ts";

const DURATION_MS = 20_000;
/** Above the lossless link alone by more than the noise of one seed (the ceiling is 2 ×; before: 0.97 ×). */
const TIMES_ALONE = 1.15;
/** TCP's retransmissions: (almost) none reach it (after: 4; before: 1267, one per loss and more). */
const MAX_RETRANSMITS = 100;

describe("a resend goes before new data on its link", () => {
  // before: 18.0 Mbit/s, 1267 TCP retransmissions (1242 arrived twice): below the lossless link
  // alone (18.6 bare); after: 23.1, 4 retransmissions
  test("20 Mbit/s 80 ms 1 % loss + 20 Mbit/s 80 ms, reorder buffer 64, CUBIC: above the lossless link alone, TCP sees (almost) no loss", () => {
    const r = runTransfer({ links: [fixedLink(20, 80, 0.01), fixedLink(20, 80)], download: false, durationMs: DURATION_MS, reorderSize: 64, cc: "cubic", seed: 1 });
    const bare = runTransfer({ links: [fixedLink(20, 80)], download: false, durationMs: DURATION_MS, reorderSize: 64, cc: "cubic", seed: 1, bare: true });
    const goodput = meanGoodput(r, 0, DURATION_MS);
    const alone = meanGoodput(bare, 0, DURATION_MS);
    console.log(`  [resend first] ${goodput.toFixed(2)} Mbit/s (rtx ${r.retransmits}, twice ${r.duplicates}), the lossless link alone ${alone.toFixed(2)}`);
    expect(goodput).toBeGreaterThan(TIMES_ALONE * alone);
    expect(r.retransmits).toBeLessThan(MAX_RETRANSMITS);
  });
});
