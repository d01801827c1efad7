/**
 * The simulated TCP's handshake (corepair.ts `handshake`, MLVPN_SWEEP_HANDSHAKE=1): Linux takes its
 * first RTT sample from the SYN-ACK, and BBR starts from it (bbr_init: min RTT, and the first
 * pacing rate, 2.885 × the initial window ÷ that RTT). Without it the simulated BBR sent its first
 * window at once and took its minimum RTT from whatever path the data took, a start the lab's kernel
 * never makes (docs/simulator.md, "Limits").
 */
import { describe, expect, test } from "bun:test";
import { meanGoodput, runTransfer } from "./corepair.ts";
import { TcpSender } from "./tcpmodel.ts";

/** When each of the first `n` segments leaves a BBR sender started at 0 (nothing acknowledged). */
function firstSends(handshakeRttMs: number | undefined, n: number): number[] {
  const at: number[] = [];
  let now = 0;
  const s = new TcpSender(1500, () => at.push(now), 1, "bbr");
  s.start(0, handshakeRttMs);
  for (let steps = 0; at.length < n && steps < 1000; steps++) {
    now = Math.max(now, s.nextTimeout());
    s.handleTimeout(now);
  }
  return at.slice(0, n);
}

describe("the simulated TCP's handshake", () => {
  test("BBR paces its first window at 2.885 × 10 packets per handshake RTT; without one it goes at once", () => {
    const paced = firstSends(40, 10);
    // 10 packets at 2.885 × 10 / 40 ms = 0.72 per ms, less a first burst of about 2: 11 ms.
    expect(paced.at(-1)!).toBeGreaterThan(8);
    expect(paced.at(-1)!).toBeLessThan(14);
    expect(firstSends(undefined, 10).at(-1)!).toBeLessThan(1);
  });

  test("a transfer opens with the SYN exchange over the tunnel, and a lost SYN is sent again after 1 s", () => {
    const link = { rateMbit: 20, delayMs: 10, loss: 0 };
    const run = (handshake: boolean) =>
      runTransfer({ links: [{ up: link, down: link }, { up: link, down: link }], download: false, durationMs: 4000, reorderSize: 64, cc: "bbr", handshake, seed: 1 });
    const withSyn = run(true);
    const without = run(false);
    // The data starts one round trip (about 20 ms) later, and both then carry the two links.
    expect(meanGoodput(withSyn, 1000, 4000)).toBeGreaterThan(30);
    expect(meanGoodput(without, 1000, 4000)).toBeGreaterThan(30);
    expect(withSyn.goodput100ms[0]!).toBeLessThan(without.goodput100ms[0]!);
    // A bare link cut for its first 900 ms: the first SYN is lost, the second (at 1 s) is not.
    const up = { ...link, cut: true };
    const bare = runTransfer({
      links: [{ up, down: link }],
      download: false,
      durationMs: 4000,
      reorderSize: 0,
      bare: true,
      cc: "cubic",
      handshake: true,
      onTick: (now) => {
        if (now >= 900) up.cut = false;
      },
    });
    expect(bare.goodput100ms.slice(0, 10).every((g) => g === 0)).toBe(true);
    expect(meanGoodput(bare, 2000, 4000)).toBeGreaterThan(15);
  });
});
