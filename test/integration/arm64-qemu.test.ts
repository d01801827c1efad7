/**
 * The arm64 build (dist/mlvpn-linux-arm64, glibc), run on this x86-64 machine under qemu's
 * user-mode emulator (Debian `qemu-user`, with the arm64 C library of `libc6-arm64-cross` as the
 * root for its loader): `--version`, `-t` on every fixture, the packed file (unpacked by its stub,
 * then run), and a lab tunnel whose client router runs the arm64 binary: ping and a transfer
 * through it, then SIGTERM.
 *
 * Built once per run (`build.ts --target linux-arm64`, a few seconds). qemu-user runs one
 * program: it does not follow exec() into another arm64 program unless binfmt_misc is set up for
 * it, so the ends keep root here (--yes-run-as-root) instead of starting the root hook helper
 * (a second arm64 process); the status script (/bin/sh, a host program) runs as usual.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { pack } from "../../scripts/pack.ts";
import { labSkipReason, pingOk, waitFor } from "../lab/netns.ts";
import { createTopology, type Topology } from "../lab/topology.ts";
import { transfer } from "../lab/transfer.ts";
import { destroyLab, type LabTunnel, startTunnel } from "../lab/tunnel.ts";

const ROOT = join(import.meta.dir, "..", "..");
const BIN = join(ROOT, "dist", "mlvpn-linux-arm64");
const SYSROOT = "/usr/aarch64-linux-gnu";
const QEMU = Bun.which("qemu-aarch64") ?? Bun.which("qemu-aarch64-static");

function qemuSkipReason(): string | null {
  if (process.arch === "arm64") return "this machine is arm64: the native tests run the arm64 build";
  if (!QEMU) return "qemu-aarch64 is not installed (Debian: apt-get install qemu-user)";
  if (!existsSync(join(SYSROOT, "lib", "ld-linux-aarch64.so.1"))) return `no arm64 C library in ${SYSROOT} (Debian: apt-get install libc6-arm64-cross)`;
  return null;
}

const skip = qemuSkipReason();
if (skip) console.log(`skipping the arm64 tests under qemu: ${skip}`);
const labSkip = skip ?? labSkipReason();
if (!skip && labSkip) console.log(`skipping the arm64 lab tunnel: ${labSkip}`);

const under = (program: string) => [QEMU!, "-L", SYSROOT, program];
const work = mkdtempSync(join(tmpdir(), "mlvpn-arm64-"));

function arm64(...args: string[]) {
  const r = Bun.spawnSync([...under(BIN), ...args], { stdout: "pipe", stderr: "pipe", timeout: 60_000 });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

describe.skipIf(skip !== null)("dist/mlvpn-linux-arm64 under qemu-aarch64", () => {
  beforeAll(async () => {
    const b = Bun.spawnSync([process.execPath, join(ROOT, "scripts", "build.ts"), "--target", "linux-arm64"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    if (b.exitCode !== 0) throw new Error(`build failed: ${b.stderr}${b.stdout}`);
    // ELF e_machine (offset 18, little-endian): 183 is EM_AARCH64.
    const machine = new DataView(await Bun.file(BIN).slice(18, 20).arrayBuffer()).getUint16(0, true);
    if (machine !== 183) throw new Error(`${BIN} is not an arm64 program (ELF machine ${machine})`);
  }, 180_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test("--version", async () => {
    const pkg = await Bun.file(join(ROOT, "package.json")).json();
    const t0 = performance.now();
    expect(arm64("--version")).toEqual({ code: 0, out: `mlvpn version ${pkg.version}.\n`, err: "" });
    console.log(`arm64 --version under qemu: ${(performance.now() - t0).toFixed(0)} ms`);
  }, 60_000);

  test.each(["client.conf", "server.conf", "client.toml", "server.toml"])("-t -c %s", (name) => {
    const r = arm64("-t", "-c", join(ROOT, "test", "fixtures", name));
    expect(r.code).toBe(0);
    expect(r.out).toContain("password = <redacted>");
    expect(r.out).toContain("[adsl2]");
  }, 60_000);

  test("-t on a missing file: exit 1 and a readable error", () => {
    const r = arm64("-t", "-c", "/nonexistent.conf");
    expect(r.code).toBe(1);
    expect(r.err).toContain("cannot read the configuration: no such file");
  }, 60_000);

  test("the packed file: the stub unpacks the arm64 program, which then runs", () => {
    const r = pack(BIN, join(work, "mlvpn-linux-arm64"), "linux-arm64", { level: 0 });
    const u = Bun.spawnSync([r.out, "--unpack-only", "--unpack-dir", join(work, "unpacked")], { stdout: "pipe", stderr: "pipe" });
    expect(u.stderr.toString()).toBe("");
    expect(u.exitCode).toBe(0);
    const path = u.stdout.toString().trim();
    expect(path.startsWith(join(work, "unpacked", "mlvpn-"))).toBe(true);
    const v = Bun.spawnSync([...under(path), "--version"], { stdout: "pipe", stderr: "pipe" });
    expect(v.exitCode).toBe(0);
    expect(v.stdout.toString()).toStartWith("mlvpn version ");
  }, 180_000);

  describe.skipIf(labSkip !== null)("a lab tunnel whose client router runs the arm64 build", () => {
    let topo: Topology | undefined;
    let tunnel: LabTunnel | undefined;
    let client: Subprocess;

    beforeAll(async () => {
      topo = await createTopology({ uplinks: [{ rateMbit: 20, delayMs: 5 }, { rateMbit: 20, delayMs: 5 }] });
      // Emulation makes the client's start-up and handshakes seconds long: a longer wait and timeout.
      tunnel = await startTunnel(topo, { timeout: 15, clientProgram: under(BIN), upTimeoutMs: 90_000 });
      client = tunnel.client;
    }, 150_000);

    afterAll(() => destroyLab(topo, tunnel), 30_000);

    test("ping and a 2 MB transfer pass through it; SIGTERM stops it cleanly", async () => {
      const t = topo!;
      // The first pings may go before the status script has set the routes on both ends.
      await waitFor(async () => (await pingOk(t.lab, "lan", t.internetHost, { count: 1, intervalMs: 200 })).received === 1, { timeoutMs: 20_000, what: "a first ping through the tunnel" });
      // Each reply is waited for 5 s (test/lab/netns.ts pingOk): the emulated client stalls now
      // and then on a busy machine, and a late reply is not a lost one. A single `ping -c 10`
      // stopped waiting 2 × its largest RTT after its last request: in a loaded flake-check run
      // the RTTs were 48 113 20 27 38 121 102 68 420 256 ms, so it would have given up 242 ms
      // after the last request and counted the last two replies as lost (8/10); such stalls are
      // the likely cause of the 6/10 seen twice under load (not reproduced here).
      const ping = await pingOk(t.lab, "lan", t.internetHost, { count: 10, intervalMs: 100, replyTimeoutMs: 5000 });
      console.log(`arm64 client under qemu: ping ${ping.received}/10, RTTs ${ping.rttsMs.map((r) => r.toFixed(0)).join(" ")} ms`);
      if (ping.received < 10) {
        // Seen twice under a loaded flake check (6/10), never alone: what each end logged then.
        for (const side of ["client", "server"] as const) {
          const log = readFileSync(join(tunnel!.dir, `${side}.log`), "utf8").trimEnd().split("\n").slice(-40).join("\n");
          console.log(`--- ${side} events: ${tunnel!.events(side).join(", ")}\n--- ${side}.log (last 40 lines):\n${log}`);
        }
      }
      expect(ping.received).toBeGreaterThanOrEqual(8);
      const { sent, received } = await transfer(t, tunnel!.dir, 2, 0);
      expect(received.bytes).toBe(2 * 1024 * 1024);
      expect(received.sha256).toBe(sent.sha256);
      console.log(`arm64 client under qemu: 2 MB in ${sent.seconds.toFixed(1)} s`);
      client.kill("SIGTERM");
      const code = await Promise.race([client.exited, Bun.sleep(30_000).then(() => "still running")]);
      expect(code).toBe(0);
      expect(tunnel!.events("client")).toContain("tuntap_down");
    }, 150_000);
  });
});
