/**
 * examples/: the configurations are valid as shipped, without a warning (read as text, the way
 * the root hook helper hands it over, so that the script's absence at its /etc path is not
 * checked here), and the status scripts are valid sh, clean under shellcheck. The lab
 * runs them for real in test/e2e/examples.e2e.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";

const EXAMPLES = join(import.meta.dir, "..", "..", "examples");
const SIDES = ["client", "server"] as const;
const shellcheck = Bun.which("shellcheck");
if (!shellcheck) console.log("examples.test.ts: skipping shellcheck: not installed (Debian package shellcheck)");

describe("examples/", () => {
  test.each(SIDES)("%s/mlvpn0.conf: valid, no warning", (side) => {
    const file = join(EXAMPLES, side, "mlvpn0.conf");
    const r = loadConfig(file, { checkOnly: true, text: readFileSync(file, "utf8") });
    expect(r.diagnostics).toEqual([]);
    expect(r.config?.general.mode).toBe(side);
    expect(r.config?.links.map((l) => l.name)).toEqual(["adsl1", "adsl2"]);
    expect(r.config?.general.statuscommand).toBe("/etc/mlvpn/mlvpn0_updown.sh");
  });

  test.each(SIDES)("%s/mlvpn0_updown.sh: sh -n and shellcheck", (side) => {
    const script = join(EXAMPLES, side, "mlvpn0_updown.sh");
    const n = Bun.spawnSync(["sh", "-n", script], { stderr: "pipe" });
    expect(n.stderr.toString()).toBe("");
    expect(n.exitCode).toBe(0);
    if (!shellcheck) return;
    const r = Bun.spawnSync([shellcheck, "-s", "sh", script], { stdout: "pipe", stderr: "pipe", timeout: 30_000 });
    expect(`${r.stdout}${r.stderr}`).toBe("");
    expect(r.exitCode).toBe(0);
  });

  test.each(SIDES)("%s/mlvpn0_updown.sh without arguments: usage on stderr, exit 1", (side) => {
    const r = Bun.spawnSync(["sh", join(EXAMPLES, side, "mlvpn0_updown.sh")], { stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(1);
    expect(r.stderr.toString()).toContain("usage:");
  });
});
