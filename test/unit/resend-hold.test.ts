/**
 * The receiver's side of a resend (issue 15's race): LossMeter.newlyMissing tells when our
 * acknowledgement makes the sender find a loss (its REORDER_THRESHOLD rule), and the reorder
 * buffer then waits for the resend (resendDue) instead of giving its hole up on the hold alone;
 * the first packet since a reset no longer turns the packets just below it into stale drops.
 */
import { describe, expect, test } from "bun:test";
import { TCP_MIN_RTO_MS } from "../../src/core/constants.ts";
import { LossMeter } from "../../src/core/loss.ts";
import { ReorderBuffer } from "../../src/core/reorder.ts";

const S = 7;

function recording(capacity: number): { buffer: ReorderBuffer; delivered: number[] } {
  const delivered: number[] = [];
  const buffer = new ReorderBuffer(capacity, (p) => delivered.push(p[0]!));
  return { buffer, delivered };
}
const packet = (seq: number): Uint8Array => Uint8Array.of(seq);

describe("LossMeter.newlyMissing", () => {
  test("a missing counter is found once, when the threshold passes it; arrivals of any kind count", () => {
    const m = new LossMeter();
    for (const c of [10, 11, 13, 14, 15]) m.onReceive(S, c);
    expect(m.newlyMissing(11, 0)).toBe(false);
    expect(m.newlyMissing(12, 0)).toBe(true); // 12 never came
    expect(m.newlyMissing(12, 0)).toBe(false); // told once
    m.onReceive(S, 16);
    expect(m.newlyMissing(13, 0)).toBe(false);
    // 12 arriving late changes nothing already said; 17 missing is found when passed.
    m.onReceive(S, 12);
    for (const c of [18, 19, 20, 21]) m.onReceive(S, c);
    expect(m.newlyMissing(15, 0)).toBe(false);
    expect(m.newlyMissing(18, 0)).toBe(true);
  });

  test("each rule has its own cursor: a counter passed by the highest (rule 1) is found again by the count (rule 0)", () => {
    const m = new LossMeter();
    for (const c of [0, 1, 3]) m.onReceive(S, c);
    expect(m.newlyMissing(2, 1)).toBe(true);
    expect(m.newlyMissing(2, 1)).toBe(false);
    expect(m.newlyMissing(2, 0)).toBe(true);
  });

  test("counters before the first one seen are not known: no loss found there", () => {
    const m = new LossMeter();
    for (let c = 1000; c < 1010; c++) m.onReceive(S, c);
    expect(m.newlyMissing(1006, 0)).toBe(false);
  });

  test("only the 64 counters below the highest are known: a wider jump is passed over, not reported", () => {
    const m = new LossMeter();
    m.onReceive(S, 0);
    m.onReceive(S, 200);
    expect(m.newlyMissing(100, 0)).toBe(false);
    expect(m.newlyMissing(140, 0)).toBe(true); // 136..140 lie within the window and never came
  });
});

describe("ReorderBuffer.resendDue", () => {
  test("the holes open when a resend is due wait holdMs from then; without it they are given up on the hold", () => {
    for (const due of [false, true]) {
      const { buffer, delivered } = recording(64);
      buffer.holdMs = 30;
      buffer.insert(0, packet(0), 0);
      buffer.insert(2, packet(2), 10); // 1 is missing: given up at 40 on the hold alone
      buffer.insert(3, packet(3), 30);
      if (due) buffer.resendDue(35); // found lost at 35: its resend comes by 65
      expect(buffer.nextDeadline()).toBe(due ? 65 : 40);
      buffer.handleTimeout(41);
      buffer.insert(1, packet(1), 50);
      expect(delivered).toEqual(due ? [0, 1, 2, 3] : [0, 2, 3, 1]);
      expect(buffer.stats.late).toBe(due ? 0 : 1);
    }
  });

  test("a hole opened after the resend fell due keeps its own hold", () => {
    const { buffer } = recording(64);
    buffer.holdMs = 30;
    buffer.insert(0, packet(0), 0);
    buffer.insert(2, packet(2), 10);
    buffer.resendDue(20); // for the hole at 1: until 50
    buffer.insert(1, packet(1), 25);
    buffer.insert(4, packet(4), 26); // 3 missing, opened after: given up at 56
    expect(buffer.nextDeadline()).toBe(56);
  });

  test("nothing held: nothing to wait for; never longer than TCP_MIN_RTO_MS in all (TCP would time out behind it)", () => {
    const { buffer } = recording(64);
    buffer.holdMs = 30;
    buffer.insert(0, packet(0), 0);
    buffer.resendDue(1);
    buffer.insert(2, packet(2), 10);
    expect(buffer.nextDeadline()).toBe(40);
    buffer.resendDue(2000);
    expect(buffer.nextDeadline()).toBe(10 + TCP_MIN_RTO_MS);
  });
});

describe("the first packet since a reset", () => {
  test("packets just below it (a slower link, a resend) are delivered late, not dropped as stale", () => {
    const { buffer, delivered } = recording(16);
    buffer.insert(0, packet(0), 0);
    buffer.reset();
    // After the reset sequence 41 arrives first; 40 was on a slower link, 39 is resent.
    for (const seq of [41, 42, 40, 39]) buffer.insert(seq, packet(seq), 1);
    expect(delivered).toEqual([0, 41, 42, 40, 39]);
    expect(buffer.stats).toMatchObject({ late: 2, stale: 0 });
    // More than its capacity below: unknown, dropped as stale as before.
    buffer.insert(20, packet(20), 2);
    expect(buffer.stats.stale).toBe(1);
  });
});
