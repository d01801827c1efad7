/**
 * src/core/delayrise.ts on its own: an estimate's fall under one standing queue is tried as a rise
 * of the path's delay once what was sent before the fall has left (at most twice the cap in flight
 * for two RTTs); the try doubles the estimate with the delays of then as the base, and stands if
 * the link delivers more, or goes back if a loaded link delivers no more (its rate fell).
 */
import { describe, expect, test } from "bun:test";
import { DelayRise } from "../../src/core/delayrise.ts";

const RTT = 40;
/** The last round's one-way delays (relative, ms): their lowest, 21, becomes the base. */
const OWDS = [{ rate: 23 }, { rate: 21 }, { rate: 22 }];

/** Rounds of 10 ms from `t`, the estimate halving each round from `bw` under a queue; the first non-zero answer and when. */
function fall(d: DelayRise, bw: number, rounds: number, drained: boolean, t = 0): { said: number; t: number } {
  for (let i = 0; i < rounds; i++, t += 10) {
    const said = d.round(bw / 2 ** i, true, drained, RTT, OWDS, t);
    if (said > 0) return { said, t };
  }
  return { said: 0, t };
}

describe("DelayRise", () => {
  test("fallen 8 × under a standing queue, drained for two RTTs: a try at twice the estimate, the delays of then as the base", () => {
    const d = new DelayRise();
    const { said, t } = fall(d, 6000, 20, true);
    // 8 × fallen at 30 ms (the fourth round, 750), drained from 0 ms: two RTTs later, at 80 (23.4 by then).
    expect(t).toBe(80);
    expect(said).toBe((2 * 6000) / 2 ** 8);
    expect(d.rttBase(8, 39)).toBe(RTT);
    expect(d.owdBase(2, 20)).toBe(21);
    // The delay falls back below halfway between: the base is the minimum again, for both.
    expect(d.owdBase(2, 10)).toBe(2);
    expect(d.rttMs).toBe(0);
    expect(d.rttBase(8, 9)).toBe(8);
  });

  test("each step that brings a quarter more than the estimate before it is followed by another, up to the estimate from before the queue", () => {
    const d = new DelayRise();
    let { said: bw, t } = fall(d, 6000, 20, true);
    const steps = [bw];
    while (bw > 0) {
      d.sample(1.3 * (bw / 2), false); // the step before was at half of it
      t += RTT;
      bw = d.round(bw, true, true, RTT, OWDS, t);
      if (bw > 0) steps.push(bw);
    }
    expect(steps).toEqual([46.875, 93.75, 187.5, 375, 750, 1500, 3000, 6000]);
    expect(d.rttMs).toBe(RTT); // the rise stands
  });

  test("a first step that a loaded link does not follow within three RTTs: back to the estimate and the delays, no other try in this queue", () => {
    const d = new DelayRise();
    const { said, t } = fall(d, 6000, 20, true);
    d.sample(said / 2, false); // no more than before the step, with more to send
    expect(d.round(said, true, true, RTT, OWDS, t + 2 * RTT)).toBe(0); // not yet
    expect(d.round(said, true, true, RTT, OWDS, t + 3 * RTT)).toBe(said / 2);
    expect(d.rttMs).toBe(0);
    expect(d.rttBase(8, 39)).toBe(8);
    expect(fall(d, said / 2, 50, true, t + 200).said).toBe(0);
    // The queue ends: a later one may be tried again.
    expect(d.round(10, false, true, RTT, OWDS, t + 1000)).toBe(0);
    expect(fall(d, 6000, 20, true, t + 1010).said).toBeGreaterThan(0);
  });

  test("a step that brings no more while no queue stands waits (the sender's limit, not the link's); a queue at it refutes it", () => {
    const d = new DelayRise();
    const { said, t } = fall(d, 6000, 20, true);
    d.sample(said / 2, false); // loaded, no more than before the step
    for (let k = 1; k < 20; k++) expect(d.round(said, false, true, RTT, OWDS, t + k * RTT)).toBe(0);
    expect(d.rttMs).toBe(RTT);
    expect(d.round(said, true, true, RTT, OWDS, t + 20 * RTT)).toBe(said / 2);
    expect(d.rttMs).toBe(0);
  });

  test("a step on a link with no more to send (application-limited samples only) waits: it is not judged", () => {
    const d = new DelayRise();
    const { said, t } = fall(d, 6000, 20, true);
    d.sample(said / 2, true);
    for (let k = 1; k < 20; k++) expect(d.round(said, true, true, RTT, OWDS, t + k * RTT)).toBe(0);
    expect(d.rttMs).toBe(RTT);
  });

  test("more than twice the cap in flight (a deep queue of ours draining): no try, however far the estimate fell", () => {
    expect(fall(new DelayRise(), 6000, 50, false).said).toBe(0);
  });
});
