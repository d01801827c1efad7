/**
 * What every `npm run chaos` test (scripts/chaos.ts) shares: the lab topology with two real
 * dist/mlvpn processes and their control sockets, the probe through the tunnel, the processes'
 * resources (RSS, CPU, fds) read from /proc, their logs scanned for stack traces, and results as
 * rows of figure / bound / pass.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { cpuSeconds, eventsOf, type Side, startEnd } from "../../test/lab/mlvpn.ts";
import { pingOk, waitFor } from "../../test/lab/netns.ts";
import { createTopology, type Topology, type UplinkShape } from "../../test/lab/topology.ts";
import { destroyLab, type LabTunnel, startTunnel } from "../../test/lab/tunnel.ts";
import type { StatusDocument } from "../../src/control/contract.ts";
import { parseMemoryLine } from "../../src/io/memory-report.ts";

export const CONTROL_PORT = 7080;

export interface Row {
  figure: string;
  value: string;
  bound: string;
  pass: boolean;
}

export interface TestResult {
  name: string;
  title: string;
  rows: Row[];
  notes: string[];
  seconds: number;
  /** Raw figures for the JSON file. */
  data: Record<string, unknown>;
}

export const row = (figure: string, value: string | number, bound: string, pass: boolean): Row => ({ figure, value: String(value), bound, pass });

export interface ChaosLab {
  topo: Topology;
  tunnel: LabTunnel;
  dir: string;
  proc: Record<Side, Subprocess>;
  sock(side: Side): string;
  status(side: Side): Promise<StatusDocument>;
  /** Restarts one end (SIGKILL or SIGTERM first), keeping its configuration and log. */
  restart(side: Side, signal?: "SIGKILL" | "SIGTERM"): Promise<void>;
  /** Every ping of `count` through the tunnel (LAN host → internet host) answered. */
  probe(count?: number): Promise<boolean>;
  /** Waits until the probe passes; returns the seconds it took, or null after timeoutMs. */
  probeBack(timeoutMs: number): Promise<number | null>;
  destroy(): Promise<void>;
}

export async function startChaosLab(o: { uplinks?: UplinkShape[]; timeout?: number; general?: (side: Side, dir: string) => string } = {}): Promise<ChaosLab> {
  const topo = await createTopology({ uplinks: o.uplinks ?? [{ rateMbit: 20, delayMs: 5 }, { rateMbit: 20, delayMs: 5 }] });
  let tunnel: LabTunnel;
  try {
    tunnel = await startTunnel(topo, {
      timeout: o.timeout ?? 5,
      general: (side, dir) =>
        `control_unix_path = "${join(dir, `${side}.sock`)}"\ncontrol_bind_host = "127.0.0.1"\ncontrol_bind_port = ${CONTROL_PORT}\n${o.general?.(side, dir) ?? ""}`,
    });
  } catch (e) {
    await topo.destroy();
    throw e;
  }
  const dir = tunnel.dir;
  const proc: Record<Side, Subprocess> = { client: tunnel.client, server: tunnel.server };
  const sock = (side: Side) => join(dir, `${side}.sock`);
  const lab: ChaosLab = {
    topo,
    tunnel,
    dir,
    proc,
    sock,
    async status(side) {
      const r = await fetch("http://localhost/status", { unix: sock(side), signal: AbortSignal.timeout(10_000) } as RequestInit);
      const text = await r.text();
      try {
        return JSON.parse(text) as StatusDocument;
      } catch {
        throw new Error(`${side}'s /status answered ${r.status}: ${text.slice(0, 200)}`);
      }
    },
    async restart(side, signal = "SIGKILL") {
      proc[side].kill(signal);
      await Promise.race([proc[side].exited, Bun.sleep(10_000)]);
      proc[side] = startEnd(topo.lab, dir, side);
    },
    async probe(count = 5) {
      return (await pingOk(topo.lab, "lan", topo.internetHost, { count, intervalMs: 50, replyTimeoutMs: 500 })).ok;
    },
    async probeBack(timeoutMs) {
      const t0 = performance.now();
      try {
        await waitFor(async () => (await pingOk(topo.lab, "lan", topo.internetHost, { count: 1, replyTimeoutMs: 200 })).received === 1, {
          timeoutMs,
          intervalMs: 20,
          what: "the probe through the tunnel",
        });
        return (performance.now() - t0) / 1000;
      } catch {
        return null;
      }
    },
    async destroy() {
      for (const p of Object.values(proc)) p.kill("SIGTERM");
      await Promise.race([Promise.all(Object.values(proc).map((p) => p.exited)), Bun.sleep(5000)]);
      await destroyLab(topo, tunnel);
    },
  };
  return lab;
}

export interface ProcSample {
  rssKiB: number;
  /** Of the RSS: the process's own memory (heap, JIT code, buffers), and file pages (the binary's code and libraries, shared with the page cache). */
  rssAnonKiB: number;
  rssFileKiB: number;
  fds: number;
  cpuSeconds: number;
  threads: number;
}

/** RSS, open fds, CPU time and threads of a live process, from /proc. */
export function sample(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN);
  return { rssKiB: field("VmRSS"), rssAnonKiB: field("RssAnon"), rssFileKiB: field("RssFile"), fds: readdirSync(`/proc/${pid}/fd`).length, cpuSeconds: cpuSeconds(pid), threads: field("Threads") };
}

