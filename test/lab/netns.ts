/**
 * Network-namespace test topologies for end-to-end tests (needs root and iproute2).
 *
 * Every namespace and interface name carries a per-run prefix (`mlv` + 4 random base36 chars),
 * so concurrent runs never collide and cleanup can remove exactly what one run created — never
 * anyone else's namespaces. Namespaces are `<prefix>-<name>` ("mlvk3x9-client"); interfaces are
 * `<prefix><name>` ("mlvk3x9up1"), which keeps them within Linux's 15-char IFNAMSIZ limit.
 *
 * API functions take short names ("client", "up1"); `lab.ns()` / `lab.ifname()` give the full
 * names, e.g. for a VPN config file. Full names are accepted too.
 */
import { openSync, closeSync, readFileSync, rmSync } from "node:fs";
import { constants } from "node:os";
import type { Subprocess } from "bun";

export interface ExecResult {
  /** Exit code, or 128 + signal number if the command was killed (e.g. by the timeout). */
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Kill the command (SIGKILL) after this long. Default 10 s: nothing in a lab may hang forever. */
  timeoutMs?: number;
  /** Added to (not replacing) the current environment. */
  env?: Record<string, string>;
  /** Throw if the exit code is not 0. */
  check?: boolean;
}

/** "pipe", "inherit", "ignore", or a file path (opened in append mode, so stdout and stderr can share it). */
export type StdioTarget = "pipe" | "inherit" | "ignore" | string;

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Default "inherit" (an unread pipe would eventually block a chatty process). */
  stdout?: StdioTarget;
  /** Default "inherit". */
  stderr?: StdioTarget;
}

export interface Lab {
  readonly prefix: string;
  /** Full namespace name for a short name given to createLab. */
  ns(name: string): string;
  /** Full interface name for a short name (at most 8 chars). */
  ifname(name: string): string;
  /** Runs a command inside a namespace and collects its output (bounded by a timeout). */
  exec(ns: string, cmd: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Starts a long-running process inside a namespace; destroy() kills it. */
  spawn(ns: string, cmd: string[], opts?: SpawnOptions): Subprocess;
  /** Kills every process in the lab's namespaces and deletes them. Idempotent. */
  destroy(): Promise<void>;
}

export interface VethEnd {
  ns: string;
  ifname: string;
  /** CIDR address such as "192.168.101.1/24"; omitted = no address. */
  addr?: string;
}

export interface PingOptions {
  /** Echo requests to send (default 3). */
  count?: number;
  /** Interval between requests (default 200 ms). */
  intervalMs?: number;
  /** How long each request waits for its reply (default 1000 ms; fractional -W needs iputils >= 20210202). */
  replyTimeoutMs?: number;
}

export interface PingResult {
  transmitted: number;
  received: number;
  /** Round-trip times of the received replies, in milliseconds. */
  rttsMs: number[];
  /** Every request was answered. */
  ok: boolean;
}

const PREFIX_RE = /^mlv[0-9a-z]{4}$/;
const NS_NAME_RE = /^[a-z][a-z0-9]{0,15}$/;
const IF_NAME_RE = /^[a-z0-9]{1,8}$/; // 7-char prefix + 8 = 15 = IFNAMSIZ - 1
const IP_TIMEOUT_MS = 10_000;
const TERM_GRACE_MS = 2_000;
const KILL_GRACE_MS = 1_000;

/**
 * Per-lab directory for state files, sockets and logs of lab helpers (e.g. the delay lines of
 * topology.ts). Cleanup removes it with the namespaces, so a crashed run leaves no files either.
 */
export const LAB_RUN_ROOT = "/run/mlvpn-lab";

export function labRunDir(prefix: string): string {
  checkPrefix(prefix);
  return `${LAB_RUN_ROOT}/${prefix}`;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Why a lab cannot be built here, or null if it can. Tests print this when they skip. */
export function labSkipReason(): string | null {
  if (!isRoot()) return "network-namespace tests need root (creating namespaces and veths requires CAP_NET_ADMIN)";
  if (!Bun.which("ip")) return "network-namespace tests need iproute2 (`ip` not found)";
  return null;
}

/** Polls predicate until it returns true; every call is also cut off by the deadline (on the monotonic clock: a step of the machine's real-time clock must not end or stretch the wait). */
export async function waitFor(
  predicate: () => Promise<boolean> | boolean,
  opts: { timeoutMs: number; intervalMs?: number; what: string },
): Promise<void> {
  const interval = Math.max(1, opts.intervalMs ?? 50);
  const deadline = performance.now() + opts.timeoutMs;
  const maxTries = Math.ceil(opts.timeoutMs / interval) + 1; // bound the count as well as the time
  for (let i = 0; i < maxTries; i++) {
    const left = deadline - performance.now();
    if (left <= 0) break;
    let timer: Timer | undefined;
    const cutoff = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), left)));
    try {
      if (await Promise.race([Promise.resolve(predicate()), cutoff])) return;
    } finally {
      clearTimeout(timer);
    }
    await Bun.sleep(Math.min(interval, Math.max(0, deadline - performance.now())));
  }
  throw new Error(`timed out after ${opts.timeoutMs}ms waiting for ${opts.what}`);
}

