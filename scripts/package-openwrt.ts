/**
 * OpenWrt packages (.ipk) without the OpenWrt SDK: the packed musl build (scripts/pack.ts, at
 * most 40 MB of flash) as /usr/sbin/mlvpn, the procd init script, the examples' client
 * configuration (as mlvpn0.conf.example: a shipped password must not start a tunnel by itself)
 * and status script.
 *
 *   bun scripts/package-openwrt.ts [--arch NAME]… [--out DIR] [--level N]
 *
 * An .ipk as OpenWrt's own ipkg-build makes it: a gzipped tar holding `debian-binary`,
 * `control.tar.gz` and `data.tar.gz` (opkg also reads the Debian ar form). Files are owned by
 * root, with fixed times, in name order: the same inputs give the same bytes.
 *
 * opkg installs a package only for an architecture name the device lists (`opkg print-architecture`):
 * the defaults are x86_64 and aarch64_cortex-a53 (MediaTek Filogic and most arm64 routers);
 * `--arch aarch64_generic` (Rockchip, e.g. NanoPi R4S/R5S/R6S), `aarch64_cortex-a72`
 * (Raspberry Pi 4) or `aarch64_cortex-a76` (Raspberry Pi 5) package the same arm64 build.
 */
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VERSION } from "../src/version.ts";
import { DEFAULT_LEVEL, MAX_PACKED_BYTES, pack } from "./pack.ts";

const ROOT = join(import.meta.dir, "..");
export const DEFAULT_ARCHES = ["x86_64", "aarch64_cortex-a53"];
/** Fixed file times (2024-01-01): reproducible archives. */
const MTIME = "2024-01-01 00:00:00Z";

/** The Bun build target for an OpenWrt architecture name (OpenWrt uses musl). */
export function targetFor(arch: string): string {
  if (arch === "x86_64") return "linux-x64-musl";
  if (/^aarch64(_[a-z0-9-]+)?$/.test(arch)) return "linux-arm64-musl";
  throw new Error(`no mlvpn build for OpenWrt architecture ${arch}: Bun runs on 64-bit x86 and 64-bit ARM only`);
}

const CONTROL = (arch: string, installedBytes: number) => `Package: mlvpn
Version: ${VERSION}-1
Depends: libc, kmod-tun, libstdcpp, libgcc
Source: https://github.com/zehome/MLVPN (reimplementation)
License: BSD-2-Clause
Section: net
Architecture: ${arch}
Installed-Size: ${installedBytes}
Description: Multi-link VPN: bonds several uplinks into one encrypted tunnel
 (MLVPN-compatible configuration). /usr/sbin/mlvpn unpacks itself once into
 a tmpfs (about 110 MB of RAM) on its first start. Needs busybox unxz or xz.
 Configure /etc/mlvpn/NAME.conf (see mlvpn0.conf.example), then
 /etc/init.d/mlvpn start.
`;

const CONFFILES = "/etc/mlvpn/mlvpn0_updown.sh\n";

const POSTINST = `#!/bin/sh
# Enables the service at boot; it starts once /etc/mlvpn holds a NAME.conf.
[ -n "$IPKG_INSTROOT" ] && exit 0
/etc/init.d/mlvpn enable
exit 0
`;

const PRERM = `#!/bin/sh
[ -n "$IPKG_INSTROOT" ] && exit 0
/etc/init.d/mlvpn stop
/etc/init.d/mlvpn disable
exit 0
`;

const POSTRM = `#!/bin/sh
# The copies /usr/sbin/mlvpn unpacked for root (procd starts it as root).
[ -n "$IPKG_INSTROOT" ] && exit 0
rm -rf /tmp/mlvpn-unpacked-0 /run/mlvpn-unpacked-0 /var/run/mlvpn-unpacked-0
exit 0
`;

