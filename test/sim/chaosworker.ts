/**
 * A worker of the chaos runs (scripts/sim-chaos.ts, chaos.sim.test.ts): runs the scenario it is
 * sent and answers with the verdict, or with what the core threw. In a worker so that the parent
 * can stop a run that never ends (a loop in the core) and report its seed.
 */
import { runScenario, type Scenario, type Verdict } from "./chaos.ts";

declare const self: Worker;

export type ChaosAnswer = { verdict: Verdict; ms: number } | { error: string; ms: number };

self.onmessage = (e: MessageEvent<Scenario>) => {
  const started = performance.now();
  let answer: ChaosAnswer;
  try {
    answer = { verdict: runScenario(e.data), ms: performance.now() - started };
  } catch (err) {
    answer = { error: err instanceof Error ? (err.stack ?? err.message) : String(err), ms: performance.now() - started };
  }
  self.postMessage(answer);
};