/** Runs a command, killing it after timeoutMs. Output reading is bounded too (a grandchild may hold the pipe). */
async function run(cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? IP_TIMEOUT_MS;
  const proc = Bun.spawn(cmd, {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, LC_ALL: "C", ...opts.env }, // LC_ALL=C: we parse ip/ping output
    timeout: timeoutMs,
    killSignal: "SIGKILL",
  });
  const output = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const [stdout, stderr] = await Promise.race([
    output,
    Bun.sleep(timeoutMs + 1000).then(() => ["", `output not closed within ${timeoutMs + 1000}ms`] as const),
  ]);
  await proc.exited;
  const sig = proc.signalCode;
  const signo = typeof sig === "number" ? sig : sig ? (constants.signals[sig] ?? 0) : 0;
  const result = { code: proc.exitCode ?? 128 + signo, stdout, stderr };
  if (opts.check && result.code !== 0) {
    throw new Error(`\`${cmd.join(" ")}\` failed with code ${result.code}: ${stderr.trim()}`);
  }
  return result;
}

/** Full names of existing namespaces belonging to prefix. */
async function ourNamespaces(prefix: string): Promise<string[]> {
  const r = await run(["ip", "netns", "list"], { check: true });
  // Lines look like "mlvk3x9-client (id: 3)" or just "mlvk3x9-client".
  return r.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter((n) => n.startsWith(`${prefix}-`));
}

/** Alive and not a zombie (a container's PID 1 may never reap orphans, so kill(pid, 0) is not enough). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

function signal(pids: Iterable<number>, sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

async function pidsIn(namespaces: string[]): Promise<number[]> {
  const all: number[] = [];
  for (const ns of namespaces) {
    const r = await run(["ip", "netns", "pids", ns]);
    for (const w of r.stdout.split(/\s+/)) if (/^\d+$/.test(w)) all.push(Number(w));
  }
  return all;
}

function checkPrefix(prefix: string): void {
  // Strict on purpose: a loose prefix such as "mlv" would sweep the namespaces of concurrent runs.
  if (!PREFIX_RE.test(prefix)) throw new Error(`invalid lab prefix ${JSON.stringify(prefix)} (expected mlv + 4 base36 chars)`);
}

async function cleanup(prefix: string, extraPids: number[]): Promise<void> {
  checkPrefix(prefix);
  const namespaces = await ourNamespaces(prefix);
  // Kill first: deleting a namespace only removes its name, processes inside would live on.
  const targets = new Set([...extraPids, ...(await pidsIn(namespaces))]);
  signal(targets, "SIGTERM");
  const gone = () => [...targets].every((p) => !alive(p));
  await waitFor(gone, { timeoutMs: TERM_GRACE_MS, intervalMs: 50, what: "processes to exit" }).catch(() => {});
  if (!gone()) {
    signal(targets, "SIGKILL");
    // A process stuck in uninterruptible sleep survives even SIGKILL; we delete the namespaces anyway.
    await waitFor(gone, { timeoutMs: KILL_GRACE_MS, intervalMs: 50, what: "processes to die" }).catch(() => {});
  }
  for (const ns of namespaces) await run(["ip", "netns", "del", ns]); // a concurrent cleanup may have won: ignore errors
  // Veths are created directly inside namespaces, but sweep the root namespace in case that ever changes.
  const links = await run(["ip", "-o", "link", "show"]);
  for (const m of links.stdout.matchAll(/^\d+:\s+([^:@\s]+)/gm)) {
    if (m[1]?.startsWith(prefix)) await run(["ip", "link", "del", m[1]]);
  }
  rmSync(labRunDir(prefix), { recursive: true, force: true });
  const left = await ourNamespaces(prefix);
  if (left.length > 0) throw new Error(`could not delete namespaces: ${left.join(", ")}`);
}

/**
 * Kills every process in the prefix's namespaces and deletes them. Idempotent and stateless, so it
 * also cleans up after a crashed run whose prefix is known.
 */
export async function cleanupByPrefix(prefix: string): Promise<void> {
  await cleanup(prefix, []);
}

// ---- safety net: labs not destroyed when the process exits are removed synchronously ----

const liveLabs = new Map<string, LabImpl>();
let safetyNetInstalled = false;

