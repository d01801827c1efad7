/**
 * The runtime's settings (src/io/runtime-env.ts): a process without them executes itself again,
 * same pid and arguments, with them added; one given by the operator is kept; MLVPN_RUNTIME_ENV=0
 * turns it off.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { missingRuntimeEnv, RUNTIME_ENV } from "../../src/io/runtime-env.ts";

const FIXTURE = join(import.meta.dir, "runtime-env.fixture.ts");

function run(env: Record<string, string | undefined>): string[] {
  const clean = { ...process.env };
  for (const k of Object.keys(RUNTIME_ENV)) delete clean[k];
  delete clean.MLVPN_RUNTIME_ENV;
  const r = Bun.spawnSync([process.execPath, FIXTURE, "a b", "é"], { env: { ...clean, ...env }, stdout: "pipe", stderr: "pipe" });
  expect(r.exitCode).toBe(0);
  return r.stdout.toString().trim().split("\n");
}

test("missing settings: the same process (pid) runs again with them, arguments byte for byte", () => {
  const lines = run({});
  expect(lines).toHaveLength(3);
  const pid = /^pid (\d+) /.exec(lines[0]!)?.[1];
  expect(lines[0]).toBe(`pid ${pid} jit undefined args a b,é`);
  expect(lines[1]).toBe(`pid ${pid} jit ${RUNTIME_ENV.BUN_JSC_thresholdForJITAfterWarmUp} args a b,é`);
  expect(lines[2]).toBe("running");
});

test("a value given by the operator is kept, and nothing is executed again when none is missing", () => {
  // One of them given another value, the others missing: executed again, that one kept.
  const lines = run({ BUN_JSC_thresholdForJITAfterWarmUp: "25" });
  expect(lines).toEqual([expect.stringMatching(/ jit 25 args a b,é$/), expect.stringMatching(/ jit 25 args a b,é$/), "running"]);
  // All there: not executed again.
  expect(run({ ...RUNTIME_ENV, BUN_JSC_thresholdForJITAfterWarmUp: "25" })).toEqual([expect.stringMatching(/ jit 25 args a b,é$/), "running"]);
});

test("MLVPN_RUNTIME_ENV=0 turns it off", () => {
  expect(run({ MLVPN_RUNTIME_ENV: "0" })).toEqual([expect.stringMatching(/ jit undefined /), "running"]);
  expect(missingRuntimeEnv({ MLVPN_RUNTIME_ENV: "0" })).toBeUndefined();
  expect(missingRuntimeEnv({ PATH: "/bin" }, { A: "1" })).toEqual({ PATH: "/bin", A: "1" });
  expect(missingRuntimeEnv({ A: "2" }, { A: "1" })).toBeUndefined();
});
