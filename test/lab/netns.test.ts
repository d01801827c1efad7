/** The namespace lab itself: topology, link failure, process cleanup, crash cleanup, exit safety net. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addVeth, cleanupByPrefix, createLab, labSkipReason, pingOk, setForwarding, setLinkUp, waitFor, type Lab } from "./netns.ts";
import { reportSkip } from "../helpers/skip.ts";

const skipReason = labSkipReason() ?? (Bun.which("ping") ? null : "`ping` not found (apt-get install iputils-ping)");
reportSkip(import.meta.file, "the network-namespace lab tests", skipReason);

const NETNS_TS = join(import.meta.dir, "netns.ts");
const prefixesUsed = new Set<string>();

async function netnsList(): Promise<string> {
  const p = Bun.spawn(["ip", "netns", "list"], { stdout: "pipe", timeout: 5000 });
  const out = await new Response(p.stdout).text();
  await p.exited;
  return out;
}

const hasNs = async (prefix: string) => (await netnsList()).includes(`${prefix}-`);

/** Live and not a zombie. */
function alive(pid: number): boolean {
  try {
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

async function pidsOf(lab: Lab, ns: string): Promise<number[]> {
  const p = Bun.spawn(["ip", "netns", "pids", lab.ns(ns)], { stdout: "pipe", timeout: 5000 });
  const out = await new Response(p.stdout).text();
  await p.exited;
  return out.split(/\s+/).filter(Boolean).map(Number);
}

test("waitFor times out with a clear message, and returns as soon as the predicate holds", async () => {
  let n = 0;
  await waitFor(() => ++n >= 3, { timeoutMs: 1000, intervalMs: 10, what: "three polls" });
  expect(n).toBe(3);
  await expect(waitFor(() => false, { timeoutMs: 100, intervalMs: 20, what: "godot" })).rejects.toThrow("timed out after 100ms waiting for godot");
  // A predicate that never settles is cut off by the deadline too.
  await expect(waitFor(() => new Promise<boolean>(() => {}), { timeoutMs: 100, what: "a hung check" })).rejects.toThrow("timed out");
});

afterAll(async () => {
  // Belt and braces: remove whatever a failed test left behind, then nothing of ours may remain.
  for (const p of prefixesUsed) await cleanupByPrefix(p);
  const list = skipReason ? "" : await netnsList();
  for (const p of prefixesUsed) expect(list).not.toContain(`${p}-`);
});

describe.skipIf(skipReason !== null)("network-namespace lab (root)", () => {
  test("two namespaces joined by two uplinks: ping each, fail one link, restore it", async () => {
    const lab = await createLab({ namespaces: ["client", "server"] });
    prefixesUsed.add(lab.prefix);
    try {
      expect(lab.prefix).toMatch(/^mlv[0-9a-z]{4}$/);
      expect(lab.ns("client")).toBe(`${lab.prefix}-client`);
      const up1 = await addVeth(lab, { ns: "client", ifname: "up1", addr: "192.168.101.1/24" }, { ns: "server", ifname: "up1", addr: "192.168.101.2/24" });
      await addVeth(lab, { ns: "client", ifname: "up2", addr: "192.168.102.1/24" }, { ns: "server", ifname: "up2", addr: "192.168.102.2/24" });
      expect(up1.a).toBe(`${lab.prefix}up1`);
      expect(up1.a.length).toBeLessThanOrEqual(15);
      expect(() => lab.ifname("waytoolong")).toThrow("invalid interface name");

      const lo = await lab.exec("client", ["ip", "-br", "link", "show", "lo"], { check: true });
      expect(lo.stdout).toContain("UP");
      await setForwarding(lab, "server", true);
      expect((await lab.exec("server", ["sysctl", "-n", "net.ipv4.ip_forward"])).stdout.trim()).toBe("1");
      expect((await lab.exec("client", ["sysctl", "-n", "net.ipv4.ip_forward"])).stdout.trim()).toBe("0");

      for (const addr of ["192.168.101.2", "192.168.102.2"]) {
        const r = await pingOk(lab, "client", addr);
        expect(r).toMatchObject({ transmitted: 3, received: 3, ok: true });
        expect(r.rttsMs).toHaveLength(3);
      }

      await setLinkUp(lab, "client", "up1", false);
      const down = await pingOk(lab, "client", "192.168.101.2", { count: 2, replyTimeoutMs: 500 });
      expect(down.received).toBe(0);
      expect(down.ok).toBe(false);
      expect((await pingOk(lab, "client", "192.168.102.2", { count: 2 })).ok).toBe(true); // the other uplink is unaffected
      // Far end down instead: the route stays, requests go out and are never answered.
      await setLinkUp(lab, "server", "up2", false);
      expect(await pingOk(lab, "client", "192.168.102.2", { count: 2, replyTimeoutMs: 300 })).toMatchObject({ transmitted: 2, received: 0, ok: false });
      await setLinkUp(lab, "server", "up2", true);

      await setLinkUp(lab, "client", "up1", true);
      await waitFor(async () => (await pingOk(lab, "client", "192.168.101.2", { count: 1, replyTimeoutMs: 500 })).ok, {
        timeoutMs: 5000,
        intervalMs: 100,
        what: "uplink 1 to answer pings again",
      });
    } finally {
      await lab.destroy();
    }
    expect(await hasNs(lab.prefix)).toBe(false);
  });

  test("destroy() kills spawned processes (even ones ignoring SIGTERM) and removes the namespaces; idempotent", async () => {
    const lab = await createLab({ namespaces: ["a", "b"] });
    prefixesUsed.add(lab.prefix);
    const sleeper = lab.spawn("a", ["sleep", "60"], { stdout: "ignore" });
    const stubborn = lab.spawn("b", ["sh", "-c", "trap '' TERM; sleep 60 & wait"], { stdout: "ignore" });
    await waitFor(async () => (await pidsOf(lab, "b")).length >= 2, { timeoutMs: 3000, what: "the stubborn shell and its sleep" });
    const inB = await pidsOf(lab, "b");
    expect(await pidsOf(lab, "a")).toContain(sleeper.pid); // `ip netns exec` execs in place

    const t0 = performance.now();
    await Promise.all([lab.destroy(), lab.destroy()]);
    await lab.destroy();
    expect(performance.now() - t0).toBeLessThan(8000);
    expect(sleeper.signalCode).toBe("SIGTERM");
    expect(await stubborn.exited).toBe(137); // needed the SIGKILL
    for (const pid of inB) expect(alive(pid)).toBe(false); // including the grandchild we never tracked
    expect(await hasNs(lab.prefix)).toBe(false);
    expect(() => lab.spawn("a", ["true"])).toThrow("destroyed");
  });

  test("spawn can write output to a file", async () => {
    const lab = await createLab({ namespaces: ["a"] });
    prefixesUsed.add(lab.prefix);
    const file = join(tmpdir(), `${lab.prefix}.log`);
    try {
      const p = lab.spawn("a", ["sh", "-c", "echo out; echo err >&2; ip -br link show lo"], { stdout: file, stderr: file });
      expect(await p.exited).toBe(0);
      const text = readFileSync(file, "utf8");
      expect(text).toContain("out\n");
      expect(text).toContain("err\n");
      expect(text).toMatch(/^lo\s+UNKNOWN/m); // ran inside the namespace: only lo exists there
    } finally {
      rmSync(file, { force: true });
      await lab.destroy();
    }
  });

  test("cleanupByPrefix removes namespaces and processes left by a crash; idempotent", async () => {
    // Simulated crash, by hand: namespaces with our prefix and a process inside, no Lab object at all.
    const prefix = "mlv" + Math.random().toString(36).slice(2, 6).padEnd(4, "0");
    prefixesUsed.add(prefix);
    for (const n of ["x", "y"]) expect(Bun.spawnSync(["ip", "netns", "add", `${prefix}-${n}`]).exitCode).toBe(0);
    const orphan = Bun.spawn(["ip", "netns", "exec", `${prefix}-x`, "sleep", "60"], { stdout: "ignore" });
    await waitFor(() => Bun.spawnSync(["ip", "netns", "pids", `${prefix}-x`]).stdout.toString().trim() !== "", { timeoutMs: 3000, what: "the orphan to start" });
    expect(await hasNs(prefix)).toBe(true);

    await cleanupByPrefix(prefix);
    await cleanupByPrefix(prefix);
    expect(await hasNs(prefix)).toBe(false);
    expect(orphan.signalCode).toBe("SIGTERM");
    await expect(cleanupByPrefix("mlv")).rejects.toThrow("invalid lab prefix"); // would sweep other runs' labs
  });

  /** Runs a lab in a child bun process, started with a sleeper; returns its prefix and the sleeper's pid. */
  async function childLab(then: "exit" | "wait") {
    const info = join(tmpdir(), `mlvpn-childlab-${process.pid}-${Date.now()}.txt`);
    const script = `
      import { createLab } from ${JSON.stringify(NETNS_TS)};
      const lab = await createLab({ namespaces: ["a"] });
      const p = lab.spawn("a", ["sleep", "60"], { stdout: "ignore" });
      await Bun.write(${JSON.stringify(info + ".tmp")}, lab.prefix + " " + p.pid);
      (await import("node:fs")).renameSync(${JSON.stringify(info + ".tmp")}, ${JSON.stringify(info)});
      if (${JSON.stringify(then)} === "exit") process.exit(0);
      await Bun.sleep(20000);
    `;
    // The timeout bounds the child even if this test fails half-way.
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "inherit", stderr: "inherit", timeout: 20000, killSignal: "SIGKILL" });
    try {
      await waitFor(() => existsSync(info), { timeoutMs: 10000, what: "the child lab to start" });
      const [prefix = "", pid = "0"] = readFileSync(info, "utf8").split(" ");
      expect(prefix).toMatch(/^mlv[0-9a-z]{4}$/);
      prefixesUsed.add(prefix);
      return { child, prefix, sleeper: Number(pid) };
    } finally {
      rmSync(info, { force: true });
    }
  }

  test("exit safety net: a lab never destroyed is removed when its process exits or gets SIGTERM", async () => {
    const exited = await childLab("exit");
    expect(await exited.child.exited).toBe(0);
    expect(await hasNs(exited.prefix)).toBe(false);
    expect(alive(exited.sleeper)).toBe(false);

    const termed = await childLab("wait");
    expect(await hasNs(termed.prefix)).toBe(true);
    termed.child.kill("SIGTERM");
    expect(await termed.child.exited).toBe(143);
    expect(await hasNs(termed.prefix)).toBe(false);
    expect(alive(termed.sleeper)).toBe(false);
  });

  test("after a real crash (SIGKILL, no handlers run) cleanupByPrefix still removes everything", async () => {
    const { child, prefix, sleeper } = await childLab("wait");
    child.kill("SIGKILL");
    await child.exited;
    expect(await hasNs(prefix)).toBe(true); // the crash left the lab behind...
    expect(alive(sleeper)).toBe(true);
    await cleanupByPrefix(prefix); // ...and the prefix is enough to remove it
    expect(await hasNs(prefix)).toBe(false);
    await waitFor(() => !alive(sleeper), { timeoutMs: 2000, what: "the orphaned sleeper to die" });
  });
});
