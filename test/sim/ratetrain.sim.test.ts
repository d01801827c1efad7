/**
 * The rate train at link-up (src/core/train.ts) through the tunnel's data plane (corepair.ts):
 * every link starts at its measured rate instead of the estimator's 4 Mbit/s guess, and the
 * pairs that the guess broke now carry a TCP stream at the faster link's rate from the first
 * seconds.
 *
 * Before the train (measured on the code without it, same seeds; docs/scheduler.md "A rate
 * before the first round"), CUBIC with the buffer at 64, worst 5 s ÷ the faster link alone:
 * 40+3 Mbit/s at 2+60 ms 0.33, 100+3 at 15+10 ms 0.25, 10+1 at 60+30 ms 0.61; BBR on ADSL-like
 * 0.5 Mbit/s at 20 ms + 10 Mbit/s at 40 ms 6.3 Mbit/s on average where the 10 Mbit/s link
 * alone carries 9.3 bare. The slow link took TCP's first rounds at the guess's rate, its queue
 * held them 50-170 ms, and TCP left its slow start at a fraction of the sum.
 */
import { describe, expect, test } from "bun:test";
import { TUNNEL_OVERHEAD, UDP_IPV4_OVERHEAD } from "../../src/wire/layout.ts";
import { type LinkPaths, meanGoodput, runTransfer, TUN_MTU, WARMUP_MS, worstWindow } from "./corepair.ts";

const DURATION_MS = 20_000;
const link = (rateMbit: number, delayMs: number): LinkPaths => ({ up: { rateMbit, delayMs }, down: { rateMbit, delayMs } });
/** Mbit/s on the wire (the path counts the UDP/IP headers, 28 bytes a datagram) → the estimator's bytes per ms of sealed datagrams. */
const asEstimate = (rateMbit: number) => ((rateMbit * 1000) / 8) * ((TUN_MTU + TUNNEL_OVERHEAD) / (TUN_MTU + TUNNEL_OVERHEAD + UDP_IPV4_OVERHEAD));

describe("a rate train at link-up", () => {
  test("every link starts at its measured rate (never above it), out of startup, in place of the 4 Mbit/s guess", () => {
    const rates = [0.5, 1, 3, 20, 100];
    const estimates: { bw: number; guess: boolean; startup: boolean }[][] = [];
    runTransfer({
      links: rates.map((r) => link(r, 20)),
      download: false,
      durationMs: 100,
      reorderSize: 64,
      // Before TCP starts (WARMUP_MS): the links are up, nothing but keepalives and the trains went.
      onTick: (now, _paths, ends) => {
        if (now === WARMUP_MS - 100) estimates.push(...ends.map((e) => e.links.map((l) => ({ bw: l.sender.estimator.bandwidth, guess: l.sender.estimator.isGuess, startup: l.sender.estimator.inStartup }))));
      },
    });
    expect(estimates.length).toBe(2); // both ends
    for (const end of estimates) {
      rates.forEach((r, i) => {
        const e = end[i]!;
        expect(e.guess).toBe(false);
        expect(e.startup).toBe(false);
        expect(e.bw).toBeLessThanOrEqual(asEstimate(r));
        // Within 10 % up to a few Mbit/s; at 100 Mbit/s a spacing is about one clock unit (0.1 ms),
        // counted as two: half the rate, which startup doubles in a round.
        expect(e.bw).toBeGreaterThan((r <= 3 ? 0.9 : 0.5) * asEstimate(r));
      });
    }
  });

  /** The faster link first: it is the one the pair is judged against. */
  const pairs: { name: string; links: LinkPaths[] }[] = [
    { name: "40+3 Mbit/s at 2+60 ms", links: [link(40, 2), link(3, 60)] },
    { name: "100+3 Mbit/s at 15+10 ms", links: [link(100, 15), link(3, 10)] },
    { name: "10+1 Mbit/s at 60+30 ms", links: [link(10, 60), link(1, 30)] },
  ];
  for (const p of pairs) {
    test(`CUBIC, buffer 64, ${p.name}: the worst 5 s at 90 % of the faster link alone or more`, () => {
      const r = runTransfer({ links: p.links, download: false, durationMs: DURATION_MS, reorderSize: 64, cc: "cubic", seed: 1 });
      const bare = runTransfer({ links: [p.links[0]!], download: false, durationMs: DURATION_MS, reorderSize: 0, bare: true, cc: "cubic", seed: 1 });
      expect(worstWindow(r, 2000, DURATION_MS) / worstWindow(bare, 2000, DURATION_MS)).toBeGreaterThan(0.9);
    });
  }

  test("BBR, an ADSL-like uplink (0.5 Mbit/s at 20 ms) beside 10 Mbit/s at 40 ms: 90 % of the 10 Mbit/s link alone, buffer on and off", () => {
    const links = [link(0.5, 20), link(10, 40)];
    const bare = runTransfer({ links: [link(10, 40)], download: false, durationMs: DURATION_MS, reorderSize: 0, bare: true, cc: "bbr", seed: 1 });
    const alone = meanGoodput(bare, 0, DURATION_MS);
    for (const reorderSize of [64, 0]) {
      const r = runTransfer({ links, download: false, durationMs: DURATION_MS, reorderSize, cc: "bbr", seed: 1 });
      expect(meanGoodput(r, 0, DURATION_MS) / alone).toBeGreaterThan(0.9);
    }
  });
});
