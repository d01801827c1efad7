/**
 * Measurements inside the lab: iperf3 (JSON output parsed), ping series with per-probe arrival
 * times (for gaps during failover), percentiles. Every command is bounded in time.
 */
import type { Subprocess } from "bun";
import { readFileSync } from "node:fs";
import { type Lab, waitFor } from "./netns.ts";

/** iperf3's default port, where startIperfServer listens. */
export const IPERF_PORT = 5201;

export interface IperfResult {
  /** Goodput at the receiver, Mbit/s. */
  mbps: number;
  /** With `bidir`: goodput of the reverse stream (target → us), Mbit/s. */
  reverseMbps?: number;
  retransmits: number;
  /** Mbit/s per interval as iperf3's client reports them (length = seconds / interval): the sender's count for an upload (what it wrote, in steps of its 128 KB writes). */
  intervals: number[];
  /**
   * With `serverOutput`: Mbit/s per interval as the receiving iperf3 server counted them (its
   * own `-i`, see startIperfServer): what reached the far end. Empty without.
   */
  receiverIntervals: number[];
  ok: boolean;
  error?: string;
}

export interface IperfOptions {
  seconds: number;
  streams?: number;
  reverse?: boolean;
  /** Local address to bind (selects the uplink by source routing). */
  bind?: string;
  intervalS?: number;
  /** Skip the first N seconds (TCP slow start) in the total; intervals still cover them. */
  omit?: number;
  udpMbit?: number;
  length?: number;
  /** Both directions at once (iperf3 --bidir). */
  bidir?: boolean;
  /** Fetch the server's own intervals (--get-server-output; the server must report JSON: startIperfServer's intervalS). */
  serverOutput?: boolean;
  /** The TCP congestion control of both ends' sockets (iperf3 -C; a netns may not change its default to one the host restricts). */
  congestion?: string;
}

/** `intervalS`: the server reports its own intervals of that length in JSON, for clients that ask (`serverOutput`). */
export function startIperfServer(lab: Lab, ns: string, bind: string, intervalS?: number): Subprocess {
  const report = intervalS ? ["-J", "-i", String(intervalS)] : [];
  return lab.spawn(ns, ["iperf3", "-s", "-B", bind, ...report], { stdout: "ignore", stderr: "ignore" });
}

/**
 * Resolves once an iperf3 server listens (TCP) on `bind`:IPERF_PORT in `ns`: a client started
 * before that is refused, and how long the server takes to start depends on the machine's load.
 */
export async function iperfServerReady(lab: Lab, ns: string, bind: string, timeoutMs = 5000): Promise<void> {
  await waitFor(async () => (await lab.exec(ns, ["ss", "-Hltn", `src ${bind}:${IPERF_PORT}`])).stdout.trim() !== "", { timeoutMs, what: `iperf3 server on ${bind}:${IPERF_PORT} in ${ns}` });
}

export async function iperf(lab: Lab, ns: string, target: string, o: IperfOptions): Promise<IperfResult> {
  const args = ["iperf3", "-c", target, "-t", String(o.seconds), "-J", "-i", String(o.intervalS ?? 1)];
  if (o.streams && o.streams > 1) args.push("-P", String(o.streams));
  if (o.reverse) args.push("-R");
  if (o.bidir) args.push("--bidir");
  if (o.bind) args.push("-B", o.bind);
  if (o.omit) args.push("-O", String(o.omit));
  if (o.udpMbit !== undefined) args.push("-u", "-b", o.udpMbit === 0 ? "0" : `${o.udpMbit}M`);
  if (o.length) args.push("-l", String(o.length));
  if (o.serverOutput) args.push("--get-server-output");
  if (o.congestion) args.push("-C", o.congestion);
  const r = await lab.exec(ns, args, { timeoutMs: (o.seconds + (o.omit ?? 0) + 30) * 1000 });
  let j: any;
  try {
    j = JSON.parse(r.stdout);
  } catch {
    return { mbps: 0, retransmits: 0, intervals: [], receiverIntervals: [], ok: false, error: `iperf3 exit ${r.code}: ${r.stderr.trim() || r.stdout.slice(-300)}` };
  }
  if (j.error) return { mbps: 0, retransmits: 0, intervals: [], receiverIntervals: [], ok: false, error: j.error };
  const end = j.end ?? {};
  const received = end.sum_received ?? end.sum ?? {};
  const mbits = (list: any[] | undefined) => (list ?? []).filter((i: any) => !i.sum?.omitted).map((i: any) => (i.sum?.bits_per_second ?? 0) / 1e6);
  const intervals = mbits(j.intervals);
  const receiverIntervals = mbits(j.server_output_json?.intervals);
  const reverse = o.bidir ? (end.sum_received_bidir_reverse?.bits_per_second ?? 0) / 1e6 : undefined;
  return { mbps: (received.bits_per_second ?? 0) / 1e6, reverseMbps: reverse, retransmits: end.sum_sent?.retransmits ?? 0, intervals, receiverIntervals, ok: r.code === 0 };
}

