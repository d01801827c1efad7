/**
 * A worker of the simulator sweep (sweep.sim.test.ts): runs the cells it is sent, one at a time,
 * and answers with each outcome. Cells are CPU-bound and independent; the sweep spreads them
 * over a few workers so that it keeps its time budget on a shared machine.
 */
import { allCells, type Result, runCell } from "./sweepgrid.ts";
import type { CongestionControl } from "./tcpmodel.ts";

declare const self: Worker;

export interface Job {
  index: number;
  reorder: number;
  durationMs: number;
  cc: CongestionControl;
}

const cells = allCells();
self.onmessage = (e: MessageEvent<Job>) => {
  const { index, reorder, durationMs, cc } = e.data;
  const { cell: _, reorder: __, ...result } = runCell(cells[index]!, reorder, durationMs, cc);
  self.postMessage(result satisfies Result);
};