function syncCleanupAll(): void {
  for (const lab of liveLabs.values()) {
    // No time to wait in an exit handler: SIGKILL straight away, then drop the namespaces.
    signal(lab.trackedPids(), "SIGKILL");
    const list = Bun.spawnSync(["ip", "netns", "list"], { timeout: 2000 }).stdout.toString();
    for (const line of list.split("\n")) {
      const ns = line.trim().split(/\s+/)[0] ?? "";
      if (!ns.startsWith(`${lab.prefix}-`)) continue;
      const pids = Bun.spawnSync(["ip", "netns", "pids", ns], { timeout: 2000 }).stdout.toString();
      signal(pids.split(/\s+/).filter((w) => /^\d+$/.test(w)).map(Number), "SIGKILL");
      Bun.spawnSync(["ip", "netns", "del", ns], { timeout: 2000 });
    }
    rmSync(labRunDir(lab.prefix), { recursive: true, force: true });
  }
  liveLabs.clear();
}

function installSafetyNet(): void {
  if (safetyNetInstalled) return;
  safetyNetInstalled = true;
  process.on("exit", syncCleanupAll);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      syncCleanupAll();
      // Keep the default "die on signal" behaviour unless someone else also handles the signal.
      if (process.listenerCount(sig) === 1) process.exit(128 + (constants.signals[sig] ?? 0));
    });
  }
}

// ---- the lab ----

function randomPrefix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return "mlv" + [...bytes].map((b) => (b % 36).toString(36)).join("");
}

class LabImpl implements Lab {
  private readonly procs = new Set<Subprocess>();
  private destroying: Promise<void> | undefined;

  constructor(
    readonly prefix: string,
    private readonly names: string[],
  ) {}

  ns(name: string): string {
    if (this.names.includes(name)) return `${this.prefix}-${name}`;
    if (name.startsWith(`${this.prefix}-`) && this.names.includes(name.slice(this.prefix.length + 1))) return name;
    throw new Error(`unknown namespace ${JSON.stringify(name)} in lab ${this.prefix} (have: ${this.names.join(", ")})`);
  }

  ifname(name: string): string {
    const short = name.startsWith(this.prefix) ? name.slice(this.prefix.length) : name;
    if (!IF_NAME_RE.test(short)) throw new Error(`invalid interface name ${JSON.stringify(name)} (1-8 chars of [a-z0-9])`);
    return this.prefix + short;
  }

  exec(ns: string, cmd: string[], opts?: ExecOptions): Promise<ExecResult> {
    return run(["ip", "netns", "exec", this.ns(ns), ...cmd], opts);
  }

  spawn(ns: string, cmd: string[], opts: SpawnOptions = {}): Subprocess {
    if (this.destroying) throw new Error(`lab ${this.prefix} is destroyed`);
    const fds: number[] = [];
    const stdio = (t: StdioTarget | undefined) => {
      if (t === undefined || t === "pipe" || t === "inherit" || t === "ignore") return t ?? "inherit";
      const fd = openSync(t, "a");
      fds.push(fd);
      return fd;
    };
    try {
      // `ip netns exec` execs the command in place (no fork), so proc.pid is the command itself.
      const proc = Bun.spawn(["ip", "netns", "exec", this.ns(ns), ...cmd], {
        stdin: "ignore",
        stdout: stdio(opts.stdout),
        stderr: stdio(opts.stderr),
        env: { ...process.env, ...opts.env },
      });
      this.procs.add(proc);
      void proc.exited.then(() => this.procs.delete(proc));
      return proc;
    } finally {
      for (const fd of fds) closeSync(fd); // the child has its own copy
    }
  }

  trackedPids(): number[] {
    return [...this.procs].filter((p) => p.exitCode === null && p.signalCode === null).map((p) => p.pid);
  }

  destroy(): Promise<void> {
    this.destroying ??= cleanup(this.prefix, this.trackedPids()).then(() => {
      liveLabs.delete(this.prefix);
    });
    return this.destroying;
  }
}

/**
 * Lets the lab outlive this process: the exit safety net no longer removes it, and its processes
 * are no longer tracked (they stay in its namespaces, where cleanupByPrefix finds them). For the
 * lab CLI, whose `up` returns while the lab keeps running.
 */
export function keepAfterExit(lab: Lab): void {
  liveLabs.delete(lab.prefix);
}

/**
 * A handle on a lab that already exists (e.g. made by an earlier `scripts/lab.ts up`), for exec,
 * spawn and destroy. Nothing is created; the namespaces are assumed to be there.
 */
export function attachLab(prefix: string, namespaces: string[]): Lab {
  checkPrefix(prefix);
  return new LabImpl(prefix, [...namespaces]);
}

