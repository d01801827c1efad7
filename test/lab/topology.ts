/**
 * The deployment guide's topology in network namespaces, with impaired uplinks:
 *
 *   lan ── client ══ uplink 0..n-1 ══ server ── inet
 *   10.10.0.2   10.10.0.1        172.31.255.1 (lo)   10.20.0.1   10.20.0.2
 *
 * Uplink i joins client 192.168.(101+i).2/24 and server 192.168.(101+i).1/24 through a delay line
 * (delayline.ts, a process in the lab's "wire" namespace owning both TAPs: delay, jitter, loss,
 * cut) and htb on both TAPs' egress (rate, queue length). The client routes by source address as
 * in the guide (table 100+i, `ip rule from 192.168.(101+i).0/24`) and has no default route: lan →
 * inet only works once a VPN adds one. No NAT.
 *
 * Rate is what htb counts: Ethernet frames (IP packet + 14 bytes). A link may instead follow a
 * Mahimahi trace (`trace`, see delayline.ts and bench/traces/README.md), each direction its own:
 * there the delay line does the rate in userspace and counts IP packets, as Mahimahi does.
 *
 * State (shapes, cut/down flags) is kept in <labRunDir>/topology.json beside the delay lines'
 * sockets and logs, so that scripts/lab.ts can act on a lab made by an earlier invocation, and
 * cleanupByPrefix() removes it all.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ControlRequest, ControlResponse, DirectionCounters, DirectionParams } from "./delayline.ts";
import { loadTrace, resolveTracePath } from "./trace.ts";
import { bucketBytes, LAB_BUCKET_MS } from "../sim/pathmodel.ts";
import { addVeth, attachLab, createLab, keepAfterExit, LAB_RUN_ROOT, labRunDir, labSkipReason, setForwarding, waitFor, type Lab } from "./netns.ts";

export interface UplinkShape {
  /** Both directions, Mbit/s of Ethernet frames; undefined = unlimited (no htb). */
  rateMbit?: number;
  /** One-way, added in each direction. */
  delayMs?: number;
  /** Uniform extra 0..jitterMs per frame, without reordering. */
  jitterMs?: number;
  /** Random loss in each direction, percent. */
  lossPct?: number;
  /** Bottleneck queue limit in packets (bufferbloat), htb's or the trace's; default 100. Only used with a rate or a trace. */
  queuePackets?: number;
  /**
   * A Mahimahi trace instead of rateMbit: its name in bench/traces ("Verizon-LTE-short") or a
   * path without the extension; `<trace>.up` drives client → server, `<trace>.down` server → client.
   */
  trace?: string;
}

export interface UplinkInfo {
  index: number;
  clientAddr: string;
  serverAddr: string;
  clientIf: string;
  serverIf: string;
}

export interface LinkCounters {
  clientTxBytes: number;
  clientRxBytes: number;
  clientTxPackets: number;
  clientRxPackets: number;
}

export interface DelayLineStatus {
  /** "ab" = client → server (upload), "ba" = server → client. */
  params: Record<"ab" | "ba", DirectionParams>;
  counters: Record<"ab" | "ba", DirectionCounters>;
}

export interface Topology {
  /** Namespaces "lan", "client", "server", "inet" (+ internal "wire", where the delay lines run). */
  readonly lab: Lab;
  readonly uplinks: UplinkInfo[];
  readonly serverPublic: string;
  readonly lanHost: string;
  readonly lanGateway: string;
  readonly internetHost: string;
  /** Live; merges with the current shape (pass `rateMbit: undefined` to remove the rate limit). */
  shape(i: number, s: Partial<UplinkShape>): Promise<void>;
  /** Blackholes both directions (frames in flight too); the interface stays up. */
  cut(i: number): Promise<void>;
  restore(i: number): Promise<void>;
  /** The client-side interface down/up (up also restores the uplink's route, which "down" deletes). */
  setLinkDown(i: number, down: boolean): Promise<void>;
  counters(i: number): Promise<LinkCounters>;
  /** The current shape, cut and down flags of uplink i. */
  state(i: number): { shape: UplinkShape; cut: boolean; down: boolean };
  /** The delay line's parameters and counters per direction. */
  delayLine(i: number): Promise<DelayLineStatus>;
  /** Starts the traces of uplink i (every uplink when omitted) from their first line now; no-op without a trace. */
  rewind(i?: number): Promise<void>;
  /** Kills the delay lines, deletes the namespaces and the state files. Idempotent. */
  destroy(): Promise<void>;
}

