/**
 * Trace-driven pairs outside the sweep's grid, each against the best bare link: fixed links of
 * 4, 10, 20 and 8 Mbit/s at 8, 12, 5 and 30 ms beside ATT-LTE-driving-2016 or Verizon-LTE-short at
 * 25-60 ms, and the two LTE traces together; up and down, the reorder buffer at 64 and off, CUBIC
 * and BBR (136 runs of one TCP stream). Prints each run's goodput over the best bare link's and the
 * geometric mean (docs/scheduler.md, "A weak link beside a strong one"). No root needed; ~20 s.
 *
 *   bun scripts/sim-trace-grid.ts [--seed 1] [--seconds 20] [--cc cubic,bbr]
 * `--seed`: TCP's random draws (the traces are replayed as they are).
 */
import { fixedLink as fixed, type LinkPaths, runTransfer, traceLink as lte } from "../test/sim/corepair.ts";
import { number, option, readOptions, UsageError } from "./lab-args.ts";

const argv = process.argv.slice(2);
const parsed = <T>(read: () => T): T => readOptions("sim-trace-grid", read);
const seed = parsed(() => number(option(argv, "--seed") ?? "1", "--seed"));
const durationMs = parsed(() => number(option(argv, "--seconds") ?? "20", "--seconds")) * 1000;
const ccs = parsed(() =>
  (option(argv, "--cc") ?? "cubic,bbr").split(",").map((c) => {
    if (c !== "cubic" && c !== "bbr") throw new UsageError(`--cc: ${c} is not cubic or bbr`);
    return c;
  }),
);

const short = (name: string) => (name.startsWith("ATT") ? "ATT" : "VZ");

const cells: [string, () => LinkPaths[]][] = [];
for (const [t, td] of [["ATT-LTE-driving-2016", 30], ["Verizon-LTE-short", 25], ["ATT-LTE-driving-2016", 60], ["Verizon-LTE-short", 50]] as const) {
  for (const [r, d] of [[4, 8], [10, 12], [20, 5], [8, 30]] as const) cells.push([`${r}@${d}+${short(t)}@${td}`, () => [fixed(r, d), lte(t, td)]]);
}
cells.push(["VZ@25+ATT@35", () => [lte("Verizon-LTE-short", 25), lte("ATT-LTE-driving-2016", 35)]]);

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
let logSum = 0;
let runs = 0;
let below = 0;
for (const cc of ccs) {
  for (const [name, make] of cells) {
    for (const download of [false, true]) {
      const bare = make().map((_, i) => mean(runTransfer({ links: [make()[i]!], download, durationMs, reorderSize: 0, bare: true, cc, seed }).goodput100ms));
      const best = Math.max(...bare);
      for (const reorderSize of [64, 0]) {
        const goodput = mean(runTransfer({ links: make(), download, durationMs, reorderSize, cc, seed }).goodput100ms);
        const ratio = goodput / best;
        logSum += Math.log(ratio);
        runs++;
        if (ratio < 1) below++;
        console.log(`${cc} ${name} ${download ? "down" : "up"} rb${reorderSize}: ${goodput.toFixed(2)} / best ${best.toFixed(2)} = ${ratio.toFixed(2)}`);
      }
    }
  }
}
console.log(`geometric mean ${Math.exp(logSum / runs).toFixed(3)} x the best bare link; ${below} of ${runs} runs below it`);
