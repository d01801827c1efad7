/**
 * The simulated TCP's retransmission timeout (tcpmodel.ts): 1 s before any RTT sample
 * (TCP_TIMEOUT_INIT, RFC 6298 §2.1), doubled by each RTO in a row (§5.5), back to srtt + 4 rttvar
 * (at least 200 ms) once new data is acknowledged. With a 200 ms timeout from the start and no
 * backoff, a path of more than 200 ms RTT timed its first window out, every acknowledgement then
 * covered a retransmission (no sample, Karn), and the timeout never grew: a bare 10 Mbit/s link of
 * 300 ms one way carried 0.05 Mbit/s (CUBIC), and the sweep judged the 150 ms cells against that.
 */
import { describe, expect, test } from "bun:test";
import { meanGoodput, runTransfer } from "./corepair.ts";

describe("the simulated TCP's retransmission timeout", () => {
  for (const cc of ["cubic", "bbr"] as const) {
    test(`a bare link of 600 ms RTT carries most of its rate (${cc}, no handshake sample)`, () => {
      const link = { rateMbit: 10, delayMs: 300 };
      const r = runTransfer({ links: [{ up: link, down: link }], download: false, durationMs: 20_000, reorderSize: 0, bare: true, cc, seed: 1 });
      expect(meanGoodput(r, 5000, 20_000)).toBeGreaterThan(6);
      // The first window is not lost to a timeout that comes before its acknowledgements.
      expect(r.rtos).toBeLessThanOrEqual(1);
    });
  }
});
