/**
 * `npm run package:openwrt` (scripts/package-openwrt.ts): builds the x86_64 package the way the
 * npm script does (packed at xz level 0 to keep the test quick; the layout does not depend on
 * the level), unpacks it with tar like opkg does, and checks its contents: the three members,
 * the control fields, the files and their modes, the maintainer scripts (sh -n, shellcheck), the
 * packed program (it unpacks to the musl build) and the example configuration (mlvpn -t).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { targetFor } from "../../scripts/package-openwrt.ts";

const ROOT = join(import.meta.dir, "..", "..");
const work = mkdtempSync(join(tmpdir(), "mlvpn-ipk-test-"));
const shellcheck = Bun.which("shellcheck");
if (!shellcheck) console.log("openwrt-package.test.ts: skipping shellcheck: not installed (Debian package shellcheck)");
const version: string = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
let ipk = "";
const listings: Record<"outer" | "control" | "data", string[]> = { outer: [], control: [], data: [] };

function untar(file: string, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const x = Bun.spawnSync(["tar", "-xzf", file, "-C", dir], { stderr: "pipe" });
  if (x.exitCode !== 0) throw new Error(`tar -xzf ${file}: ${x.stderr}`);
  const t = Bun.spawnSync(["tar", "-tzvf", file], { stdout: "pipe" });
  return t.stdout.toString().trim().split("\n");
}

beforeAll(() => {
  const r = Bun.spawnSync([process.execPath, join(ROOT, "scripts", "package-openwrt.ts"), "--arch", "x86_64", "--out", join(work, "out"), "--level", "0"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`package-openwrt failed: ${r.stderr}${r.stdout}`);
  ipk = join(work, "out", `mlvpn_${version}-1_x86_64.ipk`);
  console.log(r.stdout.toString().trim());
  listings.outer = untar(ipk, join(work, "ipk"));
  listings.control = untar(join(work, "ipk", "control.tar.gz"), join(work, "control"));
  listings.data = untar(join(work, "ipk", "data.tar.gz"), join(work, "data"));
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the OpenWrt package", () => {
  test("outer archive: debian-binary 2.0, control.tar.gz, data.tar.gz", () => {
    const names = listings.outer.map((l) => l.split(/\s+/).pop());
    expect(names.sort()).toEqual(["./control.tar.gz", "./data.tar.gz", "./debian-binary"]);
    expect(readFileSync(join(work, "ipk", "debian-binary"), "utf8")).toBe("2.0\n");
  });

  test("control: name, version, architecture, dependencies, size; conffiles; maintainer scripts", () => {
    const listing = listings.control;
    for (const l of listing) expect(l).toContain("0/0"); // root-owned
    const control = readFileSync(join(work, "control", "control"), "utf8");
    expect(control).toContain("Package: mlvpn\n");
    expect(control).toContain(`Version: ${version}-1\n`);
    expect(control).toContain("Architecture: x86_64\n");
    expect(control).toContain("Depends: libc, kmod-tun, libstdcpp, libgcc\n");
    expect(control).toMatch(/^Installed-Size: \d+$/m);
    expect(control).toMatch(/^Description: .+\n( .+\n)+$/m);
    expect(readFileSync(join(work, "control", "conffiles"), "utf8")).toBe("/etc/mlvpn/mlvpn0_updown.sh\n");
    for (const s of ["postinst", "prerm", "postrm"]) {
      const file = join(work, "control", s);
      expect(statSync(file).mode & 0o777).toBe(0o755);
      const n = Bun.spawnSync(["sh", "-n", file], { stderr: "pipe" });
      expect(n.exitCode).toBe(0);
      if (shellcheck) {
        const c = Bun.spawnSync([shellcheck, "-s", "sh", file], { stdout: "pipe", stderr: "pipe" });
        expect(`${c.stdout}${c.stderr}`).toBe("");
      }
    }
  });

  test("data: the packed program, the init script, the example config and status script, with their modes", () => {
    const listing = listings.data;
    const files = listing.filter((l) => l.startsWith("-")).map((l) => `${l.split(/\s+/)[0]} ${l.split(/\s+/).pop()}`);
    expect(files.sort()).toEqual([
      "-rw------- ./etc/mlvpn/mlvpn0.conf.example",
      "-rwx------ ./etc/mlvpn/mlvpn0_updown.sh",
      "-rwxr-xr-x ./etc/init.d/mlvpn",
      "-rwxr-xr-x ./usr/sbin/mlvpn",
    ]);
    for (const l of listing) expect(l).toContain("0/0");
    const installed = Number(/^Installed-Size: (\d+)$/m.exec(readFileSync(join(work, "control", "control"), "utf8"))![1]);
    expect(installed).toBe(["usr/sbin/mlvpn", "etc/init.d/mlvpn", "etc/mlvpn/mlvpn0.conf.example", "etc/mlvpn/mlvpn0_updown.sh"].reduce((n, f) => n + statSync(join(work, "data", f)).size, 0));
    expect(readFileSync(join(work, "data", "etc", "init.d", "mlvpn"), "utf8")).toBe(readFileSync(join(ROOT, "scripts", "openwrt", "mlvpn.init"), "utf8"));
  });

  // The musl build cannot run here (a glibc machine without musl's loader and libstdc++): the
  // stub unpacks it, and the unpacked program is the musl build, byte for byte.
  test("the packed program unpacks to the x86-64 musl build; the example configuration is valid (-t)", async () => {
    const bin = join(work, "data", "usr", "sbin", "mlvpn");
    expect(readFileSync(bin).subarray(0, 10).toString()).toBe("#!/bin/sh\n");
    const u = Bun.spawnSync([bin, "--unpack-only", "--unpack-dir", join(work, "unpacked")], { stdout: "pipe", stderr: "pipe" });
    expect(u.stderr.toString()).toBe("");
    const unpacked = u.stdout.toString().trim();
    const sha = (f: string) => new Bun.CryptoHasher("sha256").update(readFileSync(f)).digest("hex");
    expect(sha(unpacked)).toBe(sha(join(ROOT, "dist", "mlvpn-linux-x64-musl")));
    expect(readFileSync(unpacked).includes("/lib/ld-musl-x86_64.so.1")).toBe(true);
    const t = Bun.spawnSync([join(ROOT, "dist", "mlvpn"), "-t", "-c", join(work, "data", "etc", "mlvpn", "mlvpn0.conf.example")], { stdout: "pipe", stderr: "pipe" });
    expect(t.exitCode).toBe(0);
    expect(t.stdout.toString()).toContain('mode = "client"');
  }, 120_000);

  test("the OpenWrt architecture names map to the builds Bun has, and only those", () => {
    expect(targetFor("x86_64")).toBe("linux-x64-musl");
    expect(targetFor("aarch64_cortex-a53")).toBe("linux-arm64-musl");
    expect(targetFor("aarch64_generic")).toBe("linux-arm64-musl");
    expect(() => targetFor("mipsel_24kc")).toThrow("Bun runs on 64-bit x86 and 64-bit ARM only");
    expect(() => targetFor("arm_cortex-a7_neon-vfpv4")).toThrow("no mlvpn build for OpenWrt architecture");
  });
});