/** Creates the namespaces (loopback up) under a fresh prefix. On any failure, everything created is removed. */
export async function createLab(opts: { namespaces: string[] }): Promise<Lab> {
  for (const n of opts.namespaces) {
    if (!NS_NAME_RE.test(n)) throw new Error(`invalid namespace name ${JSON.stringify(n)} (1-16 chars of [a-z0-9], starting with a letter)`);
  }
  if (new Set(opts.namespaces).size !== opts.namespaces.length) throw new Error("duplicate namespace names");
  installSafetyNet();
  const existing = (await run(["ip", "netns", "list"], { check: true })).stdout;
  let prefix = randomPrefix();
  for (let i = 0; i < 10 && existing.includes(prefix); i++) prefix = randomPrefix(); // bounded collision retry
  if (existing.includes(prefix)) throw new Error("could not find an unused lab prefix");
  const lab = new LabImpl(prefix, [...opts.namespaces]);
  liveLabs.set(prefix, lab); // registered before creating anything, so the exit net covers a half-built lab
  try {
    for (const n of opts.namespaces) {
      await run(["ip", "netns", "add", lab.ns(n)], { check: true });
      await run(["ip", "-n", lab.ns(n), "link", "set", "lo", "up"], { check: true });
    }
  } catch (e) {
    await lab.destroy();
    throw e;
  }
  return lab;
}

/** Creates a veth pair directly between two namespaces (it never appears in the root namespace), with addresses, up. */
export async function addVeth(lab: Lab, a: VethEnd, b: VethEnd): Promise<{ a: string; b: string }> {
  const [nsA, nsB, ifA, ifB] = [lab.ns(a.ns), lab.ns(b.ns), lab.ifname(a.ifname), lab.ifname(b.ifname)];
  await run(["ip", "link", "add", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB], { check: true });
  for (const [ns, ifname, addr] of [[nsA, ifA, a.addr], [nsB, ifB, b.addr]] as const) {
    if (addr !== undefined) {
      // Without a prefix length ip would silently use /32 and no connected route would exist.
      if (!/\/\d+$/.test(addr)) throw new Error(`address ${JSON.stringify(addr)} needs a prefix length, e.g. /24`);
      await run(["ip", "-n", ns, "addr", "add", addr, "dev", ifname], { check: true });
    }
    await run(["ip", "-n", ns, "link", "set", ifname, "up"], { check: true });
  }
  return { a: ifA, b: ifB };
}

export async function setLinkUp(lab: Lab, ns: string, ifname: string, up: boolean): Promise<void> {
  await run(["ip", "-n", lab.ns(ns), "link", "set", lab.ifname(ifname), up ? "up" : "down"], { check: true });
}

/** IPv4 forwarding is per namespace (and off by default in a new one). */
export async function setForwarding(lab: Lab, ns: string, on: boolean): Promise<void> {
  await lab.exec(ns, ["sysctl", "-q", "-w", `net.ipv4.ip_forward=${on ? 1 : 0}`], { check: true });
}

/**
 * Pings addr from inside ns: `count` echo requests `intervalMs` apart, each waiting up to
 * `replyTimeoutMs` for its own reply; finishes within about count*interval + replyTimeout. One
 * `ping -c 1` per request: a single `ping -c count`, once any reply has come, waits only
 * max(2 × its largest RTT, the interval) after its last request (its -W counts only while
 * nothing came back) and counts every reply still on its way as lost, so on a busy machine a
 * late reply, mostly the last one's, was a lost one.
 */
export async function pingOk(lab: Lab, ns: string, addr: string, opts: PingOptions = {}): Promise<PingResult> {
  const count = opts.count ?? 3;
  const intervalMs = opts.intervalMs ?? 200;
  const replyTimeoutMs = opts.replyTimeoutMs ?? 1000;
  // -q: each ping writes its summary once, at exit (one write, so the concurrent ones do not mix).
  const one = `ping -n -q -c 1 -W ${replyTimeoutMs / 1000} ${addr}`;
  const script = `i=0; while [ $i -lt ${count} ]; do ${one} & i=$((i + 1)); if [ $i -lt ${count} ]; then sleep ${intervalMs / 1000}; fi; done; wait`;
  // The backstop allows for slow process starts on a busy machine (the requests go later, not fewer).
  const r = await lab.exec(ns, ["sh", "-c", script], { timeoutMs: count * (intervalMs + 100) + replyTimeoutMs + 5000 });
  if (r.code === 127 || /not found|No such file/.test(r.stderr)) throw new Error(`ping is not available: ${r.stderr.trim()}`);
  let transmitted = 0;
  let received = 0;
  for (const m of r.stdout.matchAll(/(\d+) packets transmitted, (\d+) received/g)) {
    transmitted += Number(m[1]);
    received += Number(m[2]);
  }
  const rttsMs = [...r.stdout.matchAll(/= ([\d.]+)\/[\d.]+\/[\d.]+\/[\d.]+ ms/g)].map((m) => Number(m[1]));
  return { transmitted, received, rttsMs, ok: received === count };
}
