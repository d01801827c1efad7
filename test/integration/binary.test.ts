/**
 * The compiled binary, built the way users get it (`npm run build` → dist/mlvpn), run as a
 * separate process: version, `--check` of the guide's configs, error exits without stack traces.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");
const BIN = join(ROOT, "dist", "mlvpn");
const FIXTURES = join(ROOT, "test", "fixtures");

function mlvpn(...args: string[]) {
  const r = Bun.spawnSync([BIN, ...args], { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

beforeAll(() => {
  const r = Bun.spawnSync([process.execPath, join(ROOT, "scripts", "build.ts")], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`build failed: ${r.stderr.toString()}`);
}, 120_000);

describe("dist/mlvpn", () => {
  test("--version", async () => {
    const pkg = await Bun.file(join(ROOT, "package.json")).json();
    expect(mlvpn("--version")).toEqual({ code: 0, stdout: `mlvpn version ${pkg.version}.\n`, stderr: "" });
  });

  test.each(["client.conf", "server.conf", "client.toml", "server.toml"])("-t -c %s prints the normalized config, password redacted", (name) => {
    const r = mlvpn("-t", "-c", join(FIXTURES, name));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("password = <redacted>");
    expect(r.stdout).toContain("[adsl1]");
    expect(r.stdout).toContain("[adsl2]");
    expect(r.stdout + r.stderr).not.toContain("you have not changed me yet?");
    expect(r.stdout + r.stderr).not.toContain("pleasechangeme!");
  });

  test("an invalid config: exit 1, readable lines, no stack trace", () => {
    const r = mlvpn("-t", "-c", "/nonexistent.conf");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("/nonexistent.conf: error: cannot read the configuration: no such file");
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  test("embeds the status page's script, src/control/page-script.js, whole (served at GET /: test/e2e/statuspage.e2e.test.ts)", () => {
    const script = readFileSync(join(ROOT, "src", "control", "page-script.js"), "utf8");
    expect(script.length).toBeGreaterThan(1000);
    // Bun keeps the bundle's source in the binary, as UTF-16 when it holds characters beyond Latin-1 (the page's "…" and "−").
    const bin = readFileSync(BIN);
    expect(Math.max(bin.indexOf(Buffer.from(script, "utf8")), bin.indexOf(Buffer.from(script, "utf16le")))).toBeGreaterThan(0);
  });

  test("a usage error: exit 2", () => {
    expect(mlvpn("--nope").code).toBe(2);
  });

  test("the hidden --hook-helper mode is an unknown option unless a running mlvpn started it", () => {
    // stdin is a pipe here, and as root in CI: still refused, the parent is not dist/mlvpn.
    const r = Bun.spawnSync([BIN, "--hook-helper", join(FIXTURES, "client.conf"), "ini", "mlvpn0", "1432"], { stdin: "pipe", stdout: "pipe", stderr: "pipe", timeout: 10_000 });
    expect(r.exitCode).toBe(2);
    expect(r.stderr.toString()).toContain("mlvpn: unknown option --hook-helper");
  });
});
