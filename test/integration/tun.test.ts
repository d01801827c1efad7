/**
 * src/io: libc wrapper errors (any user), then real tun/tap devices (root only). The devices live
 * in a network namespace this file creates and deletes; all traffic stays inside it (helper
 * processes run there through `ip netns exec`, see tun-echo.fixture.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { close, Errno, F_GETFL, fcntl, O_NONBLOCK, open, setsockopt, SOCK_DGRAM, socket, SOL_SOCKET, SysError, tryRead, AF_INET } from "../../src/io/libc.ts";
import { openTun } from "../../src/io/tun.ts";
import { reportSkip } from "../helpers/skip.ts";

const FIXTURE = join(import.meta.dir, "tun-echo.fixture.ts");
const PEER = "10.77.0.2"; // inside the namespace, routed into the fixture's tun

describe("libc wrappers", () => {
  test("errors name the call, the subject and the errno text", () => {
    expect(() => open("/nonexistent-mlvpn/x", 0)).toThrow("open /nonexistent-mlvpn/x: No such file or directory");
    expect(() => close(-1)).toThrow("close: Bad file descriptor");
    expect(() => fcntl(-1, F_GETFL)).toThrow("fcntl: Bad file descriptor");
    try {
      close(-1);
    } catch (e) {
      expect(e).toBeInstanceOf(SysError);
      expect((e as SysError).errno).toBe(Errno.EBADF);
      expect((e as SysError).call).toBe("close");
    }
  });

  test("socket options, non-blocking reads return -errno instead of throwing", () => {
    const s = socket(AF_INET, SOCK_DGRAM | O_NONBLOCK);
    try {
      setsockopt(s, SOL_SOCKET, 8 /* SO_RCVBUF */, 65536);
      expect(() => setsockopt(s, SOL_SOCKET, 9999, 1, "SOL_SOCKET 9999")).toThrow(/^setsockopt SOL_SOCKET 9999: /);
      expect(fcntl(s, F_GETFL) & O_NONBLOCK).toBe(O_NONBLOCK);
      expect(tryRead(s, new Uint8Array(16))).toBe(-Errno.EAGAIN);
    } finally {
      close(s);
    }
  });

  test("MLVPN_LIBC overrides the library, with a readable error when it cannot be loaded", () => {
    const r = Bun.spawnSync([process.execPath, "-e", `import("${join(import.meta.dir, "../../src/io/libc.ts")}").then(m => m.errno())`], {
      env: { ...process.env, MLVPN_LIBC: "/nonexistent/libc.so" }, stderr: "pipe", timeout: 10_000,
    });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr.toString()).toContain("cannot load the C library (/nonexistent/libc.so: ");
  });

  test("openTun rejects bad options before touching the kernel", () => {
    expect(() => openTun({ name: "a-name-that-is-too-long", kind: "tun", mtu: 1400 })).toThrow("invalid interface name");
    expect(() => openTun({ name: "bad/name", kind: "tun", mtu: 1400 })).toThrow("invalid interface name");
    expect(() => openTun({ name: "mlvt0", kind: "tun", mtu: 20 })).toThrow("invalid MTU 20");
  });
});

const skipReason = process.getuid?.() !== 0 ? "not running as root"
  : !existsSync("/dev/net/tun") ? "/dev/net/tun is missing"
  : !Bun.which("ip") ? "the ip command (iproute2) is missing"
  : "";
reportSkip(import.meta.file, "the tun device tests", skipReason);
const pingReason = Bun.which("ping") ? "" : "ping (iputils-ping) is not installed";

type Event = { event: string; [k: string]: unknown };

/** A tun-echo.fixture.ts process in the namespace: JSON events on stdout, commands on stdin. */
class Fixture {
  readonly proc;
  readonly events: Event[] = [];
  readonly #pumped: Promise<void>;
  #stderr = "";

  constructor(ns: string, args: string[]) {
    this.proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, FIXTURE, ...args], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    this.#pumped = this.#pump();
    void new Response(this.proc.stderr).text().then((t) => (this.#stderr = t));
  }

  async #pump(): Promise<void> {
    let rest = "";
    for await (const chunk of this.proc.stdout.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      for (let i; (i = rest.indexOf("\n")) >= 0; rest = rest.slice(i + 1)) this.events.push(JSON.parse(rest.slice(0, i)) as Event);
    }
  }

