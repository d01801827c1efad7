import { describe, expect, test } from "bun:test";
import { QUEUE_DELAY_MS, queueRoomMs } from "../../src/core/standingqueue.ts";

describe("the queue a link may hold before a standing queue is refused (standingqueue.ts queueRoomMs)", () => {
  test("a full link: the slower link's one-way delay when delays differ, at least QUEUE_DELAY_MS", () => {
    expect(queueRoomMs(false, 10, 10)).toBe(QUEUE_DELAY_MS);
    expect(queueRoomMs(false, 5, 12)).toBe(QUEUE_DELAY_MS);
    expect(queueRoomMs(false, 5, 60)).toBe(60);
  });

  test("a link whose estimate lags gets more room than a full one, never less (a slower link 150 ms away too)", () => {
    for (const [minOwd, maxOwd] of [[10, 10], [5, 12], [5, 60], [20, 150], [1, 300]] as const) {
      expect(queueRoomMs(true, minOwd, maxOwd)).toBeGreaterThanOrEqual(queueRoomMs(false, minOwd, maxOwd));
      expect(queueRoomMs(true, minOwd, maxOwd)).toBeGreaterThan(QUEUE_DELAY_MS);
    }
    expect(queueRoomMs(true, 20, 150)).toBe(150);
  });
});