/** True while the process runs (not exited, not a zombie). */
export function alive(p: Subprocess): boolean {
  if (p.exitCode !== null || p.signalCode !== null) return false;
  try {
    return !/\) Z /.test(readFileSync(`/proc/${p.pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Lines of a daemon log that belong to a stack trace or a crash report. */
export function stackTraces(text: string): string[] {
  // Not "Error: ..." alone: the lab's status scripts run `ip`, which prints such lines.
  return text.split("\n").filter((l) => /^\s+at .*(\(|:\d+)/.test(l) || /^(panic|Segmentation fault|Bun v\d|oh no: Bun has crashed)/.test(l) || /Illegal instruction|core dumped/.test(l));
}

/** How many times a side's status script saw tuntap_up (a new process is up once it grows). */
export function tunUps(dir: string, side: Side): number {
  return eventsOf(dir, side).filter((e) => e === "tuntap_up").length;
}

/** A daemon log from byte `from` on (to look only at what a test caused). */
export function logSince(dir: string, side: Side, from: number): string {
  const buf = readFileSync(join(dir, `${side}.log`));
  return buf.subarray(from).toString("utf8");
}

export function logSize(dir: string, side: Side): number {
  return statSync(join(dir, `${side}.log`)).size;
}

export const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

/** b − a per key. */
export function delta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const v = (b[k] ?? 0) - (a[k] ?? 0);
    if (v !== 0) d[k] = v;
  }
  return d;
}

/** The kernel's UDP counters in a namespace (/proc/net/snmp, "Udp:" lines). */
export async function udpCounters(topo: Topology, ns: string): Promise<Record<string, number>> {
  const text = (await topo.lab.exec(ns, ["cat", "/proc/net/snmp"], { check: true })).stdout;
  const lines = text.split("\n").filter((l) => l.startsWith("Udp:"));
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, values[i]!]));
}

export const mib = (kib: number): string => (kib / 1024).toFixed(1);

/** A ping from the LAN host through the tunnel, running until stop(); stop() gives its counts. */
export function startPing(lab: ChaosLab, intervalS: number): { stop(): Promise<{ transmitted: number; received: number }> } {
  const p = lab.topo.lab.spawn("lan", ["ping", "-n", "-q", "-i", String(intervalS), lab.topo.internetHost], { stdout: "pipe", stderr: "ignore" });
  const out = new Response(p.stdout as ReadableStream).text();
  return {
    async stop() {
      p.kill("SIGINT"); // by its own pid: ping prints its summary and exits
      const text = await Promise.race([out, Bun.sleep(5000).then(() => "")]);
      const m = /(\d+) packets transmitted, (\d+) received/.exec(text);
      return { transmitted: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) };
    },
  };
}

/** A daemon's live heap, as its SIGUSR1 line gives it (src/io/memory-report.ts). */
export interface LiveHeap {
  liveHeapMiB: number;
  objects: number;
  /** Of the live heap, array buffers' contents: packet stores, and receive slabs (1 MiB each) kept by a view of one of their packets. */
  bufferMiB: number;
}

/**
 * How far a leak-free daemon's live heap moves between two readings: its array buffers alone
 * moved by 0.4–0.6 MiB from one reading to the next (a client's heap read after each of three
 * rounds of 100 peer rebinds: 10.14, 10.14, 9.75, 9.76 MiB; the config test's client, which
 * nothing reloads, +0.61), as slabs of received and sent datagrams come and go. A leak is told
 * by growth beyond it: over 1000 reloads, 1 KiB each.
 */
export const LIVE_HEAP_NOISE_MIB = 1;

/** The live heap did not grow beyond the noise from a to b. */
export const heapBack = (a: LiveHeap | null, b: LiveHeap | null): boolean => !!a && !!b && b.liveHeapMiB <= a.liveHeapMiB + LIVE_HEAP_NOISE_MIB;
export const HEAP_BOUND = `growth ≤ ${LIVE_HEAP_NOISE_MIB} MiB`;

/** "a → b (objects …, array buffers …)" for a row, or why there is no figure. */
export function heapChange(a: LiveHeap | null, b: LiveHeap | null): string {
  if (!a || !b) return "no SIGUSR1 memory line in the log";
  return `${a.liveHeapMiB.toFixed(2)} → ${b.liveHeapMiB.toFixed(2)} (objects ${a.objects} → ${b.objects}, array buffers ${a.bufferMiB.toFixed(2)} → ${b.bufferMiB.toFixed(2)})`;
}

/**
 * A daemon's live JavaScript heap after a full collection: it is sent SIGUSR1 and logs one line
 * (src/io/memory-report.ts). Unlike RSS, this does not include what the allocator keeps for
 * reuse, so a leak shows here and retention does not. The smaller of two readings: the
 * collector scans the stack conservatively, so one collection may keep an object by chance (a
 * closed link's 2.9 MB packet store, test/integration/reload-memory.test.ts); the next one,
 * from another stack, does not. Null if no line came within 5 s.
 */
export async function liveHeap(lab: ChaosLab, side: Side): Promise<LiveHeap | null> {
  const a = await oneLiveHeap(lab, side);
  const b = await oneLiveHeap(lab, side);
  if (!a || !b) return a ?? b;
  return a.liveHeapMiB <= b.liveHeapMiB ? a : b;
}

async function oneLiveHeap(lab: ChaosLab, side: Side): Promise<LiveHeap | null> {
  // The daemon answers at most one SIGUSR1 a second.
  await Bun.sleep(1100);
  const from = logSize(lab.dir, side);
  lab.proc[side].kill("SIGUSR1");
  const t0 = performance.now();
  while (performance.now() - t0 < 5000 && alive(lab.proc[side])) {
    await Bun.sleep(50);
    const line = logSince(lab.dir, side, from).split("\n").find((l) => l.includes("[INFO/memory]"));
    const m = line ? parseMemoryLine(line) : null;
    if (m) return m;
  }
  return null;
}
