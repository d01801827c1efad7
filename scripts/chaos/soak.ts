/**
 * The soak and the resource-exhaustion runs of `npm run chaos`.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, type Side } from "../../test/lab/mlvpn.ts";
import { transfer } from "../../test/lab/transfer.ts";
import { alive, type ChaosLab, logSince, logSize, mib, row, type Row, sample, stackTraces, startChaosLab, startPing, udpCounters } from "./harness.ts";

const BUN = process.execPath;

/** Short TCP connections (connect, 100 bytes each way, close) every 100 ms, LAN → internet host. */
const ECHO_SERVER = (host: string) => `
Bun.listen({ hostname: "${host}", port: 7001, socket: { data(s, d) { s.write(d); s.end(); } } });
console.log("listening");
`;
const ECHO_CLIENT = (host: string) => `
let ok = 0, failed = 0;
const until = performance.now() + Number(process.argv[2]) * 1000;
while (performance.now() < until) {
  const t = performance.now();
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("timeout")), 5000);
      Bun.connect({ hostname: "${host}", port: 7001, socket: {
        open(s) { s.write("x".repeat(100)); },
        data() {},
        close() { clearTimeout(timer); resolve(undefined); },
        error(_s, e) { clearTimeout(timer); reject(e); },
        connectError(_s, e) { clearTimeout(timer); reject(e); },
      } }).catch(reject);
    });
    ok++;
  } catch { failed++; }
  await Bun.sleep(Math.max(0, 100 - (performance.now() - t)));
}
console.log(JSON.stringify({ ok, failed }));
`;

interface Sample {
  t: number;
  side: Side;
  rssKiB: number;
  fds: number;
  cpuSeconds: number;
  threads: number;
}