  /** Removes and returns the first `name` event, waiting at most `ms`. */
  async next(name: string, ms = 5000): Promise<Event> {
    const deadline = performance.now() + ms;
    for (;;) {
      const i = this.events.findIndex((e) => e.event === name);
      if (i >= 0) return this.events.splice(i, 1)[0]!;
      if (this.events.some((e) => e.event === "error")) throw new Error(`fixture error: ${JSON.stringify(this.events)}`);
      if (this.proc.exitCode !== null) {
        await this.#pumped; // the last lines may still be in the pipe
        const j = this.events.findIndex((e) => e.event === name);
        if (j >= 0) return this.events.splice(j, 1)[0]!;
      }
      if (performance.now() > deadline || this.proc.exitCode !== null) {
        throw new Error(`no "${name}" event from the fixture within ${ms} ms (exit ${this.proc.exitCode}; stderr: ${this.#stderr.trim()})`);
      }
      await Bun.sleep(10);
    }
  }

  command(line: string): void {
    this.proc.stdin.write(`${line}\n`);
    this.proc.stdin.flush();
  }

  /** Closes stdin (the fixture's stop signal) and waits at most `ms` for it to exit by itself. */
  async end(ms = 5000): Promise<number | "timeout"> {
    this.proc.stdin.end();
    return Promise.race([this.proc.exited, Bun.sleep(ms).then(() => "timeout" as const)]);
  }

  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
  }
}

