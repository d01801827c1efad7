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
  /** Reorder buffer sizes to run the cell with: one job per cell, so that its bare links run once. */
  reorders: number[];
  durationMs: number;
  cc: CongestionControl;
}

const cells = allCells();
self.onmessage = (e: MessageEvent<Job>) => {
  const { index, reorders, durationMs, cc } = e.data;
  const results = reorders.map((reorder) => {
    const { cell: _, reorder: __, ...result } = runCell(cells[index]!, reorder, durationMs, cc);
    return result satisfies Result;
  });
  self.postMessage(results);
};