export const SERVER_PUBLIC = "172.31.255.1";
export const LAN_HOST = "10.10.0.2";
export const LAN_GATEWAY = "10.10.0.1";
export const INTERNET_HOST = "10.20.0.2";
export const INTERNET_GATEWAY = "10.20.0.1";
export const NAMESPACES = ["lan", "client", "server", "inet", "wire"];
export const DEFAULT_QUEUE_PACKETS = 100;
const DELAYLINE = join(import.meta.dir, "delayline.ts");

/**
 * The command prefix that runs a lab process with the priority of a wire: SCHED_FIFO 1 where the
 * kernel lets us (root, a real-time budget), else nice -15. Also for the measuring tools of the
 * lab's self-test (test/lab/selftest.test.ts).
 */
export const WIRE_PRIORITY: readonly string[] = Bun.spawnSync(["chrt", "-f", "1", "true"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0 ? ["chrt", "-f", "1"] : ["nice", "-n", "-15"];
const STARTUP_TIMEOUT_MS = 15_000;
const CONTROL_TIMEOUT_MS = 3_000;

interface State {
  prefix: string;
  /** "cli": made by scripts/lab.ts up (kept after it exits); "api": by a test or script. */
  owner: "api" | "cli";
  pid: number;
  seed: number;
  uplinks: UplinkInfo[];
  shapes: UplinkShape[];
  cut: boolean[];
  down: boolean[];
}

const stateFile = (prefix: string) => join(labRunDir(prefix), "topology.json");
const controlSocket = (prefix: string, i: number) => join(labRunDir(prefix), `dl${i}.sock`);
const uplinkSubnet = (i: number) => `192.168.${101 + i}`;

function validateShape(s: Partial<UplinkShape>, what: string): void {
  const check = (v: number | undefined, name: string, ok: (n: number) => boolean, range: string) => {
    if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || !ok(v))) throw new Error(`${what}: ${name} must be ${range}, got ${v}`);
  };
  check(s.rateMbit, "rateMbit", (n) => n > 0 && n <= 100_000, "> 0 (Mbit/s)");
  check(s.delayMs, "delayMs", (n) => n >= 0 && n <= 60_000, "0…60000 ms");
  check(s.jitterMs, "jitterMs", (n) => n >= 0 && n <= 60_000, "0…60000 ms");
  check(s.lossPct, "lossPct", (n) => n >= 0 && n <= 100, "0…100 %");
  check(s.queuePackets, "queuePackets", (n) => Number.isInteger(n) && n >= 1 && n <= 100_000, "an integer ≥ 1");
  if (s.trace !== undefined) {
    if (typeof s.trace !== "string" || s.trace === "") throw new Error(`${what}: trace must be a trace name or path, got ${JSON.stringify(s.trace)}`);
    if (s.rateMbit !== undefined) throw new Error(`${what}: rateMbit and trace exclude each other (the trace is the rate)`);
    for (const ext of [".up", ".down"]) loadTrace(resolveTracePath(s.trace + ext)); // throws with the file and line
  }
}

/** The delay line's trace settings for a shape: `.up` client → server ("ab"), `.down` the other way. */
async function applyTrace(path: string, s: UplinkShape): Promise<void> {
  for (const [dir, ext] of [["ab", ".up"], ["ba", ".down"]] as const) {
    await control(path, { op: "set", dir, trace: s.trace ? resolveTracePath(s.trace + ext) : null, queuePackets: s.queuePackets ?? DEFAULT_QUEUE_PACKETS });
  }
}

