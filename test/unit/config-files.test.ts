/** File checks at start-up: the config's own permissions and the status script's. */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runMain, tempDir, writeConfig } from "../helpers/run.ts";
import { reportSkip } from "../helpers/skip.ts";

const { dir, cleanup } = tempDir();
afterAll(cleanup);

const isRoot = process.getuid?.() === 0;
reportSkip(import.meta.file, "the status-script ownership test", isRoot ? null : "changing a file's owner needs root");

function script(name: string, mode: number, uid?: number): string {
  const file = join(dir, name);
  writeFileSync(file, "#!/bin/sh\nexit 0\n");
  chmodSync(file, mode);
  if (uid !== undefined) chownSync(file, uid, 0);
  return file;
}

function configWith(statuscommand: string): string {
  return writeConfig(dir, `c-${Math.random().toString(36).slice(2)}.conf`, `[general]\nmode = "client"\npassword = "Zr5cN0tQ2bW9eYx1Ks8uHa"\nstatuscommand = "${statuscommand}"\n[a]\nremotehost = "10.0.0.1"\nremoteport = 5080\n`);
}

describe("statuscommand checks (like C, plus ownership)", () => {
  test("0700 and owned by the running user: accepted without warning", async () => {
    const r = await runMain(["-t", "-c", configWith(script("ok.sh", 0o700))]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
  });

  test("not executable by its owner", async () => {
    const file = configWith(script("noexec.sh", 0o600));
    const r = await runMain(["-c", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:4: error: [general] statuscommand: ${dir}/noexec.sh is not executable by its owner (mode 0600): run chmod 700`);
  });

  test("group/other bits refuse to start; --check only warns", async () => {
    const file = configWith(script("open.sh", 0o755));
    const run = await runMain(["-c", file]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${file}:4: error: [general] statuscommand: ${dir}/open.sh is accessible by group or others (mode 0755) and runs as root: run chmod 700`);
    const check = await runMain(["-t", "-c", file]);
    expect(check.code).toBe(0);
    expect(check.stderr).toContain(`${file}:4: warning: [general] statuscommand:`);
  });

  test.skipIf(!isRoot)("owned by someone else (needs root to chown; skipped otherwise)", async () => {
    const file = configWith(script("foreign.sh", 0o700, 4242));
    const r = await runMain(["-c", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`is owned by uid 4242; it must be owned by root or by the user running mlvpn`);
  });
});

describe("config file permissions", () => {
  test("0640 refuses to start with the chmod to run; --check warns and exits 0", async () => {
    const file = writeConfig(dir, "open.conf", '[general]\nmode = "server"\npassword = "pw"\n[a]\nbindport = 5080\n', 0o640);
    const run = await runMain(["-c", file]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${file}: error: is accessible by group or others (mode 0640) and holds the password: run chmod 600 ${file}`);
    const check = await runMain(["-t", "-c", file]);
    expect(check.code).toBe(0);
    expect(check.stderr).toContain(`${file}: warning: is accessible by group or others (mode 0640)`);
  });
});
