/**
 * The aggregation sweep of issue 11 §2 on the deterministic simulator (docs/simulator.md): one
 * bulk TCP stream (CUBIC, tcpmodel.ts) through the tunnel's data plane (corepair.ts) on every
 * pair of links of the grid (sweepgrid.ts), with the reorder buffer at the guide's 64 and off,
 * beside the same TCP on each bare link alone. Each cell's floor (sweepgrid.ts): ≥ 85 % of the
 * sum × payload share by the worst 5 s (20+150 ms: or ≥ 1.3 × the best single link), trace cells
 * ≥ 80 % of the traces' mean sum and ≥ 1.2 × the best link, and never below the best single link.
 *
 * The cells that miss their floor on main's scheduler are listed below, each with the category of
 * why (WHY; docs/simulator.md "Known cells"). A listed cell must still miss, so that the lists
 * only shrink: a change that lifts a cell fails this test until the cell is taken off. After a
 * scheduler change, `MLVPN_SWEEP_PRINT=1 npx bun test test/sim/sweep.sim.test.ts` prints both
 * lists as they should now read, ready to paste (a cell new to a list gets the category its
 * class of cell suggests; check it).
 *
 * Constant-rate cells run in one direction: both ends run the same code over the same link
 * specs, so the other direction is the same computation (the second test checks it on a cell with
 * every feature). Trace cells replay each direction's own trace and run both ways.
 *
 * Cells run in two workers (sweepworker.ts): each is independent and CPU-bound.
 */
import { describe, expect, test } from "bun:test";
import { runTransfer } from "./corepair.ts";
import { allCells, type Cell, cellKey, type Result, row } from "./sweepgrid.ts";
import type { Job } from "./sweepworker.ts";

/** Virtual seconds per cell: judged by its worst 5 s window from 2 s on (4 windows). */
const DURATION_MS = 10_000;
const WORKERS = 2;
/** One cell's limit, wall clock: cells take 0.1-2 s here; a shared CI machine may be several times slower. */
const JOB_LIMIT_MS = 60_000;
const PRINT = process.env.MLVPN_SWEEP_PRINT === "1";
/** MLVPN_SWEEP_CC=bbr runs the grid with the lab's TCP instead (print mode only: the lists are CUBIC's). */
const CC = process.env.MLVPN_SWEEP_CC === "bbr" ? ("bbr" as const) : ("cubic" as const);

/**
 * Why a listed cell misses, by class of cell. What the simulator shows is stated as seen; a
 * cause not yet checked says "suspected" (docs/simulator.md "Known cells").
 */