export async function soak(lab: ChaosLab, scale: number): Promise<{ rows: Row[]; notes: string[]; data: Record<string, unknown> }> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const { topo, dir } = lab;
  const seconds = Math.max(60, Math.round(600 * scale));
  const warmup = Math.max(30, Math.round(seconds / 5));
  const pid = { client: lab.proc.client.pid, server: lab.proc.server.pid };
  const logStart = { client: logSize(dir, "client"), server: logSize(dir, "server") };

  writeFileSync(join(dir, "echo-server.ts"), ECHO_SERVER(topo.internetHost));
  writeFileSync(join(dir, "echo-client.ts"), ECHO_CLIENT(topo.internetHost));
  const echo = topo.lab.spawn("inet", [BUN, join(dir, "echo-server.ts")], { stdout: "ignore", stderr: join(dir, "echo.err") });
  await Bun.sleep(1000);
  const iperfServer = topo.lab.spawn("inet", ["iperf3", "-s", "-1", "-B", topo.internetHost], { stdout: "ignore", stderr: "ignore" });
  await Bun.sleep(500);
  const bulk = topo.lab.exec("lan", ["iperf3", "-c", topo.internetHost, "-b", "8M", "-t", String(seconds), "-J"], { timeoutMs: (seconds + 60) * 1000 });
  const shortConns = topo.lab.exec("lan", [BUN, join(dir, "echo-client.ts"), String(seconds)], { timeoutMs: (seconds + 60) * 1000 });
  const ping = startPing(lab, 0.02);

  const samples: Sample[] = [];
  const t0 = performance.now();
  for (let k = 0; (performance.now() - t0) / 1000 < seconds && k < seconds; k++) {
    const t = (performance.now() - t0) / 1000;
    for (const side of ["client", "server"] as const) if (alive(lab.proc[side])) samples.push({ t, side, ...sample(lab.proc[side].pid) });
    await Bun.sleep(Math.max(0, (k + 1) * 10_000 - (performance.now() - t0)));
  }
  const p = await ping.stop();
  const bulkOut = await bulk;
  const conns = JSON.parse((await shortConns).stdout || "{}") as { ok?: number; failed?: number };
  echo.kill();
  iperfServer.kill();
  let bulkMbit = NaN;
  try {
    bulkMbit = JSON.parse(bulkOut.stdout).end.sum_received.bits_per_second / 1e6;
  } catch {
    notes.push(`the bulk stream did not report: ${bulkOut.stderr.slice(0, 200)}`);
  }

  rows.push(row("duration (warm-up)", `${seconds} s (${warmup} s)`, `${Math.round(600 * scale)} s`, true));
  rows.push(row("bulk TCP stream (iperf3 at 8 Mbit/s)", `${bulkMbit.toFixed(2)} Mbit/s received`, "informative", true));
  rows.push(row("ping 50 pps", `${p.received}/${p.transmitted} answered`, "informative", true));
  rows.push(row("short TCP connections", `${conns.ok ?? "?"} completed, ${conns.failed ?? "?"} failed`, "0 failed", conns.failed === 0 && (conns.ok ?? 0) > 0));
  for (const side of ["client", "server"] as const) {
    const same = alive(lab.proc[side]) && lab.proc[side].pid === pid[side];
    rows.push(row(`${side}: same process throughout`, same ? "yes" : "no", "yes", same));
    const s = samples.filter((x) => x.side === side && x.t >= warmup);
    if (s.length < 2) {
      rows.push(row(`${side}: samples after warm-up`, s.length, "≥ 2", false));
      continue;
    }
    // Growth after warm-up: the mean of the last three samples over the mean of the first three
    // (single samples move with the garbage collector's rhythm).
    const mean = (xs: Sample[]) => xs.reduce((a, x) => a + x.rssKiB, 0) / xs.length;
    const first = mean(s.slice(0, 3));
    const last = mean(s.slice(-3));
    const growth = (100 * (last - first)) / first;
    rows.push(row(`${side}: RSS after warm-up → end (MiB)`, `${mib(first)} → ${mib(last)} (${growth >= 0 ? "+" : ""}${growth.toFixed(1)} %)`, "growth < 5 %", growth < 5));
    const fds = [...new Set(s.map((x) => x.fds))];
    rows.push(row(`${side}: open fds after warm-up`, fds.join(", "), "constant", fds.length === 1));
    const threads = [...new Set(s.map((x) => x.threads))];
    rows.push(row(`${side}: threads after warm-up`, threads.join(", "), "informative", true));
    const cpu = (s.at(-1)!.cpuSeconds - s[0]!.cpuSeconds) / (s.at(-1)!.t - s[0]!.t);
    rows.push(row(`${side}: CPU after warm-up`, `${(100 * cpu).toFixed(1)} % of a core`, "informative", true));
    const log = logSince(dir, side, logStart[side]);
    const warnings = log.split("\n").filter((l) => /\[(WARN|ERR)/.test(l)).length;
    rows.push(row(`${side}: warnings and errors logged`, `${warnings} (${(warnings / (seconds / 60)).toFixed(1)} per minute)`, "no storm: ≤ 1 per minute", warnings <= seconds / 60));
    const traces = stackTraces(log);
    rows.push(row(`${side}: stack traces in the log`, traces.length, "0", traces.length === 0));
  }
  return { rows, notes, data: { samples, bulkMbit, ping: p, conns } };
}

/** The server restarted under a wrapper (`sh -c '...; exec mlvpn ...'`), its output to logFile. */
function restartServerUnder(lab: ChaosLab, prefix: string, logFile?: string): void {
  lab.proc.server.kill("SIGKILL");
  const conf = join(lab.dir, "server.conf");
  const out = logFile ?? join(lab.dir, "server.log");
  lab.proc.server = lab.topo.lab.spawn("server", ["sh", "-c", `${prefix} exec "$0" -c "$1" --yes-run-as-root --debug >>"$2" 2>&1`, BIN, conf, out], { stdout: "ignore", stderr: "ignore" });
}

