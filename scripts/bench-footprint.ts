/**
 * Idle footprint per process, beside a bare Bun doing nothing (`bun -e 'setInterval(()=>{},1e9)'`)
 * measured the same way over the same seconds: resident memory now (VmRSS) and at its peak
 * since start (VmHWM: the start-up peak when the process has been idle since), CPU share, and
 * wake-ups per second (voluntary + involuntary context switches of all its threads, from
 * /proc/PID/task/*\/status). Targets of issue #15: RSS ≤ 35 MB and ≤ bare Bun + 10 MB, start
 * peak ≤ 48 MB, CPU ≤ 0.1 %, ≤ 5 wake-ups/s.
 *
 * Under load (measureUnderLoad): one TCP stream paced at 50 Mbit/s through the tunnel; RSS of
 * each end sampled every few seconds, CPU per process over the run, and whether RSS stays flat
 * after warm-up (least-squares slope over the last three quarters of the samples, projected over
 * 10 minutes).
 *
 * Used by scenarios 10 and 10b of `npm run bench`; alone (root), it brings up a two-link lab
 * tunnel and measures both ends, idle then under load:
 *   sudo bun scripts/bench-footprint.ts [--seconds 20] [--load-seconds 60 | --long] [--bin PATH] [--baseline-bin PATH]
 * `--long` runs the load for 10 minutes; `--bin` measures another mlvpn binary instead of building
 * dist/mlvpn; `--baseline-bin` runs another build at the same time on a lab of its own (before/after
 * side by side, over the same seconds, beside the same bare Bun).
 *
 * Idle is measured after SETTLE_S seconds with the tunnel up: start-up work (the JIT compiling
 * the code that just ran, the garbage collector's first cycles) takes that long to die down, and
 * shows in the peak figure instead.
 */
import { readdirSync, readFileSync } from "node:fs";

export interface Footprint {
  rssMiB: number;
  /** Of the RSS: anonymous memory (heaps, buffers) and file pages (the binary's code, mapped libraries). */
  anonMiB: number;
  fileMiB: number;
  peakMiB: number;
  cpuPct: number;
  wakeupsPerS: number;
  /** Of the wake-ups: involuntary switches (the thread was preempted: other load on the machine, not a wake-up of its own). */
  preemptedPerS: number;
  /** Wake-ups per second by thread name (threads of the same name added up), busiest first; `voluntaryPerS`: of them, the thread's own (it blocked). */
  threads: Array<{ name: string; wakeupsPerS: number; voluntaryPerS: number }>;
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100/s)
}

