/**
 * The self-unpacking router file (scripts/pack.ts + scripts/pack/stub.sh).
 *
 * The stub's logic is exercised with a small shell program as the payload (fast, and it can
 * report its arguments, pid and signals); then dist/mlvpn itself is packed (xz level 0 to keep
 * the test quick: the stub is the same at every level) and run as users run it. The same stub
 * also runs under busybox alone (PATH holding only busybox's applets), as on OpenWrt.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pack } from "../../scripts/pack.ts";

const ROOT = join(import.meta.dir, "..", "..");
const work = mkdtempSync(join(tmpdir(), "mlvpn-packed-"));
const isRoot = process.getuid?.() === 0;
const busybox = Bun.which("busybox");

const FAKE = `#!/bin/sh
# Stands in for mlvpn: prints what it was given, and how it ends on SIGTERM.
trap 'echo "got TERM"; exit 42' TERM
echo "pid:$$"
for a in "$@"; do echo "[$a]"; done
case "$1" in
  wait) echo ready; i=0; while [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done ;;
  exit) exit "$2" ;;
esac
exit 0
`;
let fakePacked = "";
let fakeSha = "";

function run(cmd: string[], env: Record<string, string> = {}) {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, timeout: 60_000 });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString(), pid: r.pid };
}

function unpackedIn(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

beforeAll(() => {
  const fake = join(work, "fake");
  writeFileSync(fake, FAKE);
  chmodSync(fake, 0o755);
  const r = pack(fake, join(work, "fake-packed"), "test");
  fakePacked = r.out;
  fakeSha = r.sha256;
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the stub, with a small program as payload", () => {
  test("passes every argument unchanged, execs (same pid) and passes the exit status; wrapper options are removed", () => {
    const dir = join(work, "args");
    const r = run([fakePacked, "exit", "7", "two words", "", "--unpack-dir", dir, "-c", "x.conf"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(7);
    expect(r.out).toBe(`pid:${r.pid}\n[exit]\n[7]\n[two words]\n[]\n[-c]\n[x.conf]\n`);
    const after = run([fakePacked, `--unpack-dir=${dir}`, "--", "--unpack-dir", "kept"]);
    expect(after.out).toContain("[--]\n[--unpack-dir]\n[kept]\n");
  });

  test("signals reach the program: SIGTERM to the pid the caller started", async () => {
    const dir = join(work, "signals");
    const p = Bun.spawn([fakePacked, "wait", "--unpack-dir", dir], { stdout: "pipe", stderr: "pipe" });
    const reader = p.stdout.getReader();
    let text = "";
    const until = performance.now() + 20_000;
    while (!text.includes("ready") && performance.now() < until) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain(`pid:${p.pid}\n`);
    p.kill("SIGTERM");
    expect(await p.exited).toBe(42);
  }, 30_000);

  test("unpacks once, reuses the file later, and unpacks again a damaged or truncated copy", () => {
    const dir = join(work, "reuse");
    expect(run([fakePacked, "--unpack-dir", dir]).code).toBe(0);
    const files = unpackedIn(dir);
    expect(files).toEqual([`mlvpn-0.1.0-test-${fakeSha.slice(0, 12)}`.replace("0.1.0", JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version)]);
    const file = join(dir, files[0]!);
    expect((statSync(file).mode & 0o777).toString(8)).toBe("700");
    expect((statSync(dir).mode & 0o777).toString(8)).toBe("700");
    const first = statSync(file).ino;
    expect(run([fakePacked, "--unpack-dir", dir]).code).toBe(0);
    expect(statSync(file).ino).toBe(first);

    writeFileSync(file, FAKE.replace("exit 0", "exit 9")); // altered
    chmodSync(file, 0o700);
    const r = run([fakePacked, "--unpack-dir", dir]);
    expect(r.code).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(FAKE);

    writeFileSync(file, FAKE.slice(0, 20)); // a partial copy
    expect(run([fakePacked, "--unpack-dir", dir]).code).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(FAKE);
    expect(unpackedIn(dir)).toEqual(files);
  });

  test("twelve first starts at once: all run, one file, no temporary file left", async () => {
    const dir = join(work, "race");
    const procs = Array.from({ length: 12 }, () => Bun.spawn([fakePacked, "exit", "3", "--unpack-dir", dir], { stdout: "pipe", stderr: "pipe" }));
    const codes = await Promise.all(procs.map((p) => p.exited));
    const errs = await Promise.all(procs.map((p) => new Response(p.stderr).text()));
    expect(errs.filter(Boolean)).toEqual([]);
    expect(codes).toEqual(Array(12).fill(3));
    expect(unpackedIn(dir)).toHaveLength(1);
    expect(readFileSync(join(dir, unpackedIn(dir)[0]!), "utf8")).toBe(FAKE);
  }, 60_000);

  test("default place: $XDG_RUNTIME_DIR/mlvpn-unpacked-UID; a copy of an older version there is removed", () => {
    const xdg = join(work, "xdg");
    mkdirSync(xdg, { mode: 0o700 });
    const dir = join(xdg, `mlvpn-unpacked-${process.getuid?.()}`);
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, "mlvpn-0.0.1-test-000000000000"), "old");
    writeFileSync(join(dir, "mlvpn-0.0.1-linux-x64-000000000000"), "another target: kept");
    const r = run([fakePacked, "--unpack-only"], { XDG_RUNTIME_DIR: xdg });
    expect(r.code).toBe(0);
    expect(r.out.trim().startsWith(`${dir}/mlvpn-`)).toBe(true);
    expect(unpackedIn(dir)).toEqual(["mlvpn-0.0.1-linux-x64-000000000000", r.out.trim().slice(dir.length + 1)].sort());
  });

  test("refuses a directory writable by others, or a symlink, with a clear message", () => {
    const open = join(work, "open");
    mkdirSync(open);
    chmodSync(open, 0o777);
    const r = run([fakePacked, "--unpack-dir", open]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`mlvpn: ${open} is writable by others: not used`);
    expect(r.err).toContain(`mlvpn: cannot unpack into ${open}`);
    const link = join(work, "link");
    symlinkSync(join(work, "reuse"), link);
    const s = run([fakePacked, "--unpack-dir", link]);
    expect(s.code).toBe(1);
    expect(s.err).toContain("is a symlink or not owned by uid");
    expect(run([fakePacked, "--unpack-dir"]).code).toBe(2);
  });

  test.skipIf(!isRoot)("as root: a directory owned by another user is refused; a noexec tmpfs is skipped for the next place", () => {
    const theirs = join(work, "theirs");
    mkdirSync(theirs, { mode: 0o700 });
    Bun.spawnSync(["chown", "65534", theirs]);
    const r = run([fakePacked, "--unpack-dir", theirs]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("not owned by uid 0");
    // A private mount namespace, so that the noexec tmpfs exists for this command only.
    const base = join(work, "noexec");
    mkdirSync(base);
    const n = run(["unshare", "-m", "sh", "-c", `mount -t tmpfs -o noexec none '${base}' && '${fakePacked}' --unpack-dir '${base}/x'`]);
    expect(n.code).toBe(1);
    expect(n.err).toContain(`${base}/x does not allow running programs (mounted noexec?)`);
  });

  test.skipIf(!busybox)("runs with busybox alone (sh, tail, unxz, sha256sum…), as on OpenWrt", () => {
    const bin = join(work, "busybox-bin");
    mkdirSync(bin);
    for (const applet of ["sh", "tail", "unxz", "sha256sum", "mkdir", "chmod", "mv", "rm", "ls", "id", "printf", "cat"]) symlinkSync(busybox!, join(bin, applet));
    const dir = join(work, "bb");
    const r = Bun.spawnSync([join(bin, "sh"), fakePacked, "exit", "5", "a b", "--unpack-dir", dir], { stdout: "pipe", stderr: "pipe", env: { PATH: bin } });
    expect(r.stderr.toString()).toBe("");
    expect(r.stdout.toString()).toContain("[exit]\n[5]\n[a b]\n");
    expect(r.exitCode).toBe(5);
    expect(unpackedIn(dir)).toHaveLength(1);
  });
});

describe("dist/mlvpn packed", () => {
  let packed = "";
  beforeAll(() => {
    const b = Bun.spawnSync([process.execPath, join(ROOT, "scripts", "build.ts")], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    if (b.exitCode !== 0) throw new Error(`build failed: ${b.stderr}`);
    const r = pack(join(ROOT, "dist", "mlvpn"), join(work, "mlvpn-linux-x64"), "linux-x64", { level: 0 });
    packed = r.out;
    console.log(`packed dist/mlvpn at xz level 0: ${r.packedBytes} bytes (${r.unpackedBytes} unpacked) in ${r.ms} ms`);
  }, 180_000);

  test("--version and -t -c on the fixtures, first start and later starts", () => {
    const dir = join(work, "real");
    const t0 = performance.now();
    const v = run([packed, "--version", "--unpack-dir", dir]);
    const first = performance.now() - t0;
    expect(v).toMatchObject({ code: 0, err: "" });
    expect(v.out).toMatch(/^mlvpn version \d+\.\d+\.\d+\.\n$/);
    const t1 = performance.now();
    expect(run([packed, "--version", "--unpack-dir", dir]).code).toBe(0);
    const later = performance.now() - t1;
    console.log(`packed dist/mlvpn --version: first start ${first.toFixed(0)} ms (unpacks), later ${later.toFixed(0)} ms`);
    for (const name of ["client.conf", "server.conf", "client.toml", "server.toml"]) {
      const r = run([packed, "-t", "-c", join(ROOT, "test", "fixtures", name), "--unpack-dir", dir]);
      expect(r.code).toBe(0);
      expect(r.out).toContain("password = <redacted>");
    }
    expect(run([packed, "--nope", "--unpack-dir", dir]).code).toBe(2);
  }, 120_000);
});