/** A 5 MB transfer through the tunnel: intact? */
async function transferOk(lab: ChaosLab): Promise<{ ok: boolean; seconds: number }> {
  try {
    const { sent, received } = await transfer(lab.topo, lab.dir, 5, 0);
    return { ok: received.sha256 === sent.sha256 && received.bytes === 5 * 1024 * 1024, seconds: sent.seconds };
  } catch {
    return { ok: false, seconds: NaN };
  }
}

/** The smallest socket_buffer mlvpn accepts: the kernel keeps twice it, room for ~3 full-size datagrams. */
const TINY_BUFFER = 4096;

/**
 * The server restarted with socket_buffer = TINY_BUFFER on both links (net.core.rmem_default
 * cannot be set inside a network namespace, and mlvpn sets its own buffers anyway), then 5 MB
 * through the tunnel: it must arrive, slower, with no link declared down.
 */
async function tinyBuffers(lab: ChaosLab, baseSeconds: number, rows: Row[], data: Record<string, unknown>): Promise<void> {
  const conf = join(lab.dir, "server.conf");
  const original = readFileSync(conf, "utf8");
  writeFileSync(conf, original.replace(/^(bindport = \d+)$/gm, `$1\nsocket_buffer = ${TINY_BUFFER}`));
  try {
    restartServerUnder(lab, "");
    const back = await lab.probeBack(15_000);
    const ss = (await lab.topo.lab.exec("server", ["ss", "-uamnH"])).stdout;
    const rb = [...ss.matchAll(/rb(\d+),/g)].map((m) => Number(m[1]));
    const kernel0 = await udpCounters(lab.topo, "server");
    const st0 = await lab.status("client");
    const tiny = await transferOk(lab);
    const st1 = await lab.status("client");
    const kernel1 = await udpCounters(lab.topo, "server");
    const drops = (kernel1.RcvbufErrors ?? 0) - (kernel0.RcvbufErrors ?? 0);
    const newDisconnects = st1.tunnels.reduce((a, t) => a + t.disconnects, 0) - st0.tunnels.reduce((a, t) => a + t.disconnects, 0);
    data.tinyBuffers = { rb, drops, seconds: tiny.seconds, back };
    rows.push(row(`socket_buffer = ${TINY_BUFFER} on the server's links: the tunnel up`, back === null ? "no tunnel within 15 s" : `up in ${back.toFixed(2)} s; receive buffers (ss -m rb) ${rb.join(", ")} bytes`, "up", back !== null));
    rows.push(row("… 5 MB through the tunnel", tiny.ok ? `intact in ${tiny.seconds.toFixed(2)} s (4 MiB buffers: ${baseSeconds.toFixed(2)} s); ${drops} datagrams dropped by the kernel (full buffer)` : "failed", "intact, slower", tiny.ok));
    rows.push(row("… links declared down meanwhile (false timeouts)", newDisconnects, "0", newDisconnects === 0));
  } finally {
    writeFileSync(conf, original);
  }
}

