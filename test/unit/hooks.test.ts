/** The statuscommand runner: C MLVPN's argv and environment, in order, asynchronous, time-limited. */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HookRunner } from "../../src/io/hooks.ts";
import { createLogger } from "../../src/log.ts";
import { tempDir } from "../helpers/run.ts";

const { dir, cleanup } = tempDir();
afterAll(cleanup);

function script(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o700);
  return file;
}

function logger() {
  const lines: string[] = [];
  return { lines, log: createLogger({ verbosity: 2, debugTokens: [], write: (l) => lines.push(l) }) };
}

const ENV = { IP4: "10.0.0.2/30", IP6: "", IP4_GATEWAY: "10.0.0.1", IP6_GATEWAY: "", IP4_ROUTES: "0.0.0.0/1 128.0.0.0/1", IP6_ROUTES: "", DEVICE: "mlvpn0", MTU: "1432" };

test("arguments, environment and order are those of the C MLVPN; nothing else leaks in", async () => {
  const out = join(dir, "calls.log");
  const s = script("record.sh", `echo "$# $1 $2 $3 | $DEVICE $MTU $IP4 [$IP4_ROUTES] $IP4_GATEWAY | HOME=$HOME" >> ${out}; sleep 0.05`);
  const { lines, log } = logger();
  const hooks = new HookRunner(s, ENV, log);
  process.env.MLVPN_TEST_SECRET = "must not leak";
  hooks.run(["mlvpn0", "rtun_up", "adsl1"]);
  hooks.run(["mlvpn0", "tuntap_up"]);
  hooks.run(["mlvpn0", "rtun_down", "adsl1"]);
  await hooks.idle();
  expect(readFileSync(out, "utf8").trim().split("\n")).toEqual([
    "3 mlvpn0 rtun_up adsl1 | mlvpn0 1432 10.0.0.2/30 [0.0.0.0/1 128.0.0.0/1] 10.0.0.1 | HOME=",
    "2 mlvpn0 tuntap_up  | mlvpn0 1432 10.0.0.2/30 [0.0.0.0/1 128.0.0.0/1] 10.0.0.1 | HOME=",
    "3 mlvpn0 rtun_down adsl1 | mlvpn0 1432 10.0.0.2/30 [0.0.0.0/1 128.0.0.0/1] 10.0.0.1 | HOME=",
  ]);
  expect(lines.filter((l) => l.includes("exit 0")).length).toBe(3);
});

test("run() returns at once: scripts never block the caller", async () => {
  // The script waits (at most 10 s) for a file that the test writes only after run() returned:
  // had run() waited for the script, the file would never come and the script would say so.
  // A readiness signal rather than a time bound, which a busy machine could miss.
  const go = join(dir, "go");
  const out = join(dir, "released");
  const hooks = new HookRunner(script("gated.sh", `i=0; while [ ! -e ${go} ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; [ -e ${go} ] && echo released > ${out}`), ENV, logger().log, 20_000);
  hooks.run(["mlvpn0", "tuntap_up"]);
  writeFileSync(go, "");
  await hooks.idle();
  expect(readFileSync(out, "utf8")).toBe("released\n");
}, 15_000);

test("a failing script's exit status is logged as a warning", async () => {
  const { lines, log } = logger();
  const hooks = new HookRunner(script("fail.sh", "exit 3"), ENV, log);
  hooks.run(["mlvpn0", "rtun_up", "lte"]);
  await hooks.idle();
  expect(lines.join("")).toMatch(/\[WARN\] statuscommand rtun_up lte: exit 3/);
});

test("a script running past the limit is killed and the queue goes on", async () => {
  const { lines, log } = logger();
  const hooks = new HookRunner(script("hang.sh", "exec sleep 30"), ENV, log, 200);
  hooks.run(["mlvpn0", "rtun_up", "a"]);
  hooks.run(["mlvpn0", "rtun_up", "b"]);
  const t0 = performance.now();
  await hooks.idle();
  expect(performance.now() - t0).toBeLessThan(5000);
  expect(lines.filter((l) => l.includes("killed")).length).toBe(2);
});

test("no script configured: nothing runs, idle() resolves", async () => {
  const hooks = new HookRunner(undefined, ENV, logger().log);
  hooks.run(["mlvpn0", "tuntap_up"]);
  await hooks.idle();
});
