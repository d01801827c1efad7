/**
 * The peer's transport counters across its sessions (src/core/counterspace.ts): a rekey that
 * continues them is one sequence for the acknowledgements and the loss meter; a session that
 * starts again from 0 (a restarted peer, an older mlvpn) is a new one.
 */
import { describe, expect, test } from "bun:test";
import { AckState } from "../../src/core/ackstate.ts";
import { CounterSpace, RESTART, SAME, STALE } from "../../src/core/counterspace.ts";
import { LossMeter } from "../../src/core/loss.ts";
import { FEEDBACK_SIZE, type Feedback, KIND_OFF, newFeedback, readFeedback } from "../../src/wire/inner.ts";

const OLD = 7;
const NEW = 9;

function feedbackOf(acks: AckState): Feedback {
  const buf = new Uint8Array(KIND_OFF + FEEDBACK_SIZE + 8);
  acks.write(buf, 0, 100);
  const f = newFeedback();
  expect(readFeedback(buf, 0, buf.length, f)).toBe(true);
  return f;
}

/** The counters a feedback acknowledges (highest and its bitmap). */
function acknowledged(f: Feedback): number[] {
  const out = [f.highest];
  for (let i = 0; i < 64; i++) {
    const set = i < 32 ? (f.bitmapLo >>> i) & 1 : (f.bitmapHi >>> (i - 32)) & 1;
    if (set) out.push(f.highest - 1 - i);
  }
  return out.sort((a, b) => a - b);
}

describe("CounterSpace", () => {
  test("continued counters are one sequence; late packets of the old session belong to it", () => {
    const c = new CounterSpace();
    expect(c.enter(OLD, 0, -1)).toBe(SAME);
    expect(c.enter(OLD, 99, 98)).toBe(SAME);
    expect(c.enter(NEW, 100, 99)).toBe(SAME); // the new session starts above the old one
    expect(c.enter(OLD, 97, 100)).toBe(SAME); // a late packet of the old session
    expect(c.enter(NEW, 101, 100)).toBe(SAME);
  });

  test("a session starting from 0 again is a new sequence; the old one's late packets are then stale", () => {
    const c = new CounterSpace();
    c.enter(OLD, 500, -1);
    expect(c.enter(NEW, 0, 500)).toBe(RESTART);
    expect(c.enter(OLD, 499, 0)).toBe(STALE);
    expect(c.enter(NEW, 1, 0)).toBe(SAME);
  });
});

describe("AckState across a rekey", () => {
  test("continued: late packets of the old session are acknowledged with the new one's, in one bitmap", () => {
    const acks = new AckState();
    for (let c = 0; c < 10; c++) if (c !== 8) acks.onReceive(OLD, c, 0, false);
    acks.onReceive(NEW, 10, 1, false);
    acks.onReceive(NEW, 11, 1, false);
    acks.onReceive(OLD, 8, 2, false); // late, under the old keys
    const f = feedbackOf(acks);
    expect(f.session).toBe(NEW);
    expect(f.highest).toBe(11);
    expect(acknowledged(f)).toEqual([...Array(12).keys()]);
  });

  test("restarted: acknowledgements start again, and the old session's late packets are not acknowledged", () => {
    const acks = new AckState();
    for (let c = 1000; c < 1010; c++) acks.onReceive(OLD, c, 0, false);
    acks.onReceive(NEW, 0, 1, false);
    acks.onReceive(NEW, 1, 1, false);
    acks.onReceive(OLD, 1010, 2, false);
    const f = feedbackOf(acks);
    expect(f.session).toBe(NEW);
    expect(acknowledged(f)).toEqual([0, 1]);
  });
});

describe("LossMeter across a rekey", () => {
  test("continued: no loss from the switch, nor from late packets of the old session", () => {
    const m = new LossMeter();
    for (let c = 0; c < 100; c++) if (c !== 98) m.onReceive(OLD, c);
    for (let c = 100; c < 200; c++) m.onReceive(NEW, c);
    m.onReceive(OLD, 98);
    expect(m.percent()).toBe(0);
  });

  test("a packet lost at the switch is counted once", () => {
    const m = new LossMeter();
    for (let c = 0; c < 100; c++) m.onReceive(OLD, c);
    for (let c = 101; c < 200; c++) m.onReceive(NEW, c);
    expect(m.percent()).toBeCloseTo(0.5, 5);
  });

  test("restarted: the new sequence is measured from its first counter", () => {
    const m = new LossMeter();
    for (let c = 5000; c < 5100; c++) m.onReceive(OLD, c);
    for (let c = 0; c < 100; c++) m.onReceive(NEW, c);
    m.onReceive(OLD, 5100); // late, of the sequence left behind
    expect(m.percent()).toBe(0);
  });
});