export async function exhaustion(_unused: ChaosLab, _scale: number): Promise<{ rows: Row[]; notes: string[]; data: Record<string, unknown> }> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const data: Record<string, unknown> = {};
  const lab = await startChaosLab();
  const cgroup = `/sys/fs/cgroup/cpu/mlvpn-chaos-${lab.topo.lab.prefix}`;
  const mnt = join(lab.dir, "full");
  try {
    await Bun.sleep(1000);
    const base = await transferOk(lab);
    rows.push(row("5 MB through the tunnel, nothing limited", base.ok ? `${base.seconds.toFixed(2)} s` : "failed", "intact", base.ok));

    // 1. Few file descriptors: 32 (a tun, two link sockets, the control listeners, Bun's own).
    restartServerUnder(lab, "ulimit -n 32;");
    let back = await lab.probeBack(15_000);
    const fdStart = alive(lab.proc.server);
    const fdHold = await lab.topo.lab.exec("server", [BUN, join(import.meta.dir, "hostile-control.ts"), JSON.stringify({ unix: lab.sock("server"), port: 7080, count: 100, concurrency: 20, hold: 100, seed: 3, slow: 0 })], { timeoutMs: 120_000 });
    const fdAfter = await transferOk(lab);
    rows.push(row("open files limited to 32: the server starts, tunnel up", back === null ? `${fdStart ? "running" : `exited ${lab.proc.server.exitCode}`}, no tunnel` : `up in ${back.toFixed(2)} s`, "up", back !== null));
    rows.push(row("… 100 control clients at once over the limit, then 5 MB", `${alive(lab.proc.server) ? "server running" : "server gone"}, transfer ${fdAfter.ok ? "intact" : "failed"}`, "running, intact", alive(lab.proc.server) && fdAfter.ok));
    data.fdControl = fdHold.stdout.trim();

    // 2. The log on a full disk: a 256 KiB tmpfs, filled, holding the server's stderr.
    mkdirSync(mnt, { recursive: true });
    await Bun.$`mount -t tmpfs -o size=256k chaosfull ${mnt}`.quiet();
    await Bun.$`dd if=/dev/zero of=${join(mnt, "filler")} bs=4k count=1000`.quiet().nothrow();
    restartServerUnder(lab, "", join(mnt, "server.log"));
    back = await lab.probeBack(15_000);
    // Something to log: uplink 1 down and back (link down/up lines).
    await lab.topo.cut(0);
    await Bun.sleep(7000);
    await lab.topo.restore(0);
    const fullAfter = await transferOk(lab);
    rows.push(row("log on a full disk: the server starts and keeps going", `${back === null ? "no tunnel" : `up in ${back.toFixed(2)} s`}, ${alive(lab.proc.server) ? "running" : `exited ${lab.proc.server.exitCode}`}, transfer ${fullAfter.ok ? "intact" : "failed"}`, "up, running, intact", back !== null && alive(lab.proc.server) && fullAfter.ok));

    // 3. CPU throttled to 20 % of a core (cgroup v1 cpu controller).
    restartServerUnder(lab, "");
    await lab.probeBack(15_000);
    if (existsSync("/sys/fs/cgroup/cpu/cgroup.procs")) {
      mkdirSync(cgroup);
      writeFileSync(join(cgroup, "cpu.cfs_period_us"), "100000");
      writeFileSync(join(cgroup, "cpu.cfs_quota_us"), "20000");
      writeFileSync(join(cgroup, "cgroup.procs"), String(lab.proc.server.pid));
      const st0 = await lab.status("client");
      const slow = await transferOk(lab);
      const st1 = await lab.status("client");
      const newDisconnects = st1.tunnels.reduce((a, t) => a + t.disconnects, 0) - st0.tunnels.reduce((a, t) => a + t.disconnects, 0);
      const throttled = Number(/nr_throttled (\d+)/.exec(readFileSync(join(cgroup, "cpu.stat"), "utf8"))?.[1] ?? 0);
      rows.push(row("server at 20 % of a core: 5 MB through the tunnel", slow.ok ? `intact in ${slow.seconds.toFixed(2)} s (unlimited: ${base.seconds.toFixed(2)} s; throttled ${throttled} times)` : "failed", "intact, slower", slow.ok));
      rows.push(row("… links declared down meanwhile (false timeouts)", newDisconnects, "0", newDisconnects === 0));
    } else notes.push("No cgroup v1 cpu controller at /sys/fs/cgroup/cpu: the CPU throttle was not run.");
    await tinyBuffers(lab, base.seconds, rows, data);
    const traces = stackTraces(logSince(lab.dir, "server", 0));
    rows.push(row("stack traces in the server's log", traces.length, "0", traces.length === 0));
  } finally {
    lab.proc.server.kill("SIGKILL");
    await Bun.sleep(200);
    await Bun.$`umount ${mnt}`.quiet().nothrow();
    await lab.destroy();
    if (existsSync(cgroup)) {
      // Processes left are gone with the lab; an empty cgroup can be removed.
      try {
        rmdirSync(cgroup);
      } catch {
        notes.push(`could not remove ${cgroup}`);
      }
    }
  }
  return { rows, notes, data };
}
