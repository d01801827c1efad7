/**
 * A far fast link beside a near slow one, both behind shapers' buckets, through the tunnel's data
 * plane (corepair.ts), with the reorder buffer off. The buckets pass the rate trains at line rate,
 * so both links start up from the guess (train.ts "too fast to tell"), and the TCP stream's
 * acknowledgements come back on the near link: its round trip is about half the far link's.
 *
 * The fault this pins (docs/scheduler.md, "Startup behind TCP's slow start"): paced at twice its
 * estimate per round of its own, the far link fell behind TCP's slow start, which doubles per
 * round of TCP's; a queue built on our side, HyStart took it for the path's and ended slow start
 * at 188 packets (the path holds ~750), and CUBIC's window then crept for 9 s at 46 Mbit/s.
 */
import { describe, expect, test } from "bun:test";
import { meanGoodput, runTransfer } from "./corepair.ts";
import { bucketBytes, LAB_BUCKET_MS, type PathSpec } from "./pathmodel.ts";

const DURATION_MS = 8_000;

const link = (rateMbit: number, delayMs: number): PathSpec => ({ rateMbit, delayMs, burstBytes: bucketBytes(rateMbit, LAB_BUCKET_MS) });

describe("a link in startup keeps up with TCP's slow start", () => {
  test("100 Mbit/s at 40 ms beside 5 Mbit/s at 2 ms, buckets, CUBIC, buffer off: the sum within 2 s", () => {
    const far = link(100, 40);
    const near = link(5, 2);
    const r = runTransfer({ links: [{ up: far, down: far }, { up: near, down: near }], download: false, durationMs: DURATION_MS, reorderSize: 0, cc: "cubic", seed: 1 });
    const after2s = meanGoodput(r, 2000, DURATION_MS);
    // Measured: 96.2 Mbit/s (seconds 2-8); paced at 2 per round whatever the delays, 50.8.
    expect(after2s).toBeGreaterThan(80);
  });
});
