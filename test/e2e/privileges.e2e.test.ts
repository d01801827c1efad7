/**
 * Privilege drop, end to end: a client (dist/mlvpn) and a server (`bun src/mlvpn.ts`, so both ways
 * of re-running mlvpn as the hook helper are covered) in two network namespaces joined by a veth,
 * both started as root with `--user nobody`. After start-up every thread of each daemon has
 * nobody's uid, its one hook helper child is root, the status scripts ran as root (they record
 * `id -u`, and configure the tun with `ip`), traffic passes through the tun and sockets opened
 * before the drop, the server's name is resolved as nobody, and SIGTERM still runs the down scripts as root and removes the tun device.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { childrenOf, threadsOf, uidsOf } from "../helpers/procs.ts";
import { allUp, buildBinary, SERVER_TUN, type Side, startEnd, writeEndConfigs } from "../lab/mlvpn.ts";
import { addVeth, createLab, type Lab, labSkipReason, pingOk, waitFor } from "../lab/netns.ts";
import { reportSkip } from "../helpers/skip.ts";

const skip = labSkipReason();
reportSkip(import.meta.file, "the privilege-drop e2e tests", skip);

const NOBODY = 65534;
const HELPER_FLAG = "--hook-helper";

let lab: Lab;
let dir: string;
let hostsDir: string | undefined;
let createdNetnsDir = false;
const ends = {} as Record<Side, Subprocess>;

const uidLog = (side: Side): string[] => {
  try {
    return readFileSync(join(dir, `${side}-uids.log`), "utf8").trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
};

describe.skipIf(skip !== null)("privilege drop to --user nobody (client dist/mlvpn, server from source)", () => {
  beforeAll(async () => {
    buildBinary();
    lab = await createLab({ namespaces: ["client", "server"] });
    await addVeth(lab, { ns: "client", ifname: "c1", addr: "10.231.1.2/24" }, { ns: "server", ifname: "s1", addr: "10.231.1.1/24" });
    dir = mkdtempSync(join(tmpdir(), "mlvpn-privs-"));
    // The client knows the server by a name that only its namespace's /etc/hosts will hold
    // (`ip netns exec` mounts /etc/netns/NS/hosts there), and only once it runs as nobody.
    hostsDir = `/etc/netns/${lab.ns("client")}`;
    createdNetnsDir = !existsSync("/etc/netns");
    mkdirSync(hostsDir, { recursive: true });
    writeFileSync(join(hostsDir, "hosts"), "127.0.0.1 localhost\n");
    const serverName = `${lab.prefix}-server`;
    writeEndConfigs({ dir, uplinks: [{ client: "10.231.1.2", server: serverName, port: 5080 }], timeout: 5, general: (side, d) => `control_unix_path = "${join(d, `${side}.sock`)}"` });
    ends.server = startEnd(lab, dir, "server", { user: "nobody", fromSource: true });
    ends.client = startEnd(lab, dir, "client", { user: "nobody" });
    const clientLog = () => readFileSync(join(dir, "client.log"), "utf8");
    await waitFor(() => /cannot resolve[\s\S]*running as nobody/.test(clientLog()), { timeoutMs: 15_000, what: "the client running as nobody, server unresolved" });
    appendFileSync(join(hostsDir, "hosts"), `10.231.1.1 ${serverName}\n`); // in place: the mount shows the same file
    await waitFor(() => allUp(dir, "client", 1) && allUp(dir, "server", 1), { timeoutMs: 20_000, what: "the tunnel up on both ends" });
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
    if (hostsDir) {
      rmSync(hostsDir, { recursive: true, force: true });
      // Only if still empty: another run may have put its own namespace's files there meanwhile.
      if (createdNetnsDir) rmdirQuiet("/etc/netns");
    }
    if (dir && !process.env.MLVPN_KEEP_E2E) rmSync(dir, { recursive: true, force: true });
    else if (dir) console.log(`e2e files kept in ${dir}`);
  }, 30_000);

  test.each(["client", "server"] as const)("%s: every thread runs as nobody; its hook helper is root", (side) => {
    const pid = ends[side].pid;
    expect(uidsOf(pid)).toEqual([NOBODY, NOBODY, NOBODY, NOBODY]);
    const threads = threadsOf(pid);
    expect(threads.length).toBeGreaterThan(1); // Bun's own threads and the tun poll worker
    for (const tid of threads) expect(uidsOf(pid, tid)).toEqual([NOBODY, NOBODY, NOBODY, NOBODY]);
    const helpers = childrenOf(pid, HELPER_FLAG);
    expect(helpers.length).toBe(1);
    expect(uidsOf(helpers[0]!)).toEqual([0, 0, 0, 0]);
    // Memory not shared with other processes (the binary's pages are): what the helper costs.
    const privateKb = (p: number) => [...readFileSync(`/proc/${p}/smaps_rollup`, "utf8").matchAll(/^Private_\w+:\s*(\d+) kB$/gm)].reduce((a, m) => a + Number(m[1]), 0);
    console.log(`${side}: ${threads.length} threads; private memory: daemon ${privateKb(pid)} kB, hook helper ${privateKb(helpers[0]!)} kB`);
    expect(readFileSync(join(dir, `${side}.log`), "utf8")).toContain("running as nobody (uid 65534, gid 65534); status scripts run as root in the hook helper");
  });

  test.each(["client", "server"] as const)("%s: the control socket, created before the drop, belongs to nobody (mode 0600)", (side) => {
    const st = statSync(join(dir, `${side}.sock`));
    expect(st.isSocket()).toBe(true);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([NOBODY, NOBODY, 0o600]);
  });

  test.each(["client", "server"] as const)("%s: rtun_up and tuntap_up ran as root", (side) => {
    expect(uidLog(side)).toEqual(["rtun_up adsl1 uid=0", "tuntap_up  uid=0"]);
  });

  test("ping through the tunnel: the tun device and the sockets work after the drop", async () => {
    const r = await pingOk(lab, "client", SERVER_TUN, { count: 5, intervalMs: 100 });
    expect(r.received).toBe(5);
  });

  test("SIGHUP after the drop: the root helper reads the 0600 file; errors are refused with file:line, changes applied", async () => {
    const conf = join(dir, "client.conf");
    const good = readFileSync(conf, "utf8");
    const log = () => readFileSync(join(dir, "client.log"), "utf8");
    try {
      writeFileSync(conf, good.replace("[general]", "[general]\ntimeout = 30s"));
      ends.client.kill("SIGHUP");
      await waitFor(() => log().includes("reload rejected"), { timeoutMs: 10_000, what: "the broken reload refused" });
      expect(log()).toMatch(/client\.conf:\d+: error: .*timeout/);
      writeFileSync(conf, good.replace("[adsl1]", "[adsl1]\nlatency_tolerence = 900"));
      ends.client.kill("SIGHUP");
      await waitFor(() => /latency_tolerence .*→ 900/.test(log()), { timeoutMs: 10_000, what: "the reload applied" });
      expect(log()).not.toContain("permission denied");
      expect((await pingOk(lab, "client", SERVER_TUN, { count: 3, intervalMs: 100 })).received).toBe(3);
    } finally {
      writeFileSync(conf, good);
    }
  }, 30_000);

  test("SIGTERM: the down scripts still run as root, the helper goes with the daemon, exit 0", async () => {
    const pid = ends.client.pid;
    const [helper] = childrenOf(pid, HELPER_FLAG);
    ends.client.kill("SIGTERM");
    expect(await ends.client.exited).toBe(0);
    expect(uidLog("client").slice(2)).toEqual(["rtun_down adsl1 uid=0", "tuntap_down  uid=0"]);
    // Closing the tun fd as nobody still removes the interface.
    expect((await lab.exec("client", ["ip", "link", "show", "mlvpn0"])).code).not.toBe(0);
    await waitFor(() => processGone(helper!), { timeoutMs: 5000, what: "the client's hook helper to exit" });
    // The server hears the DISCONNECT and runs its down scripts as root too.
    await waitFor(() => uidLog("server").includes("tuntap_down  uid=0"), { timeoutMs: 5000, what: "tuntap_down on the server" });
    expect(uidLog("server")).toContain("rtun_down adsl1 uid=0");
  }, 30_000);

  test("Ctrl-C or systemd signal the whole group: the helper stays until its daemon is gone", async () => {
    const [helper] = childrenOf(ends.server.pid, HELPER_FLAG);
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.kill(helper!, signal);
    await Bun.sleep(300);
    expect(processGone(helper!)).toBe(false);
    ends.server.kill("SIGTERM");
    expect(await ends.server.exited).toBe(0);
    await waitFor(() => processGone(helper!), { timeoutMs: 5000, what: "the server's hook helper to exit" });
  }, 30_000);
});

function rmdirQuiet(path: string): void {
  try {
    rmdirSync(path);
  } catch {
    // not empty or already gone: leave it
  }
}

/** Ended: no /proc entry, or a zombie waiting to be reaped. */
function processGone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.startsWith("Z");
  } catch {
    return true;
  }
}
