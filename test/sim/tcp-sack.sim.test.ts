/**
 * The simulated TCP receiver's SACK blocks (tcpmodel.ts), as Linux's: the ranges held out of
 * order, the most recently changed first, four kept and three sent (two beside a DSACK). Each
 * out-of-order segment used to be reported in one ACK only, so a lost ACK lost its SACK for
 * good and the sender (RACK) took segments that had arrived for lost: over the thin uplinks of a
 * download (random pairs --asymmetric), where the bottlenecks drop acknowledgements, the
 * simulated TCP retransmitted thousands of segments that had arrived (docs/scheduler.md,
 * "Asymmetric links").
 */
import { expect, test } from "bun:test";
import { type AckRecord, TcpReceiver } from "./tcpmodel.ts";

test("every ACK repeats the SACK blocks, so one lost ACK loses nothing the next does not say", () => {
  const acks: AckRecord[] = [];
  const r = new TcpReceiver(1380, 1000, (a) => acks.push({ ...a, sacks: [...a.sacks] }));
  r.onSegment(0, 0);
  r.onSegment(2, 1); // hole at 1
  r.onSegment(3, 2);
  r.onSegment(4, 3);
  expect(acks.map((a) => a.sacks)).toEqual([[2, 3], [2, 4], [2, 5]]);
  // Say the ACK of 3 was lost: the next one still covers it.
  r.onSegment(7, 4); // another hole, 5-6: its block goes first
  expect(acks.at(-1)).toEqual({ cum: 1, sacks: [7, 8, 2, 5], dsack: false });
  r.onSegment(6, 5); // extends 7's block down, which stays first
  expect(acks.at(-1)!.sacks).toEqual([6, 8, 2, 5]);
  r.onSegment(3, 6); // a duplicate: a DSACK, and the blocks still fit beside it
  expect(acks.at(-1)).toEqual({ cum: 1, sacks: [6, 8, 2, 5], dsack: true });
  r.onSegment(5, 7); // fills 5: the two blocks merge
  expect(acks.at(-1)!.sacks).toEqual([2, 8]);
  r.onSegment(1, 8); // fills the first hole: everything to 8 is acknowledged, no block left
  expect(acks.at(-1)).toEqual({ cum: 8, sacks: [], dsack: false });
});

test("four blocks are kept and three sent, the oldest dropped first", () => {
  const acks: AckRecord[] = [];
  const r = new TcpReceiver(1380, 1000, (a) => acks.push({ ...a, sacks: [...a.sacks] }));
  for (const [i, seq] of [2, 4, 6, 8, 10].entries()) r.onSegment(seq, i);
  expect(acks.at(-1)!.sacks).toEqual([10, 11, 8, 9, 6, 7]);
  r.onSegment(6, 6); // a duplicate: two blocks beside the DSACK
  expect(acks.at(-1)).toEqual({ cum: 0, sacks: [10, 11, 8, 9], dsack: true });
  // 2's block was dropped for 10's (four kept); 5 joins 6's block and 4's, which goes first.
  r.onSegment(5, 7);
  expect(acks.at(-1)!.sacks).toEqual([4, 7, 10, 11, 8, 9]);
});