const WHY = {
  satellite: "20+150 ms: since the rate train at link-up (Session 22, docs/scheduler.md \"A rate before the first round\") every 150 ms cell is at or above the best link at seed 1, and all but 50+50 Mbit/s with 1 % loss and the buffer off (1.14 x, 60 % of the sum) at their floor. Each loss on the 150 ms link costs CUBIC a window at a 300 ms RTT, so the lossy ones move from seed to seed (0.1-1.9 x: CUBIC stuck at about 60 packets after early losses, at seed 4). Before the train, 20+5 Mbit/s with the buffer off read 0.59 x (an early reordering left CUBIC's window on the plateau of its cubic curve for seconds); before Session 20's TCP model fix, the bare 30 Mbit/s 150 ms link read 6 Mbit/s",
  jitter: "30+30 ms ±10: both links carry data, the stream gets 6-59 % of the sum, and below the floor at seeds 1-6 too (not analysed on main)",
  "spread-off": "unequal delays, buffer off: the delay equaliser lines the links up without a buffer (PassThrough), so every lossless such cell is at or above the best link (before it: one link, 0.25-0.95 x); with 1 % loss on the slower link, 20+20 Mbit/s at 10+60 ms reads 72 % of the sum and 50+50 Mbit/s 0.62 x the best link (suspected: without a buffer nothing waits for the tunnel's resend of a packet lost on the slower link, so TCP sees each loss, at the equalised RTT; not analysed further). A loss on the nearer link is resent where it arrives first since Session 28 (resend-no-buffer.sim.test.ts), which left these cells as they were",
  spread: "unequal delays, buffer 64: no cell here since the delay equaliser (equaliser.ts), which put every such cell at 0.9-1 of the sum (before: 8+30 Mbit/s at 10+60 ms 84 %, 50+50 at 10+60 ms 0.96 x the best link); a cell that falls here again is new (not analysed)",
  loss: "1 % loss on the slower link while the lossless twin meets its floor: each repair still holds later packets for a round trip of the faster link (buffer 64) or reads as TCP reordering (off) (suspected). Since resends go before new data on their link (Session 28, resend-first.sim.test.ts) 20+20 Mbit/s at 10+10 ms reads 85-92 % at seeds 1-3 (was 80-84 %), at the floor's edge; off the list since the cap's headroom became a quarter of the RTT and 5 ms (Session 30)",
  equal: "equal delays, no loss, buffer off, 50+50 Mbit/s at 10+10 ms: 81 % (a link's share drifts to 58/42; not analysed)",
  "lte-pair": "two LTE traces: 47-62 % of the traces' mean, 0.70-0.95 x the best link; ATT's uplink holes (1-2 s of nothing while its downlink works) are stalls now, no longer resumed on the peer's packets (uplink-hole.sim.test.ts): was 27-47 %; what remains is not analysed",
  "adsl-att": "10 Mbit/s + ATT LTE (not a cell of the issue's grid; added in Session 19 after the lab found it): 0.72-0.85 x the fixed link alone (lab, CUBIC: 0.6-0.9 x; BBR 1.0-1.05 x). The ATT link carries 18-30 % of the packets at an RTT of 60-250 ms with holes of 1-2 s, and the stream's whole RTT follows it (reorder holds of 60-310 ms, the equaliser's lateness); cause of the steady loss between holes not established (docs/scheduler.md, \"Outside the grid\")",
  trace: "8 Mbit/s + Verizon LTE up, buffer off: 77 % of the traces' mean, 1.4 × the best link (not analysed)",
  several: "three or four links (not of the issue's grid: sweepgrid.ts severalLinkCells). At their floor at seed 1 since the rate train at link-up (Session 22). Before it: 10+20+30 Mbit/s at 10+20+40 ms, buffer off, 66 % of the sum (HyStart's ACK-train test ended the CUBIC stream's slow start at 111-158 packets 0.4 s in, where the sum needs 255, and the 30 Mbit/s link, given little meanwhile, left its own startup at 8.5 Mbit/s); 5+10+20+40 Mbit/s at 5/30/80/150 ms, 1.21-1.28 x the best link, under the 1.3 x floor of the 150 ms cells (docs/scheduler.md, \"Long paths\")",
} as const;
type Why = keyof typeof WHY;

/** At or above the best single link (by the worst 5 s; trace cells: the mean), below their floor. */
const KNOWN_BELOW_FLOOR: Record<string, Why> = {
  "50+50 Mbit/s 10+60 ms 1% loss rb 0": "spread-off",
  "50+50 Mbit/s 30+30 ms ±10 1% loss rb 64": "jitter",
  "20+20 Mbit/s 30+30 ms ±10 1% loss rb 0": "jitter",
  "Verizon LTE 25 ms + ATT LTE 35 ms down rb 64": "lte-pair",
  "Verizon LTE 25 ms + ATT LTE 35 ms down rb 0": "lte-pair",
};

/**
 * Below even the best single link: the "never below the best single link" is not met.
 * The test asserts that they stay below it, so that one that rises must move to
 * KNOWN_BELOW_FLOOR (or off both lists).
 */
