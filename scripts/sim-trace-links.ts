/**
 * Trace-driven links in the simulator, outside the sweep's judging: one TCP stream through the
 * tunnel's data plane (test/sim/corepair.ts) over a pair of links and over each link alone,
 * beside the same TCP on each bare link, up and down, with the reorder buffer at 64 and off.
 * For asking where a trace cell loses (docs/scheduler.md, "Outside the grid"); no root needed.
 *
 *   bun scripts/sim-trace-links.ts [--cc cubic|bbr] [--seconds 20] [--seed 1] [--pairs 10+ATT,8+VZ,VZ+ATT]
 * A pair may also be written as the lab sweep's cells outside the grid are (`--pairs
 * 15@40+15@80l2,ATT-LTE-driving-2016@30+10@12`): each link RATE@DELAY or TRACE@DELAY, then
 * jJITTER and lLOSS (%); up to four links (`8@10+20@25+30@40`). `--seed`: the loss, jitter and
 * TCP's random draws. `--bucket-ms N`: each constant-rate link of such a pair behind a token bucket
 * of one frame plus N ms of tokens, as the lab's htb (10).
 *
 * Prints per case the goodput (Mbit/s, mean over the transfer), TCP's retransmissions, the
 * segments received twice and the tunnel's drops by reason; the traces' mean capacity over the
 * same span is shown beside each pair.
 */
import { fixedLink as fixed, type LinkPaths, runTransfer, traceLink as lte, WARMUP_MS } from "../test/sim/corepair.ts";
import { bucketBytes, type PathSpec, Trace } from "../test/sim/pathmodel.ts";
import type { UplinkShape } from "../test/lab/topology.ts";
import { customCell } from "./bench-sweep.ts";
import { number, option, readOptions } from "./lab-args.ts";

const argv = process.argv.slice(2);
/** Exits with a usage error rather than running with a value read as a default (a missing or non-numeric one). */
const parsed = <T>(read: () => T): T => readOptions("sim-trace-links", read);
const cc = parsed(() => option(argv, "--cc") ?? "cubic") === "bbr" ? ("bbr" as const) : ("cubic" as const);
const durationMs = parsed(() => number(option(argv, "--seconds") ?? "20", "--seconds")) * 1000;
const seed = parsed(() => number(option(argv, "--seed") ?? "1", "--seed"));
/** A token bucket on every constant-rate path, as the lab's htb: one frame plus this many ms of tokens. */
const bucketMs = parsed(() => number(option(argv, "--bucket-ms") ?? "0", "--bucket-ms"));

const PAIRS: Record<string, () => LinkPaths[]> = {
  "10+ATT": () => [fixed(10, 12), lte("ATT-LTE-driving-2016", 30)],
  "8+VZ": () => [fixed(8, 15), lte("Verizon-LTE-short", 25)],
  "VZ+ATT": () => [lte("Verizon-LTE-short", 25), lte("ATT-LTE-driving-2016", 35)],
};
/** A pair in the lab sweep's notation (scripts/bench-sweep.ts customCell: `12@3+40@25l2`, `ATT-LTE-driving-2016@30+10@12`). */
function specPair(spec: string): (() => LinkPaths[]) | undefined {
  const cell = customCell(spec);
  if (!cell) return undefined;
  const path = (u: UplinkShape, dir: "up" | "down"): PathSpec => ({
    ...(u.trace ? { trace: Trace.bench(`${u.trace}.${dir}`) } : { rateMbit: u.rateMbit, ...(bucketMs > 0 ? { burstBytes: bucketBytes(u.rateMbit!, bucketMs) } : {}) }),
    delayMs: u.delayMs ?? 0,
    ...(u.jitterMs ? { jitterMs: u.jitterMs } : {}),
    ...(u.lossPct ? { loss: u.lossPct / 100 } : {}),
  });
  return () => cell.links.map((u) => ({ up: path(u, "up"), down: path(u, "down") }));
}

const names = parsed(() => option(argv, "--pairs") ?? Object.keys(PAIRS).join(",")).split(",");
for (const n of names) {
  const p = PAIRS[n] ?? specPair(n);
  if (!p) {
    console.error(`sim-trace-links: unknown pair ${n} (pairs: ${Object.keys(PAIRS).join(", ")}, or RATE@DELAY / TRACE@DELAY links as in --sweep --cells: 12@3+40@25l2)`);
    process.exit(2);
  }
  PAIRS[n] = p;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
// corepair.ts starts TCP after WARMUP_MS of keepalives, the traces at 0.
const capacity = (s: PathSpec) => (s.trace ? s.trace.meanMbit(WARMUP_MS, WARMUP_MS + durationMs) : s.rateMbit!);

function run(links: LinkPaths[], download: boolean, reorderSize: number, bare = false): string {
  const r = runTransfer({ links, download, durationMs, reorderSize, bare, cc, seed });
  const drops = [...r.drops].map(([k, v]) => `${k} ${v}`).join(", ");
  return `${mean(r.goodput100ms).toFixed(2)} (rtx ${r.retransmits}${r.duplicates ? `, twice ${r.duplicates}` : ""}${drops ? `, ${drops}` : ""})`;
}

console.log(`${cc}, ${durationMs / 1000} s per transfer, Mbit/s`);
for (const name of names) {
  const links = PAIRS[name]!();
  for (const download of [false, true]) {
    const caps = links.map((l) => capacity(download ? l.down : l.up));
    console.log(`${name} ${download ? "down" : "up"}: capacity ${caps.map((c) => c.toFixed(2)).join(" + ")}`);
    console.log(`  pair, buffer 64: ${run(links, download, 64)}; buffer off: ${run(links, download, 0)}`);
    links.forEach((l, i) => console.log(`  link ${i + 1} alone: tunnel ${run([l], download, 0)}; bare ${run([l], download, 0, true)}`));
  }
}
