/**
 * Without a reorder buffer (`reorder_buffer_size = 0`) nothing at the peer waits for a lost
 * packet: the packets after it reach TCP as they come (the delay equaliser lines links up, it does
 * not hold a stream behind a hole). A loss on the nearer link of a pair, found by that link's
 * FEEDBACK, was sent again on whichever link had the least queue — the lateness allowance of new
 * data is all of the delay spread there (spread.ts) — and over the farther link it came after TCP
 * had seen the hole and retransmitted: every retransmission arrived twice, and each cut CUBIC's
 * window. Such a resend now takes the link where it arrives first (sendpath.ts onFeedback).
 * Deterministic: virtual clock, one TCP stream up for 20 s (test/sim/corepair.ts).
 */
import { describe, expect, test } from "bun:test";
import { fixedLink, type LinkPaths, meanGoodput, runTransfer } from "./corepair.ts";

const DURATION_MS = 20_000;

describe("without a reorder buffer, a loss on the nearer link is resent where it arrives first", () => {
  const cases: { name: string; links: () => LinkPaths[]; best: () => LinkPaths; floor: number }[] = [
    // before: 35.5 Mbit/s (30 retransmissions, all arrived twice), 0.38 x the 100 Mbit/s link alone (92.9); after: 64.5, 0.69 x
    { name: "20 Mbit/s 20 ms 1 % loss + 100 Mbit/s 60 ms", links: () => [fixedLink(20, 20, 0.01), fixedLink(100, 60)], best: () => fixedLink(100, 60), floor: 0.6 },
    // before: 28.9 Mbit/s (191 retransmissions, all twice), 0.76 x the 40 Mbit/s link alone (38.2); after: 43.4, 1.14 x
    { name: "40 Mbit/s 30 ms + 8 Mbit/s 10 ms 1 % loss", links: () => [fixedLink(40, 30), fixedLink(8, 10, 0.01)], best: () => fixedLink(40, 30), floor: 0.95 },
  ];
  for (const c of cases) {
    test(`${c.name}, CUBIC: at least ${c.floor} x the better link alone`, () => {
      const r = runTransfer({ links: c.links(), download: false, durationMs: DURATION_MS, reorderSize: 0, cc: "cubic", seed: 1 });
      const bare = runTransfer({ links: [c.best()], download: false, durationMs: DURATION_MS, reorderSize: 0, cc: "cubic", seed: 1, bare: true });
      const goodput = meanGoodput(r, 0, DURATION_MS);
      const alone = meanGoodput(bare, 0, DURATION_MS);
      console.log(`  [resend, no buffer] ${c.name}: ${goodput.toFixed(2)} Mbit/s (rtx ${r.retransmits}, twice ${r.duplicates}), the better link alone ${alone.toFixed(2)}: ${(goodput / alone).toFixed(2)} x`);
      expect(goodput).toBeGreaterThan(c.floor * alone);
    });
  }
});