const KNOWN_BELOW_BEST: Record<string, Why> = {
  "20+5 Mbit/s 30+30 ms ±10 1% loss rb 0": "jitter",
  "8+30 Mbit/s 30+30 ms ±10 1% loss rb 64": "jitter",
  "8+30 Mbit/s 30+30 ms ±10 1% loss rb 0": "jitter",
  "50+50 Mbit/s 20+150 ms 1% loss rb 0": "satellite",
  "50+50 Mbit/s 30+30 ms ±10 1% loss rb 0": "jitter",
  "10 Mbit/s 12 ms + ATT LTE 30 ms up rb 64": "adsl-att",
  "10 Mbit/s 12 ms + ATT LTE 30 ms up rb 0": "adsl-att",
  "10 Mbit/s 12 ms + ATT LTE 30 ms down rb 64": "adsl-att",
  "10 Mbit/s 12 ms + ATT LTE 30 ms down rb 0": "adsl-att",
  "Verizon LTE 25 ms + ATT LTE 35 ms up rb 64": "lte-pair",
  "Verizon LTE 25 ms + ATT LTE 35 ms up rb 0": "lte-pair",
};

/** The category a cell's class suggests (the print mode's choice for a cell new to a list). */
function suggest(cell: Cell, reorder: number, byKey: Map<string, Result>): Why {
  if (cell.links.length > 2) return "several";
  if (cell.trace) return cell.name.includes("Verizon") && cell.name.includes("ATT") ? "lte-pair" : cell.name.includes("ATT") ? "adsl-att" : "trace";
  if (cell.satellite) return "satellite";
  if (cell.jitter) return "jitter";
  const twin = cell.lossless && byKey.get(cellKey({ cell: { ...cell, name: cell.lossless }, reorder }));
  if (cell.loss && twin && twin.meetsFloor) return "loss";
  if (cell.spread) return reorder === 0 ? "spread-off" : "spread";
  return cell.loss ? "loss" : "equal";
}

function runAll(): Promise<Result[]> {
  // The cells of most packets (the highest rates) first, so that no long one is left for the end.
  const cells = allCells();
  const jobs: Job[] = cells.map((_, index) => ({ index, reorders: [64, 0], durationMs: DURATION_MS, cc: CC }));
  jobs.sort((a, b) => cells[b.index]!.capacity(0, DURATION_MS) - cells[a.index]!.capacity(0, DURATION_MS));
  const results: Result[] = [];
  return new Promise((resolve, reject) => {
    let next = 0;
    let finished = 0;
    const workers: Worker[] = [];
    const fail = (e: Error) => {
      for (const x of workers) x.terminate();
      next = jobs.length;
      reject(e);
    };
    for (let w = 0; w < WORKERS; w++) {
      const worker = new Worker(new URL("./sweepworker.ts", import.meta.url).href);
      workers.push(worker);
      let watchdog: ReturnType<typeof setTimeout> | undefined;
      const feed = () => {
        if (next < jobs.length) {
          const job = jobs[next++]!;
          worker.postMessage(job);
          // A cell takes a second or two: one that runs on is a loop in the simulated core that
          // never ends (the reorder buffer's livelock, cddac6f), which would hold npm test until
          // CI's time limit. The worker is stopped and the test fails naming the cell.
          watchdog = setTimeout(() => fail(new Error(`sweep: cell ${cells[job.index]!.name} did not finish within ${JOB_LIMIT_MS / 1000} s (a loop in the simulated core that never ends?)`)), JOB_LIMIT_MS);
        } else {
          worker.terminate();
          if (++finished === WORKERS) resolve(results);
        }
      };
      worker.onmessage = (e: MessageEvent<Result[]>) => {
        clearTimeout(watchdog);
        results.push(...e.data);
        feed();
      };
      worker.onerror = (e) => {
        clearTimeout(watchdog);
        fail(new Error(`sweep worker: ${e.message}`));
      };
      feed();
    }
  });
}

function summary(results: Result[]): string {
  const kinds = new Map<string, number[]>();
  for (const r of results) {
    const kind = r.key.includes("LTE") ? "trace" : r.key.includes("+150 ms") ? "a 150 ms link" : "constant";
    (kinds.get(kind) ?? kinds.set(kind, []).get(kind)!).push(r.efficiency);
  }
  return [...kinds]
    .map(([k, e]) => {
      e.sort((a, b) => a - b);
      return `${k}: min ${(e[0]! * 100).toFixed(0)} %, median ${(e[e.length >> 1]! * 100).toFixed(0)} % (${e.length} cells)`;
    })
    .join("; ");
}

