/** Strict type checking of src/, test/ and scripts/ is part of the test suite. */
import { expect, test } from "bun:test";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");

test("tsc --noEmit reports no type errors", () => {
  const r = Bun.spawnSync([join(ROOT, "node_modules", ".bin", "tsc"), "--noEmit", "-p", ROOT], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  expect(`${r.stdout}${r.stderr}`).toBe("");
  expect(r.exitCode).toBe(0);
}, 60_000);
