/**
 * A download over asymmetric links (ADSL-like: each uplink a sixteenth of its downlink): TCP's
 * acknowledgements, 120 bytes each on the wire, fill the thin uplinks. Such an uplink's bottleneck
 * (32 packets in the simulator, ~25 ms of small packets at 1.25 Mbit/s) overflows before the
 * estimator's delay rule sees a queue (0.25 × min RTT + 5 ms), so only loss can tell it that the
 * link is full (src/core/roundloss.ts). Without that, its probing gain stayed at 1.25 and the
 * bottleneck dropped about 600 of its ~1700 acknowledgements a second.
 */
import { describe, expect, test } from "bun:test";
import { meanGoodput, runTransfer } from "./corepair.ts";

describe("a download over asymmetric links", () => {
  test("20/1.25 + 40/2.5 Mbit/s at 40 + 80 ms, CUBIC, buffer 64: the uplinks' bottlenecks drop few acknowledgements once the transfer runs", () => {
    const link = (down: number, up: number, delayMs: number) => ({ up: { rateMbit: up, delayMs }, down: { rateMbit: down, delayMs } });
    const links = [link(20, 1.25, 40), link(40, 2.5, 80)];
    let dropsAt10s: number | undefined;
    // paths[i][1] is link i's way back: the uplink, for a download.
    const uplinkDrops = (paths: { dropped: number }[][]) => paths.reduce((n, p) => n + p[1]!.dropped, 0);
    let last: { dropped: number }[][] = [];
    const r = runTransfer({
      links,
      download: true,
      durationMs: 20_000,
      reorderSize: 64,
      cc: "cubic",
      seed: 1,
      handshake: true,
      onTick: (now, paths) => {
        last = paths;
        if (dropsAt10s === undefined && now >= 10_000) dropsAt10s = uplinkDrops(paths);
      },
    });
    const perSecond = (uplinkDrops(last) - dropsAt10s!) / 10;
    console.log(`  uplinks' drops in the last 10 s: ${perSecond.toFixed(0)}/s; goodput ${meanGoodput(r, 2000, 20_000).toFixed(1)} Mbit/s`);
    // Without the loss rule: 595/s (the 1.25 Mbit/s uplink losing a quarter of what it carries);
    // with it, 226: the link's usual loss share (roundloss.ts) grows with the loss it cannot stop.
    // Since the simulated TCP repeats its SACK blocks as Linux does (tcpmodel.ts), it no longer
    // retransmits what a lost acknowledgement had reported, runs faster and acknowledges more:
    // 680/s without the rule, 329 with it.
    expect(perSecond).toBeLessThan(400);
    // And the download still gets the sum's better part (the faster link alone: 40 Mbit/s).
    expect(meanGoodput(r, 2000, 20_000)).toBeGreaterThan(45);
  });
});