/** Both lists as they should read after this run, as TypeScript to paste over the two above. */
function printLists(results: Result[], cells: Map<string, { cell: Cell; reorder: number }>): void {
  const byKey = new Map(results.map((r) => [r.key, r]));
  const why = (r: Result): Why => KNOWN_BELOW_FLOOR[r.key] ?? KNOWN_BELOW_BEST[r.key] ?? suggest(cells.get(r.key)!.cell, cells.get(r.key)!.reorder, byKey);
  const list = (name: string, rs: Result[]) => [`const ${name}: Record<string, Why> = {`, ...rs.map((r) => `  ${JSON.stringify(r.key)}: ${JSON.stringify(why(r))},`), "};"].join("\n");
  console.log(`\n// MLVPN_SWEEP_PRINT: the lists for this scheduler (${results.filter((r) => !r.meetsFloor).length} cells)`);
  console.log(list("KNOWN_BELOW_FLOOR", results.filter((r) => r.beatsBest && !r.meetsFloor)));
  console.log(list("KNOWN_BELOW_BEST", results.filter((r) => !r.beatsBest)));
}

describe("aggregation sweep (simulated, CUBIC, one stream)", () => {
  test("every cell meets its floor, or is listed as known below it", async () => {
    const started = performance.now();
    const results = await runAll();
    const cells = new Map(allCells().flatMap((cell) => [64, 0].map((reorder) => [cellKey({ cell, reorder }), { cell, reorder }] as const)));
    const order = new Map([...cells.keys()].map((k, i) => [k, i]));
    results.sort((a, b) => order.get(a.key)! - order.get(b.key)!);
    console.log(`  cell${" ".repeat(46)}  mean worst5s  eff.  ×best   rtx  data % per link   (Mbit/s; eff. and ×best: worst 5 s, traces: mean)`);
    for (const r of results) console.log(row(r));
    const floor = results.filter((r) => r.meetsFloor).length;
    const best = results.filter((r) => r.beatsBest).length;
    console.log(`${floor}/${results.length} cells meet their floor, ${best}/${results.length} the best single link; ${summary(results)}; ${((performance.now() - started) / 1000).toFixed(1)} s`);
    if (PRINT) printLists(results, cells);
    expect(results.length).toBe(cells.size);
    for (const k of [...Object.keys(KNOWN_BELOW_FLOOR), ...Object.keys(KNOWN_BELOW_BEST)]) expect(cells.has(k), `listed cell not in the grid: ${k}`).toBe(true);
    const wrong: string[] = [];
    for (const r of results) {
      if (r.key in KNOWN_BELOW_BEST) {
        if (r.beatsBest) wrong.push(`now at or above the best link: move to KNOWN_BELOW_FLOOR (or off the lists): ${row(r)}`);
      } else if (r.key in KNOWN_BELOW_FLOOR) {
        if (!r.beatsBest) wrong.push(`below the best single link: ${row(r)}`);
        else if (r.meetsFloor) wrong.push(`meets its floor now: take it off KNOWN_BELOW_FLOOR: ${row(r)}`);
      } else if (!r.meetsFloor) wrong.push(`below its floor: ${row(r)}`);
    }
    if (wrong.length > 0) console.log("The lists as they should read: MLVPN_SWEEP_PRINT=1 npx bun test test/sim/sweep.sim.test.ts");
    expect(wrong).toEqual([]);
  }, 600_000);

  test("a constant-rate cell is the same computation in both directions", () => {
    // Every feature that draws randomness or differs per link: unequal rates and delays, jitter, loss.
    const spec = (rateMbit: number, delayMs: number, loss: number) => ({ rateMbit, delayMs, jitterMs: 5, loss });
    const links = [
      { up: spec(20, 5, 0), down: spec(20, 5, 0) },
      { up: spec(8, 25, 0.01), down: spec(8, 25, 0.01) },
    ];
    const up = runTransfer({ links, download: false, durationMs: 3000, reorderSize: 64 });
    const down = runTransfer({ links, download: true, durationMs: 3000, reorderSize: 64 });
    expect(up.goodput100ms.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(down.goodput100ms).toEqual(up.goodput100ms);
    expect(down.retransmits).toBe(up.retransmits);
  }, 60_000);
});
