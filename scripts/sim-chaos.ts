/**
 * A hunt for hangs and faults in the data plane: scenarios drawn at random (test/sim/chaos.ts:
 * 1-4 links of 0.3-300 Mbit/s or LTE traces, 0.1-300 ms, asymmetric, token buckets, jitter, loss,
 * and mid-run cuts of one link or all, flapping, delay jumps, capacity drops, one-way links; CUBIC
 * or BBR; reorder buffer 0, 64 or 256; up or down; 10-30 s), one TCP stream each through
 * corepair.ts, judged on robustness: the run ends (a wall-clock watchdog per scenario), the core
 * throws nothing, TCP still gets data through once a link is up again, no queue or buffer is
 * left full. One line per scenario, then a summary; the exit status is 1 if any failed.
 *
 *   bun scripts/sim-chaos.ts [--seed 1] [--count 100] [--workers 1] [--limit-s 90] [--json] [--scenario JSON] [--verbose]
 *
 * Scenario k is drawn from seed `--seed` + k alone: `--seed S --count 1` replays the one a report
 * names as seed S. `--scenario` runs one scenario given as JSON (a line's `json` with `--json`
 * printed, edited by hand to reduce it). `--workers 2` at most on a shared machine. `--verbose`
 * runs in this thread, without the watchdog, and prints each end's links, held packets and TCP's
 * state every 500 ms (to find a root cause).
 */
import { describeScenario, drawScenario, runScenario, type Scenario } from "../test/sim/chaos.ts";
import type { ChaosAnswer } from "../test/sim/chaosworker.ts";
import { number, option, readOptions, UsageError } from "./lab-args.ts";

interface Outcome {
  scenario: Scenario;
  status: string;
  line: string;
}

function main(): void {
  const argv = process.argv.slice(2);
  const opts = readOptions("sim-chaos", () => {
    const seed = number(option(argv, "--seed") ?? "1", "--seed");
    const count = number(option(argv, "--count") ?? "100", "--count");
    const workers = number(option(argv, "--workers") ?? "1", "--workers");
    const limitS = number(option(argv, "--limit-s") ?? "90", "--limit-s");
    const scenario = option(argv, "--scenario");
    const flag = (name: string) => (argv.includes(name) ? (argv.splice(argv.indexOf(name), 1), true) : false);
    const json = flag("--json");
    const verbose = flag("--verbose");
    if (argv.length > 0) throw new UsageError(`unknown argument ${JSON.stringify(argv[0])}`);
    if (count < 1 || !Number.isInteger(count)) throw new UsageError("--count: a whole number, at least 1");
    if (workers !== 1 && workers !== 2) throw new UsageError("--workers: 1 or 2");
    return { seed, count, workers, limitS, scenario, json, verbose };
  });
  const scenarios: Scenario[] = opts.scenario ? [JSON.parse(opts.scenario) as Scenario] : Array.from({ length: opts.count }, (_, k) => drawScenario(opts.seed + k));
  if (opts.verbose) {
    for (const s of scenarios) {
      console.log(`seed ${s.seed} :: ${describeScenario(s)}`);
      console.log(JSON.stringify(runScenario(s, console.log)));
    }
    return;
  }
  console.log(`sim-chaos: ${scenarios.length} scenario(s) from seed ${opts.seed}, ${opts.workers} worker(s), ${opts.limitS} s limit each`);
  const started = performance.now();
  const outcomes: Outcome[] = [];
  let next = 0;
  let running = 0;
  const start = () => {
    if (next >= scenarios.length) {
      if (running === 0) summary(outcomes, started);
      return;
    }
    const scenario = scenarios[next++]!;
    running++;
    const worker = new Worker(new URL("../test/sim/chaosworker.ts", import.meta.url).href);
    const done = (status: string, text: string) => {
      clearTimeout(watchdog);
      worker.terminate();
      const line = `${status.padEnd(5)} seed ${scenario.seed} ${text} :: ${describeScenario(scenario)}${opts.json || status !== "ok" ? `\n      json ${JSON.stringify(scenario)}` : ""}`;
      console.log(line);
      outcomes.push({ scenario, status, line });
      running--;
      start();
    };
    // A scenario takes 0.1-10 s: one that runs on is a loop in the simulated core (or the
    // simulator) that never ends. The worker is stopped and the scenario reported as a hang.
    const watchdog = setTimeout(() => done("HANG", `did not finish within ${opts.limitS} s`), opts.limitS * 1000);
    worker.onmessage = (e: MessageEvent<ChaosAnswer>) => {
      const a = e.data;
      if ("error" in a) done("THROW", `after ${(a.ms / 1000).toFixed(1)} s: ${a.error.replace(/\n/g, "\n      ")}`);
      else done(a.verdict.status === "ok" ? "ok" : a.verdict.status.toUpperCase(), `${(a.ms / 1000).toFixed(1)} s, tail ${a.verdict.tailMbit.toFixed(2)} Mbit/s, wake-ups ≤ ${a.verdict.maxWakeups}/100 ms; ${a.verdict.detail}`);
    };
    worker.onerror = (e) => done("THROW", `worker: ${e.message}`);
    worker.postMessage(scenario);
  };
  for (let w = 0; w < opts.workers; w++) start();
}

function summary(outcomes: Outcome[], started: number): void {
  const by = new Map<string, number>();
  for (const o of outcomes) by.set(o.status, (by.get(o.status) ?? 0) + 1);
  const bad = outcomes.filter((o) => o.status !== "ok");
  console.log(`\n${outcomes.length} scenarios in ${((performance.now() - started) / 1000).toFixed(0)} s: ${[...by].map(([k, v]) => `${v} ${k}`).join(", ")}`);
  if (bad.length > 0) console.log(`failed seeds: ${bad.map((o) => `${o.scenario.seed} (${o.status})`).join(", ")}`);
  process.exitCode = bad.length > 0 ? 1 : 0;
}

if (import.meta.main) main();