/** One request over a delay line's control socket. */
async function control(path: string, req: ControlRequest): Promise<DelayLineStatus> {
  let text = "";
  const reply = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`delay line ${path}: no answer within ${CONTROL_TIMEOUT_MS} ms`)), CONTROL_TIMEOUT_MS);
    let settled = false;
    const done = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    Bun.connect({
      unix: path,
      socket: {
        open: (s) => void s.write(`${JSON.stringify(req)}\n`),
        data(s, chunk) {
          text += chunk.toString();
          const nl = text.indexOf("\n");
          if (nl < 0) return;
          done(() => resolve(text.slice(0, nl))); // first: end() may run close() synchronously
          s.end();
        },
        close: () => done(() => reject(new Error(`delay line ${path}: connection closed without an answer`))),
        connectError: (_s, e) => done(() => reject(new Error(`delay line ${path}: ${e.message}`))),
      },
    }).catch((e: Error) => done(() => reject(e)));
  });
  const r = JSON.parse(reply) as ControlResponse;
  if (!r.ok) throw new Error(`delay line ${path}: ${r.error}`);
  return { params: r.params, counters: r.counters };
}

/**
 * How late htb's dequeue may come without the link losing capacity. htb earns tokens with time
 * and caps them at its bucket (burst); a dequeue that comes later than the bucket lasts loses the
 * difference for good. tc's default bucket is rate/HZ + 1600 bytes with HZ read from
 * /proc/net/psched, which a high-resolution-timer kernel reports as 10^9: the bucket is one frame,
 * and any dequeue more than ~0.06 ms late (a frame's time at 20 Mbit/s is 0.58 ms) costs rate.
 * The dequeue runs from the watchdog timer's softirq, deferred to ksoftirqd (an ordinary thread)
 * on a busy machine: with that default bucket the lab's 20 Mbit/s link passed 17.3–19.5 Mbit/s
 * while htb was backlogged (load 2–11 on 2 cores, test/lab/selftest.test.ts), 8 Mbit/s passed
 * 7.47; with 5 ms, 18.9 once in 20 measurements at a load of 7–11 (a sampler reading htb every
 * ~20 ms saw it backlogged throughout: tokens lost, not a sender that paused); with 10 ms, none
 * in 45 (9 self-test runs at a load of 7–15; a 10th failed when no sender could keep htb busy,
 * at a load of 28). The price: after an idle spell htb sends this much at once (at 20 Mbit/s, 25 kB: 17
 * frames, 10 ms of queueing spared), which a real link's first frames after idle also skip.
 */
export const HTB_LATE_DEQUEUE_MS = LAB_BUCKET_MS;
/** htb's bucket (burst and cburst), bytes, for a rate in Mbit/s: one frame plus HTB_LATE_DEQUEUE_MS of tokens. */
export function htbBurstBytes(rateMbit: number): number {
  return bucketBytes(rateMbit, HTB_LATE_DEQUEUE_MS);
}

