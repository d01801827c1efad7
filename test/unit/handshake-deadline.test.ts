/**
 * A handshake's timer (src/core/handshake-state.ts): at its own deadline a retry (or a new start)
 * is due. `now − sent ≥ span` was false at `now = sent + span` for some sums in floating point
 * (340.272 + 200 − 340.272 = 199.99999999999994): the tunnel's timer ran at that deadline, did
 * nothing, and found it due again, for ever (test/sim/rekey-flight.sim.test.ts stopped advancing
 * at 540.272 ms with a longer rate train, which moved a CONFIRM's sending time there).
 */
import { describe, expect, test } from "bun:test";
import { HANDSHAKE_GIVE_UP_MS } from "../../src/core/constants.ts";
import { givenUp, handshakeDeadline, type HandshakeState, retryDue } from "../../src/core/handshake-state.ts";

function hello(startMs: number, sentMs: number): HandshakeState {
  return { phase: "hello", nonce: new Uint8Array(16), startMs, sentMs } as HandshakeState;
}

describe("a handshake's deadline", () => {
  test("a retry is due at the deadline the timer was set for, whatever the sum's rounding", () => {
    expect(340.272 + 200 - 340.272 >= 200).toBe(false); // the rounding this pins
    for (let sent = 0; sent < 2000; sent += 0.137) {
      for (const srtt of [undefined, 3.3, 120.7, 351.9]) {
        const st = hello(sent, sent);
        const at = handshakeDeadline(st, srtt);
        expect(retryDue(st, at, srtt) || givenUp(st, at)).toBe(true);
      }
    }
  });

  test("given up at start + HANDSHAKE_GIVE_UP_MS exactly, not before", () => {
    for (let start = 0; start < 2000; start += 0.137) {
      const st = hello(start, start);
      expect(givenUp(st, start + HANDSHAKE_GIVE_UP_MS)).toBe(true);
      expect(givenUp(st, start + HANDSHAKE_GIVE_UP_MS - 0.001)).toBe(false);
    }
  });
});