function sh(cmd: string[], cwd: string): void {
  const r = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString().trim() || `exit ${r.exitCode}`}`);
}

/** A reproducible tar.gz of `dir`'s entries (names as ./x, root-owned). */
function tarGz(dir: string, out: string, entries: string[]): void {
  sh(["tar", "--format=gnu", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", `--mtime=${MTIME}`, "-czf", out, ...entries.map((e) => `./${e}`)], dir);
}

function sha256Of(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** The SHA-256 of the program a packed file holds (its stub's `sha=` line). */
function packedSha(file: string): string | undefined {
  const head = readFileSync(file).subarray(0, 4096).toString("latin1");
  return /^sha=([0-9a-f]{64})$/m.exec(head)?.[1];
}

/** Builds and packs (unless already packed) the target's binary; returns the packed file. */
function packedBinary(target: string, level: number): string {
  const binary = join(ROOT, "dist", `mlvpn-${target}`);
  const b = Bun.spawnSync([process.execPath, join(ROOT, "scripts", "build.ts"), "--target", target], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (b.exitCode !== 0) throw new Error(`build of ${target} failed: ${b.stderr.toString().trim()}`);
  mkdirSync(join(ROOT, "dist", "packed"), { recursive: true });
  const out = join(ROOT, "dist", "packed", level === DEFAULT_LEVEL ? `mlvpn-${target}` : `mlvpn-${target}.level${level}`);
  if (!existsSync(out) || packedSha(out) !== sha256Of(binary)) {
    const r = pack(binary, out, target, { level });
    console.log(`package-openwrt: packed ${target}: ${r.packedBytes} bytes in ${r.ms} ms`);
  }
  // The size a router may take holds for the default level; other levels are for quick tests.
  if (level === DEFAULT_LEVEL && statSync(out).size > MAX_PACKED_BYTES) throw new Error(`${out} is ${statSync(out).size} bytes, over ${MAX_PACKED_BYTES}`);
  return out;
}

export function buildIpk(arch: string, outDir: string, level = DEFAULT_LEVEL): string {
  const target = targetFor(arch);
  const binary = packedBinary(target, level);
  const work = mkdtempSync(join(tmpdir(), "mlvpn-ipk-"));
  try {
    const data = join(work, "data");
    for (const d of ["usr/sbin", "etc/init.d", "etc/mlvpn"]) mkdirSync(join(data, d), { recursive: true });
    const put = (from: string, to: string, mode: number) => {
      copyFileSync(from, join(data, to));
      chmodSync(join(data, to), mode);
    };
    put(binary, "usr/sbin/mlvpn", 0o755);
    put(join(ROOT, "scripts", "openwrt", "mlvpn.init"), "etc/init.d/mlvpn", 0o755);
    put(join(ROOT, "examples", "client", "mlvpn0.conf"), "etc/mlvpn/mlvpn0.conf.example", 0o600);
    put(join(ROOT, "examples", "client", "mlvpn0_updown.sh"), "etc/mlvpn/mlvpn0_updown.sh", 0o700);
    chmodSync(join(data, "etc", "mlvpn"), 0o700);
    const installed = ["usr/sbin/mlvpn", "etc/init.d/mlvpn", "etc/mlvpn/mlvpn0.conf.example", "etc/mlvpn/mlvpn0_updown.sh"].reduce((n, f) => n + statSync(join(data, f)).size, 0);

    const control = join(work, "control");
    mkdirSync(control);
    writeFileSync(join(control, "control"), CONTROL(arch, installed));
    writeFileSync(join(control, "conffiles"), CONFFILES);
    for (const [name, text] of [["postinst", POSTINST], ["prerm", PRERM], ["postrm", POSTRM]] as const) {
      writeFileSync(join(control, name), text);
      chmodSync(join(control, name), 0o755);
    }

    const outer = join(work, "outer");
    mkdirSync(outer);
    writeFileSync(join(outer, "debian-binary"), "2.0\n");
    tarGz(control, join(outer, "control.tar.gz"), ["control", "conffiles", "postinst", "prerm", "postrm"]);
    tarGz(data, join(outer, "data.tar.gz"), ["usr", "etc"]);
    mkdirSync(outDir, { recursive: true });
    const ipk = join(outDir, `mlvpn_${VERSION}-1_${arch}.ipk`);
    tarGz(outer, ipk, ["debian-binary", "data.tar.gz", "control.tar.gz"]);
    return ipk;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const arches: string[] = [];
  let outDir = join(ROOT, "dist", "openwrt");
  let level = DEFAULT_LEVEL;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = args[i + 1];
    if (a === "--arch" && v) arches.push(v);
    else if (a === "--out" && v) outDir = v;
    else if (a === "--level" && v && /^[0-9]$/.test(v)) level = Number(v);
    else {
      console.error("usage: bun scripts/package-openwrt.ts [--arch NAME]… [--out DIR] [--level 0-9]");
      process.exit(2);
    }
    i++;
  }
  try {
    for (const arch of arches.length > 0 ? arches : DEFAULT_ARCHES) {
      const ipk = buildIpk(arch, outDir, level);
      console.log(`package-openwrt: ${ipk.replace(`${ROOT}/`, "")} (${statSync(ipk).size} bytes)`);
    }
  } catch (e) {
    console.error(`package-openwrt: ${(e as Error).message}`);
    process.exit(1);
  }
}