/** htb on the egress of one end of an uplink: rate and leaf queue length, or no qdisc of ours when unlimited. */
async function applyRate(lab: Lab, ns: string, dev: string, s: UplinkShape): Promise<void> {
  if (s.rateMbit === undefined) {
    // Fails harmlessly when there is no htb yet (the default qdisc cannot be deleted).
    await lab.exec(ns, ["tc", "qdisc", "del", "dev", dev, "root"]);
    return;
  }
  const rate = `${s.rateMbit}mbit`;
  const tc = (...args: string[]) => lab.exec(ns, ["tc", ...args], { check: true });
  // htb has no "change": add it once; the class and leaf "replace" are changes in place, so a
  // live change keeps the queued packets.
  const current = await tc("qdisc", "show", "dev", dev, "root");
  if (!/^qdisc htb 1: /m.test(current.stdout)) await tc("qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb", "default", "1");
  // One class: quantum only matters between classes; a fixed one avoids htb's "quantum is big" warnings.
  const burst = String(htbBurstBytes(s.rateMbit));
  await tc("class", "replace", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", rate, "ceil", rate, "burst", burst, "cburst", burst, "quantum", "1514");
  await tc("qdisc", "replace", "dev", dev, "parent", "1:1", "handle", "10:", "pfifo", "limit", String(s.queuePackets ?? DEFAULT_QUEUE_PACKETS));
}

class LabTopology implements Topology {
  readonly serverPublic = SERVER_PUBLIC;
  readonly lanHost = LAN_HOST;
  readonly lanGateway = LAN_GATEWAY;
  readonly internetHost = INTERNET_HOST;

  constructor(
    readonly lab: Lab,
    private readonly st: State,
  ) {}

  get uplinks(): UplinkInfo[] {
    return this.st.uplinks;
  }

  private uplink(i: number): UplinkInfo {
    const u = this.st.uplinks[i];
    if (!u) throw new Error(`unknown uplink ${i} (this lab has uplinks 0…${this.st.uplinks.length - 1})`);
    return u;
  }

  save(): void {
    writeFileSync(stateFile(this.st.prefix), `${JSON.stringify(this.st, null, 2)}\n`);
  }

  state(i: number) {
    this.uplink(i);
    return { shape: { ...this.st.shapes[i] }, cut: this.st.cut[i]!, down: this.st.down[i]! };
  }

  async shape(i: number, s: Partial<UplinkShape>): Promise<void> {
    const u = this.uplink(i);
    validateShape(s, `uplink ${i}`);
    const next = { ...this.st.shapes[i], ...s };
    validateShape(next, `uplink ${i}`); // rate and trace together
    if ("trace" in s || "queuePackets" in s) await applyTrace(controlSocket(this.st.prefix, i), next);
    if ("rateMbit" in s || "queuePackets" in s) {
      await applyRate(this.lab, "client", u.clientIf, next);
      await applyRate(this.lab, "server", u.serverIf, next);
    }
    if ("delayMs" in s || "jitterMs" in s || "lossPct" in s) {
      await control(controlSocket(this.st.prefix, i), { op: "set", delayMs: next.delayMs ?? 0, jitterMs: next.jitterMs ?? 0, lossPct: next.lossPct ?? 0 });
    }
    this.st.shapes[i] = JSON.parse(JSON.stringify(next)) as UplinkShape; // drops keys set to undefined
    this.save();
  }

  private async setCut(i: number, cut: boolean): Promise<void> {
    this.uplink(i);
    await control(controlSocket(this.st.prefix, i), { op: "set", cut });
    this.st.cut[i] = cut;
    this.save();
  }

  cut(i: number): Promise<void> {
    return this.setCut(i, true);
  }

  restore(i: number): Promise<void> {
    return this.setCut(i, false);
  }

  async setLinkDown(i: number, down: boolean): Promise<void> {
    const u = this.uplink(i);
    await this.lab.exec("client", ["ip", "link", "set", "dev", u.clientIf, down ? "down" : "up"], { check: true });
    // Taking an interface down deletes the routes through it; the connected route comes back by itself, ours does not.
    if (!down) {
      await this.lab.exec("client", ["ip", "route", "replace", "default", "via", u.serverAddr, "dev", u.clientIf, "table", String(100 + i)], { check: true });
      await pinNeighbours(this.lab, u); // taking it down flushed its permanent neighbour too
    }
    this.st.down[i] = down;
    this.save();
  }

  async counters(i: number): Promise<LinkCounters> {
    const u = this.uplink(i);
    const r = await this.lab.exec("client", ["ip", "-s", "-j", "link", "show", "dev", u.clientIf], { check: true });
    const s = (JSON.parse(r.stdout) as { stats64: { rx: { bytes: number; packets: number }; tx: { bytes: number; packets: number } } }[])[0]!.stats64;
    return { clientTxBytes: s.tx.bytes, clientRxBytes: s.rx.bytes, clientTxPackets: s.tx.packets, clientRxPackets: s.rx.packets };
  }

  delayLine(i: number): Promise<DelayLineStatus> {
    this.uplink(i);
    return control(controlSocket(this.st.prefix, i), { op: "get" });
  }

  async rewind(i?: number): Promise<void> {
    const which = i === undefined ? this.st.uplinks.map((u) => u.index) : [this.uplink(i).index];
    // Only the traced links: the requests go out together, so the traces start within a ms or so of each other.
    await Promise.all(which.filter((k) => this.st.shapes[k]!.trace).map((k) => control(controlSocket(this.st.prefix, k), { op: "rewind" })));
  }

  destroy(): Promise<void> {
    return this.lab.destroy(); // kills the delay lines (they live in "wire"), removes labRunDir too
  }
}

/**
 * Each end of uplink u knows the other's MAC for good (a permanent neighbour entry; `replace`, so
 * setting an end again changes nothing). Without it ARP crosses the delay line like any frame: into a full bottleneck, a
 * cut or a lossy link, where a unicast probe of a STALE entry (every ~30 s for one-way UDP, which
 * never confirms a neighbour) is tail-dropped often enough that the entry fails and the sender's
 * datagrams are discarded until ARP gets through: a saturated trace-driven link found its queue
 * empty for 0.3 s, 13 s into a run. A WAN's bottleneck is beyond the router's first hop, whose
 * address resolution it never delays.
 */
async function pinNeighbours(lab: Lab, u: UplinkInfo): Promise<void> {
  const mac = async (ns: string, dev: string) => (await lab.exec(ns, ["cat", `/sys/class/net/${dev}/address`], { check: true })).stdout.trim();
  const [clientMac, serverMac] = await Promise.all([mac("client", u.clientIf), mac("server", u.serverIf)]);
  await lab.exec("client", ["ip", "neigh", "replace", u.serverAddr, "lladdr", serverMac, "dev", u.clientIf, "nud", "permanent"], { check: true });
  await lab.exec("server", ["ip", "neigh", "replace", u.clientAddr, "lladdr", clientMac, "dev", u.serverIf, "nud", "permanent"], { check: true });
}

export async function createTopology(opts: {
  uplinks: UplinkShape[];
  seed?: number;
  /** Keep the lab after this process exits (scripts/lab.ts up); remove it with cleanupByPrefix or `lab.ts down`. */
  persistent?: boolean;
}): Promise<Topology> {
  const skip = labSkipReason();
  if (skip) throw new Error(`the lab topology cannot be built: ${skip}`);
  const n = opts.uplinks.length;
  if (n < 2 || n > 4) throw new Error(`a topology has 2 to 4 uplinks, got ${n}`);
  opts.uplinks.forEach((s, i) => validateShape(s, `uplink ${i}`));
  const seed = opts.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 24) throw new Error(`seed must be an integer in 0…2^24, got ${seed}`);

  const lab = await createLab({ namespaces: NAMESPACES });
  try {
    const dir = labRunDir(lab.prefix);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const uplinks = opts.uplinks.map((_, i): UplinkInfo => ({
      index: i,
      clientAddr: `${uplinkSubnet(i)}.2`,
      serverAddr: `${uplinkSubnet(i)}.1`,
      clientIf: lab.ifname(`up${i}c`),
      serverIf: lab.ifname(`up${i}s`),
    }));
    const topo = new LabTopology(lab, {
      prefix: lab.prefix,
      owner: opts.persistent ? "cli" : "api",
      pid: process.pid,
      seed,
      uplinks,
      shapes: opts.uplinks.map((s) => JSON.parse(JSON.stringify(s)) as UplinkShape),
      cut: uplinks.map(() => false),
      down: uplinks.map(() => false),
    });
    topo.save();
    if (opts.persistent) keepAfterExit(lab);

    // The delay lines start first: each takes a few hundred ms, and they start in parallel.
    // A persistent lab's delay lines get their own session, so closing the terminal (SIGHUP to
    // the CLI's process group) does not take them down. They run with real-time priority
    // (WIRE_PRIORITY): they stand for netem, which runs in the kernel ahead of every process. At
    // the default priority, on a machine loaded 12 deep on 2 cores, they fell behind (a 20 Mbit/s
    // uplink passed 18.5, jitter of 10 ms reached 175 ms; nice -15 was not enough at a load of
    // 22). Each sleeps in ppoll() between frames, so this takes nothing from others while idle.
    const lines = opts.uplinks.map((s, i) =>
      lab.spawn(
        "wire",
        [
          ...(opts.persistent ? ["setsid"] : []),
          ...WIRE_PRIORITY,
          process.execPath, DELAYLINE, "--a", uplinks[i]!.clientIf, "--b", uplinks[i]!.serverIf, "--control", controlSocket(lab.prefix, i),
          "--seed", String(seed * 8 + i), "--delay", String(s.delayMs ?? 0), "--jitter", String(s.jitterMs ?? 0), "--loss", String(s.lossPct ?? 0),
        ],
        { stdout: join(dir, `dl${i}.log`), stderr: join(dir, `dl${i}.log`) },
      ),
    );

    const ip = (ns: string, ...args: string[]) => lab.exec(ns, ["ip", ...args], { check: true });
    await addVeth(lab, { ns: "lan", ifname: "lanh", addr: `${LAN_HOST}/24` }, { ns: "client", ifname: "lanc", addr: `${LAN_GATEWAY}/24` });
    await addVeth(lab, { ns: "server", ifname: "inets", addr: `${INTERNET_GATEWAY}/24` }, { ns: "inet", ifname: "ineth", addr: `${INTERNET_HOST}/24` });
    await ip("lan", "route", "add", "default", "via", LAN_GATEWAY);
    await ip("inet", "route", "add", "default", "via", INTERNET_GATEWAY);
    await ip("server", "addr", "add", `${SERVER_PUBLIC}/32`, "dev", "lo");
    await setForwarding(lab, "client", true);
    await setForwarding(lab, "server", true);

    for (const [i, proc] of lines.entries()) {
      const sock = controlSocket(lab.prefix, i);
      await waitFor(
        async () => {
          if (proc.exitCode !== null || proc.signalCode !== null) {
            const log = existsSync(join(dir, `dl${i}.log`)) ? readFileSync(join(dir, `dl${i}.log`), "utf8").trim() : "";
            throw new Error(`delay line ${i} exited (${proc.exitCode ?? proc.signalCode}): ${log}`);
          }
          return existsSync(sock) && (await control(sock, { op: "get" }).then(() => true, () => false));
        },
        { timeoutMs: STARTUP_TIMEOUT_MS, intervalMs: 50, what: `delay line ${i} to start` },
      );
      if (opts.uplinks[i]!.trace) await applyTrace(sock, opts.uplinks[i]!);
    }

    for (const u of uplinks) {
      const net = uplinkSubnet(u.index);
      await ip("wire", "link", "set", "dev", u.clientIf, "netns", lab.ns("client"));
      await ip("wire", "link", "set", "dev", u.serverIf, "netns", lab.ns("server"));
      // No IPv6 on the uplinks (set after the move: a device gets its new namespace's defaults):
      // router solicitations and MLD reports would cross them and blur rate and loss measurements.
      await lab.exec("client", ["sysctl", "-q", "-w", `net.ipv6.conf.${u.clientIf}.disable_ipv6=1`]);
      await lab.exec("server", ["sysctl", "-q", "-w", `net.ipv6.conf.${u.serverIf}.disable_ipv6=1`]);
      await ip("client", "addr", "add", `${u.clientAddr}/24`, "dev", u.clientIf);
      await ip("server", "addr", "add", `${u.serverAddr}/24`, "dev", u.serverIf);
      await ip("client", "link", "set", "dev", u.clientIf, "up");
      await ip("server", "link", "set", "dev", u.serverIf, "up");
      // Source routing as in the guide: what leaves from this uplink's address uses this uplink.
      await ip("client", "route", "add", "default", "via", u.serverAddr, "dev", u.clientIf, "table", String(100 + u.index));
      await ip("client", "rule", "add", "from", `${net}.0/24`, "table", String(100 + u.index));
      await pinNeighbours(lab, u);
      const s = opts.uplinks[u.index]!;
      await applyRate(lab, "client", u.clientIf, s);
      await applyRate(lab, "server", u.serverIf, s);
    }
    if (opts.persistent) for (const p of lines) p.unref(); // let the CLI exit while they run on
    return topo;
  } catch (e) {
    await lab.destroy();
    throw e;
  }
}

/** Prefixes of the labs that have a topology state file (made by createTopology, possibly by another process). */
export function listTopologies(): { prefix: string; owner: "api" | "cli"; pid: number }[] {
  if (!existsSync(LAB_RUN_ROOT)) return [];
  const out: { prefix: string; owner: "api" | "cli"; pid: number }[] = [];
  for (const name of readdirSync(LAB_RUN_ROOT)) {
    try {
      const st = JSON.parse(readFileSync(stateFile(name), "utf8")) as State;
      out.push({ prefix: st.prefix, owner: st.owner, pid: st.pid });
    } catch {
      // not a topology (or a half-written one): cleanupByPrefix still handles it by name
    }
  }
  return out;
}

/** A handle on a running topology made earlier, possibly by another process (scripts/lab.ts). */
export function attachTopology(prefix: string): Topology {
  let st: State;
  try {
    st = JSON.parse(readFileSync(stateFile(prefix), "utf8")) as State;
  } catch {
    throw new Error(`no lab ${prefix} is up (no ${stateFile(prefix)})`);
  }
  return new LabTopology(attachLab(prefix, NAMESPACES), st);
}