/** Context switches (voluntary + involuntary, and involuntary alone) per thread id, with the thread's name. */
function switches(pid: number): Map<string, { name: string; n: number; invol: number }> {
  const out = new Map<string, { name: string; n: number; invol: number }>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${t}/status`, "utf8");
      const invol = Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0);
      const n = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0) + invol;
      out.set(t, { name: /^Name:\s+(.*)$/m.exec(s)?.[1]?.trim() ?? "?", n, invol });
    } catch {} // a thread that ended meanwhile
  }
  return out;
}

/** Involuntary switches between two snapshots, all threads (a thread born meanwhile counts from 0). */
function preempted(before: ReturnType<typeof switches>, after: ReturnType<typeof switches>): number {
  let n = 0;
  for (const [tid, t] of after) n += t.invol - (before.get(tid)?.invol ?? 0);
  return n;
}

/** Per thread name, the switches between two snapshots (a thread born meanwhile counts from 0). */
function perThread(before: ReturnType<typeof switches>, after: ReturnType<typeof switches>, seconds: number): Footprint["threads"] {
  const byName = new Map<string, { n: number; vol: number }>();
  for (const [tid, t] of after) {
    const b = before.get(tid);
    const x = byName.get(t.name) ?? { n: 0, vol: 0 };
    x.n += t.n - (b?.n ?? 0);
    x.vol += t.n - t.invol - ((b?.n ?? 0) - (b?.invol ?? 0));
    byName.set(t.name, x);
  }
  return [...byName].map(([name, x]) => ({ name, wakeupsPerS: x.n / seconds, voluntaryPerS: x.vol / seconds })).sort((a, b) => b.wakeupsPerS - a.wakeupsPerS);
}

const kib = (status: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0) / 1024;

/** Measures these processes side by side over `seconds`. */
export async function measure(pids: number[], seconds: number): Promise<Footprint[]> {
  const cpu0 = pids.map(cpuTicks);
  const sw0 = pids.map(switches);
  const t0 = performance.now();
  await Bun.sleep(seconds * 1000);
  const s = (performance.now() - t0) / 1000;
  return pids.map((pid, i) => {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const sw1 = switches(pid);
    const threads = perThread(sw0[i]!, sw1, s);
    return {
      rssMiB: kib(status, "VmRSS"),
      anonMiB: kib(status, "RssAnon"),
      fileMiB: kib(status, "RssFile"),
      peakMiB: kib(status, "VmHWM"),
      cpuPct: (cpuTicks(pid) - cpu0[i]!) / s, // ticks are 1/100 s: per second × 100 % ÷ 100
      wakeupsPerS: threads.reduce((n, t) => n + t.wakeupsPerS, 0),
      preemptedPerS: preempted(sw0[i]!, sw1) / s,
      threads,
    };
  });
}

/** Seconds between "tunnel up" and the idle measurement (see the header). */
export const SETTLE_S = 30;

/** A load run at least this long (s) says whether RSS stays flat. */
export const LONG_S = 300;

/** Scenario 10b: one stream at 50 Mbit/s (issue #15) over two uplinks with room to spare. */
export const LOAD_MBIT = 50;
export const LOAD_UPLINKS = [
  { rateMbit: 40, delayMs: 10 },
  { rateMbit: 40, delayMs: 10 },
];

/** A bare Bun that does nothing, to compare with. */
export function startBareBun(): ReturnType<typeof Bun.spawn> {
  return Bun.spawn([process.execPath, "-e", "setInterval(() => {}, 1e9)"], { stdout: "ignore", stderr: "ignore" });
}

export interface FootprintMetric {
  name: string;
  value: string;
  unit: string;
  target?: string;
  met?: boolean;
}

const f1 = (x: number) => (Math.round(x * 10) / 10).toFixed(1);
/** "main 2.1, JITWorker 0.4, …" (threads that slept throughout left out; the process's main thread is named after it). */
const threadList = (x: Footprint) => x.threads.filter((t) => t.wakeupsPerS >= 0.05).map((t) => `${t.name} ${f1(t.wakeupsPerS)} (own ${f1(t.voluntaryPerS)})`).join(", ") || "none";

/** Scenario 10's rows: client, server and bare Bun, each target checked on both ends. */
export function footprintMetrics(client: Footprint, server: Footprint, bare: Footprint, seconds: number, since = `${SETTLE_S} s after the tunnel came up`): FootprintMetric[] {
  const both = (f: (x: Footprint) => number) => `${f1(f(client))} / ${f1(f(server))} (bare Bun ${f1(f(bare))})`;
  const all = (ok: (x: Footprint) => boolean) => ok(client) && ok(server);
  return [
    { name: `idle RSS, client / server, over ${seconds} s from ${since}`, value: both((x) => x.rssMiB), unit: "MiB", target: `≤ 35 and ≤ bare + 10 (${f1(bare.rssMiB + 10)})`, met: all((x) => x.rssMiB <= 35 && x.rssMiB <= bare.rssMiB + 10) },
    { name: "peak RSS since start (VmHWM), client / server", value: both((x) => x.peakMiB), unit: "MiB", target: "≤ 48", met: all((x) => x.peakMiB <= 48) },
    { name: "of the RSS: anonymous / file pages (binary code, libraries), client / server", value: `${f1(client.anonMiB)} + ${f1(client.fileMiB)} / ${f1(server.anonMiB)} + ${f1(server.fileMiB)} (bare Bun ${f1(bare.anonMiB)} + ${f1(bare.fileMiB)})`, unit: "MiB" },
    { name: "idle CPU, client / server (load-sensitive: the machine is shared)", value: `${client.cpuPct.toFixed(2)} / ${server.cpuPct.toFixed(2)} (bare Bun ${bare.cpuPct.toFixed(2)})`, unit: "%", target: "≤ 0.1 %", met: all((x) => x.cpuPct <= 0.1) },
    { name: "wake-ups (context switches, all threads), client / server", value: both((x) => x.wakeupsPerS), unit: "/s", target: "≤ 5/s", met: all((x) => x.wakeupsPerS <= 5) },
    // On a loaded machine a thread that wakes is often preempted before it sleeps again: those
    // switches come from the load, and an idle router would not see them.
    { name: "of which involuntary (preempted by other load), client / server", value: both((x) => x.preemptedPerS), unit: "/s" },
    { name: "the process's own (voluntary: a thread blocked and was woken), client / server", value: both((x) => x.wakeupsPerS - x.preemptedPerS), unit: "/s", target: "≤ 5/s", met: all((x) => x.wakeupsPerS - x.preemptedPerS <= 5) },
    { name: "wake-ups per thread, client", value: threadList(client), unit: "/s" },
    { name: "wake-ups per thread, server", value: threadList(server), unit: "/s" },
    { name: "wake-ups per thread, bare Bun", value: threadList(bare), unit: "/s" },
  ];
}

export interface LoadFootprint {
  mbps: number;
  seconds: number;
  /** RSS of each end (MiB) at each sample, and the sample times (s). */
  t: number[];
  rss: [number[], number[]];
  cpuPct: [number, number];
  /** RSS growth per 10 minutes after warm-up (MiB), per end. */
  slope10Min: [number, number];
}

/** Least-squares slope of y over x. */
function slope(x: number[], y: number[]): number {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (x[i]! - mx) * (y[i]! - my);
    den += (x[i]! - mx) ** 2;
  }
  return den > 0 ? num / den : 0;
}

/** What the lab's namespaces are called and how to run in them (test/lab/netns.ts). */
interface LabLike {
  exec(ns: string, cmd: string[], opts?: { timeoutMs?: number }): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/**
 * One TCP stream paced at `mbit` Mbit/s from the LAN host to the internet host (an iperf3 server
 * must listen there) for `seconds`, while both ends' RSS is sampled every `sampleS` seconds.
 */
export async function measureUnderLoad(lab: LabLike, target: string, pids: [number, number], seconds: number, mbit = 50, sampleS = 5): Promise<LoadFootprint> {
  const rssOf = (pid: number) => kib(readFileSync(`/proc/${pid}/status`, "utf8"), "VmRSS");
  const cpu0 = pids.map(cpuTicks);
  const t0 = performance.now();
  const run = lab.exec("lan", ["iperf3", "-c", target, "-t", String(seconds), "-b", `${mbit}M`, "-J"], { timeoutMs: (seconds + 30) * 1000 });
  let done = false;
  void run.finally(() => (done = true));
  const t: number[] = [];
  const rss: [number[], number[]] = [[], []];
  while (!done) {
    await Promise.race([Bun.sleep(sampleS * 1000), run]);
    if (done) break;
    t.push((performance.now() - t0) / 1000);
    rss[0].push(rssOf(pids[0]));
    rss[1].push(rssOf(pids[1]));
  }
  const s = (performance.now() - t0) / 1000;
  const r = await run;
  let mbps = 0;
  try {
    mbps = (JSON.parse(r.stdout).end?.sum_received?.bits_per_second ?? 0) / 1e6;
  } catch {}
  const from = Math.floor(t.length / 4); // warm-up: the first quarter
  const grow = (y: number[]) => (t.length - from >= 2 ? slope(t.slice(from), y.slice(from)) * 600 : Number.NaN);
  return { mbps, seconds: s, t, rss, cpuPct: [(cpuTicks(pids[0]) - cpu0[0]!) / s, (cpuTicks(pids[1]) - cpu0[1]!) / s], slope10Min: [grow(rss[0]), grow(rss[1])] };
}

/** Scenario 10b's rows. "Flat": less than 1 MiB of growth per 10 minutes after warm-up, on both ends. */
export function loadMetrics(l: LoadFootprint, mbit: number): FootprintMetric[] {
  const at = (y: number[], q: number) => f1(y[Math.min(y.length - 1, Math.floor(q * (y.length - 1)))] ?? Number.NaN);
  const path = (y: number[]) => `${at(y, 0)} → ${at(y, 0.25)} → ${at(y, 0.5)} → ${at(y, 0.75)} → ${at(y, 1)} (max ${f1(Math.max(...y))})`;
  return [
    { name: `one TCP stream paced at ${mbit} Mbit/s, over ${Math.round(l.seconds)} s`, value: f1(l.mbps), unit: "Mbit/s" },
    { name: "CPU under load, client / server (load-sensitive: the machine is shared)", value: `${l.cpuPct[0].toFixed(1)} / ${l.cpuPct[1].toFixed(1)}`, unit: "%" },
    { name: `RSS under load, client, every ${l.t.length > 1 ? Math.round(l.t[1]! - l.t[0]!) : 0} s: start → ¼ → ½ → ¾ → end`, value: path(l.rss[0]), unit: "MiB" },
    { name: "RSS under load, server: start → ¼ → ½ → ¾ → end", value: path(l.rss[1]), unit: "MiB" },
    // Over a minute the garbage collector's saw-tooth (±10 MiB) swamps any trend: only a long
    // run (--long: 10 minutes) gives a verdict.
    {
      name: "RSS growth after warm-up (first quarter), projected over 10 min, client / server",
      value: `${l.slope10Min[0].toFixed(1)} / ${l.slope10Min[1].toFixed(1)}`,
      unit: "MiB",
      ...(l.seconds >= LONG_S ? { target: "flat: < 1 MiB per 10 min", met: l.slope10Min.every((x) => x < 1) } : { target: `no verdict under ${LONG_S / 60} min (run with --long)` }),
    },
  ];
}

if (import.meta.main) {
  const { BIN, buildBinary } = await import("../test/lab/mlvpn.ts");
  const { createTopology } = await import("../test/lab/topology.ts");
  const { startTunnel } = await import("../test/lab/tunnel.ts");
  const { startIperfServer } = await import("../test/lab/measure.ts");
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const path = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const seconds = arg("seconds", 20);
  const loadSeconds = process.argv.includes("--long") ? 600 : arg("load-seconds", 60);
  const print = (ms: FootprintMetric[]) => {
    for (const m of ms) console.log(`${m.name}: ${m.value} ${m.unit}${m.target ? `  [target ${m.target}${m.met === undefined ? "" : `: ${m.met ? "met" : "MISSED"}`}]` : ""}`);
  };
  const bin = path("bin");
  if (!bin) buildBinary();
  // With --baseline-bin, both builds run at once, each on a lab of its own, measured over the same seconds.
  const builds = [{ label: "this build", bin: bin ?? BIN }, ...(path("baseline-bin") ? [{ label: "baseline", bin: path("baseline-bin")! }] : [])];
  const topos = await Promise.all(builds.map(() => createTopology({ uplinks: LOAD_UPLINKS })));
  const bare = startBareBun();
  try {
    const tunnels = await Promise.all(builds.map((b, i) => startTunnel(topos[i]!, { timeout: 10, start: () => ({ bin: b.bin }) })));
    await Bun.sleep(SETTLE_S * 1000);
    const fps = await measure([...tunnels.flatMap((t) => [t.client.pid, t.server.pid]), bare.pid], seconds);
    builds.forEach((b, i) => {
      console.log(`--- ${b.label} (${b.bin})`);
      print(footprintMetrics(fps[2 * i]!, fps[2 * i + 1]!, fps[fps.length - 1]!, seconds));
    });
    if (loadSeconds > 0) {
      for (const [i, b] of builds.entries()) {
        const iperfServer = startIperfServer(topos[i]!.lab, "inet", topos[i]!.internetHost);
        await Bun.sleep(300);
        console.log(`--- ${b.label} under load`);
        print(loadMetrics(await measureUnderLoad(topos[i]!.lab, topos[i]!.internetHost, [tunnels[i]!.client.pid, tunnels[i]!.server.pid], loadSeconds, LOAD_MBIT, loadSeconds >= 300 ? 10 : 5), LOAD_MBIT));
        iperfServer.kill();
      }
      // Idle again after the load: whatever it left running (timers, the JIT, the collector)
      // shows here, after the same settling time as at start.
      await Bun.sleep(SETTLE_S * 1000);
      const after = await measure([...tunnels.flatMap((t) => [t.client.pid, t.server.pid]), bare.pid], seconds);
      builds.forEach((b, i) => {
        console.log(`--- ${b.label}, idle again ${SETTLE_S} s after the load`);
        print(footprintMetrics(after[2 * i]!, after[2 * i + 1]!, after[after.length - 1]!, seconds, `${SETTLE_S} s after the load`));
      });
    }
    await Promise.all(tunnels.map((t) => t.stop()));
  } finally {
    bare.kill();
    await Promise.all(topos.map((t) => t.destroy()));
  }
}