describe.skipIf(skipReason !== "")("tun/tap devices (root, private network namespace)", () => {
  const ns = `mlvt${process.pid.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const fixtures: Fixture[] = [];
  const start = (args: string[]) => {
    const f = new Fixture(ns, args);
    fixtures.push(f);
    return f;
  };
  /** Runs a bounded command inside the namespace. */
  async function inNs(cmd: string[], timeoutMs = 10_000): Promise<{ code: number; out: string; err: string }> {
    const p = Bun.spawn(["ip", "netns", "exec", ns, ...cmd], { stdout: "pipe", stderr: "pipe", timeout: timeoutMs, killSignal: "SIGKILL" });
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
    return { code: await p.exited, out, err };
  }
  /** An attribute of a device in the namespace; "" when the device does not exist. */
  const sysfs = async (dev: string, attr: string) => (await inNs(["cat", `/sys/class/net/${dev}/${attr}`])).out.trim();

  beforeAll(() => {
    const r = Bun.spawnSync(["ip", "netns", "add", ns], { stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`ip netns add ${ns}: ${r.stderr.toString()}`);
  });

  afterAll(async () => {
    for (const f of fixtures) f.kill();
    await Promise.all(fixtures.map((f) => Promise.race([f.proc.exited, Bun.sleep(2000)])));
    Bun.spawnSync(["ip", "netns", "del", ns]);
  });

  test("tun: %d name expands to the kernel's name; MTU and txqueuelen applied; writes while down return false", async () => {
    const f = start(["serve", "--name", "mlvt%d", "--kind", "tun", "--mtu", "1400", "--txq", "2000"]);
    const ready = await f.next("ready", 10_000);
    const name = String(ready.name);
    expect(name).toMatch(/^mlvt\d+$/);
    expect(ready.downWrite).toBe(false);
    expect(await sysfs(name, "mtu")).toBe("1400");
    expect(await sysfs(name, "tx_queue_len")).toBe("2000");
    expect(await sysfs(name, "type")).toBe("65534"); // ARPHRD_NONE: a layer-3 tun
    expect(await f.end()).toBe(0);
    expect(await sysfs(name, "mtu")).toBe(""); // closing the fd removed it
  }, 20_000);

  test("tap: default txqueuelen is 1000", async () => {
    const f = start(["serve", "--name", "mlvtap%d", "--kind", "tap", "--mtu", "1300"]);
    const name = String((await f.next("ready", 10_000)).name);
    expect(name).toMatch(/^mlvtap\d+$/);
    expect(await sysfs(name, "mtu")).toBe("1300");
    expect(await sysfs(name, "tx_queue_len")).toBe("1000");
    expect(await sysfs(name, "type")).toBe("1"); // ARPHRD_ETHER
    expect(await f.end()).toBe(0);
  }, 20_000);

  describe("echo server on the hybrid reader", () => {
    let f: Fixture;
    let dev = "";
    beforeAll(async () => {
      // A 4096-packet queue (docs/bun-runtime.md, "Reading the tun device") absorbs ~100 ms of descheduling at 40 k pps on a busy CI box.
      f = start(["serve", "--name", "mlvt%d", "--kind", "tun", "--mtu", "1400", "--txq", "4096", "--up"]);
      dev = String((await f.next("ready", 10_000)).name);
    }, 15_000);

    const stats = async () => {
      f.command("stats");
      return (await f.next("stats")) as Event & { udp: number; packets: number; drains: number; maxDrain: number; cpu: { user: number; system: number } };
    };

    test.skipIf(pingReason !== "")("ping -c 20 -i 0.05: every echo request is answered", async () => {
      const r = await inNs(["ping", "-n", "-c", "20", "-i", "0.05", "-W", "2", "-w", "15", PEER], 20_000);
      expect(r.out).toContain("20 packets transmitted, 20 received");
      console.log(`tun echo: ${r.out.trim().split("\n").at(-1)}`);
    }, 25_000);

    test("a packet larger than the MTU can be written and is delivered", async () => {
      f.command("big");
      expect((await f.next("big-written")).ok).toBe(true);
      expect((await f.next("udp")).len).toBe(2972); // 3000 - IP - UDP headers
    });

    test("a burst of 20 000 UDP packets (1200 B, 40 k pps) is read without loss", async () => {
      const before = await stats();
      const dropsBefore = Number(await sysfs(dev, "statistics/tx_dropped"));
      const r = await inNs([process.execPath, FIXTURE, "send", "--dst", PEER, "--port", "9999", "--count", "20000", "--size", "1172", "--pps", "40000"], 20_000);
      if (r.code !== 0) throw new Error(`sender failed (${r.code}): ${r.err}`);
      const sent = JSON.parse(r.out.trim().split("\n").at(-1) ?? "{}") as { sent: number; errors: number; ms: number; pps: number };
      expect(sent.sent).toBe(20000);
      let after = await stats();
      for (const deadline = performance.now() + 3000; after.udp - before.udp < sent.sent && performance.now() < deadline; after = await stats()) await Bun.sleep(20);
      // Both at once, so a failure shows whether the kernel queue overflowed (drops) or packets went missing.
      const dropped = Number(await sysfs(dev, "statistics/tx_dropped")) - dropsBefore;
      expect({ read: after.udp - before.udp, dropped }).toEqual({ read: sent.sent, dropped: 0 });
      const cpuMs = (after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system) / 1000;
      const drains = after.drains - before.drains;
      console.log(`tun burst: ${sent.sent} packets in ${sent.ms} ms (${sent.pps} pps), reader CPU ${((100 * cpuMs) / sent.ms).toFixed(1)} % `
        + `of a core, ${drains} drains (avg ${((after.packets - before.packets) / drains).toFixed(1)}, max ${after.maxDrain} packets)`);
    }, 30_000);

    test.skipIf(pingReason !== "")("ping -f -c 2000: flood ping loses nothing", async () => {
      const r = await inNs(["ping", "-n", "-f", "-c", "2000", "-W", "1", "-w", "20", PEER], 25_000);
      expect(r.out).toContain("2000 packets transmitted, 2000 received");
      console.log(`tun flood ping: ${r.out.trim().split("\n").slice(-2).join(" | ").replace(/\s+/g, " ")}`);
    }, 30_000);

    test("stop() ends the poll worker: the fixture exits by itself", async () => {
      expect(await f.end(5000)).toBe(0);
      const stopped = await f.next("stopped", 1000);
      // Below the 2 s grace after which stop() would terminate it: the worker ended by itself
      // (typically within one 250 ms poll timeout).
      expect(Number(stopped.stopMs)).toBeLessThan(2000);
      expect(await sysfs(dev, "mtu")).toBe("");
    }, 10_000);
  });
});

if (!skipReason) reportSkip(import.meta.file, "the ping tests through a tun device", pingReason);