export interface PingSeries {
  sent: number;
  /** RTT per probe in ms (undefined: no reply). */
  rtts: Array<number | undefined>;
  intervalMs: number;
}

/**
 * `count` probes `intervalMs` apart (root can go down to 10 ms); replies matched by icmp_seq.
 * `deadlineS` ends it after that many seconds even if not all were sent (ping paces itself
 * slower than asked on a busy machine: ~16 ms for 10).
 */
export async function pingSeries(lab: Lab, ns: string, target: string, count: number, intervalMs: number, deadlineS?: number): Promise<PingSeries> {
  const args = ["ping", "-n", "-c", String(count), "-i", String(intervalMs / 1000), "-W", "1", ...(deadlineS ? ["-w", String(deadlineS)] : []), target];
  const r = await lab.exec(ns, args, { timeoutMs: count * intervalMs + 10_000 });
  const rtts: Array<number | undefined> = new Array(count).fill(undefined);
  for (const m of r.stdout.matchAll(/icmp_seq=(\d+) .*time=([\d.]+) ms/g)) {
    const seq = Number(m[1]);
    if (seq >= 1 && seq <= count) rtts[seq - 1] = Number(m[2]);
  }
  return { sent: count, rtts, intervalMs };
}

/** The longest run of unanswered probes, in ms. */
export function largestGapMs(p: PingSeries): number {
  return largestGap(p).ms;
}

/**
 * The longest run of unanswered probes and when it started (ms after the first probe). Probes
 * after the last answered one are left out: ping stops waiting for replies once it has sent its
 * last probe, so their missing replies say nothing about the path.
 */
export function largestGap(p: PingSeries): { ms: number; atMs: number } {
  let run = 0;
  let worst = 0;
  let worstEnd = 0;
  let last = p.rtts.length - 1;
  while (last >= 0 && p.rtts[last] === undefined) last--;
  p.rtts.slice(0, last + 1).forEach((r, i) => {
    run = r === undefined ? run + 1 : 0;
    if (run > worst) {
      worst = run;
      worstEnd = i;
    }
  });
  return { ms: worst * p.intervalMs, atMs: (worstEnd - worst + 1) * p.intervalMs };
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const answered = (p: PingSeries): number[] => p.rtts.filter((r): r is number => r !== undefined);

/** The machine's CPU time counters (/proc/stat's first line, in clock ticks): all, idle and iowait, and stolen by the hypervisor. */
export interface CpuTimes {
  total: number;
  idle: number;
  steal: number;
}

export function cpuTimes(stat = readFileSync("/proc/stat", "utf8")): CpuTimes {
  const line = stat.slice(0, stat.indexOf("\n"));
  // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user/nice)
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 8 || f.some((x) => !Number.isFinite(x))) throw new Error(`/proc/stat: unexpected first line "${line}"`);
  return { total: f.reduce((a, b) => a + b, 0), idle: f[3]! + f[4]!, steal: f[7]! };
}

/**
 * Between two readings: the share of the machine's CPU time stolen by the hypervisor (a VM's
 * neighbours), and the share busy (neither idle nor stolen), in %. A lab figure taken while much
 * was stolen says more about the machine than about the tunnel.
 */
export function cpuShares(a: CpuTimes, b: CpuTimes): { stolenPct: number; busyPct: number } {
  const total = b.total - a.total;
  if (total <= 0) return { stolenPct: 0, busyPct: 0 };
  const steal = b.steal - a.steal;
  return { stolenPct: (100 * steal) / total, busyPct: (100 * (total - (b.idle - a.idle) - steal)) / total };
}
