/**
 * Idle footprint per process, beside a bare Bun doing nothing (`bun -e 'setInterval(()=>{},1e9)'`)
 * measured the same way over the same seconds: resident memory now (VmRSS) and at its peak
 * since start (VmHWM: the start-up peak when the process has been idle since), CPU share, and
 * wake-ups per second (voluntary + involuntary context switches of all its threads, from
 * /proc/PID/task/*\/status). Targets of issue #15: RSS ≤ 35 MB and ≤ bare Bun + 10 MB, start
 * peak ≤ 48 MB, CPU ≤ 0.1 %, ≤ 5 wake-ups/s.
 *
 * Used by scenario 10 of `npm run bench`; alone (root), it brings up a two-link lab tunnel and
 * measures both ends: `sudo bun scripts/bench-footprint.ts [--seconds 20]`.
 */
import { readdirSync, readFileSync } from "node:fs";

export interface Footprint {
  rssMiB: number;
  peakMiB: number;
  cpuPct: number;
  wakeupsPerS: number;
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100/s)
}

function switches(pid: number): number {
  let n = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${t}/status`, "utf8");
      n += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0) + Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0);
    } catch {} // a thread that ended meanwhile
  }
  return n;
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
    return {
      rssMiB: kib(status, "VmRSS"),
      peakMiB: kib(status, "VmHWM"),
      cpuPct: (cpuTicks(pid) - cpu0[i]!) / s, // ticks are 1/100 s: per second × 100 % ÷ 100
      wakeupsPerS: (switches(pid) - sw0[i]!) / s,
    };
  });
}

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

/** Scenario 10's rows: client, server and bare Bun, each target checked on both ends. */
export function footprintMetrics(client: Footprint, server: Footprint, bare: Footprint, seconds: number): FootprintMetric[] {
  const both = (f: (x: Footprint) => number) => `${f1(f(client))} / ${f1(f(server))} (bare Bun ${f1(f(bare))})`;
  const all = (ok: (x: Footprint) => boolean) => ok(client) && ok(server);
  return [
    { name: `idle RSS, client / server, over ${seconds} s`, value: both((x) => x.rssMiB), unit: "MiB", target: `≤ 35 and ≤ bare + 10 (${f1(bare.rssMiB + 10)})`, met: all((x) => x.rssMiB <= 35 && x.rssMiB <= bare.rssMiB + 10) },
    { name: "peak RSS since start (VmHWM), client / server", value: both((x) => x.peakMiB), unit: "MiB", target: "≤ 48", met: all((x) => x.peakMiB <= 48) },
    { name: "idle CPU, client / server", value: `${client.cpuPct.toFixed(2)} / ${server.cpuPct.toFixed(2)} (bare Bun ${bare.cpuPct.toFixed(2)})`, unit: "%", target: "≤ 0.1 %", met: all((x) => x.cpuPct <= 0.1) },
    { name: "wake-ups (context switches, all threads), client / server", value: both((x) => x.wakeupsPerS), unit: "/s", target: "≤ 5/s", met: all((x) => x.wakeupsPerS <= 5) },
  ];
}

if (import.meta.main) {
  const { buildBinary } = await import("../test/lab/mlvpn.ts");
  const { createTopology } = await import("../test/lab/topology.ts");
  const { startTunnel } = await import("../test/lab/tunnel.ts");
  const i = process.argv.indexOf("--seconds");
  const seconds = i > 0 ? Number(process.argv[i + 1]) : 20;
  buildBinary();
  const topo = await createTopology({ uplinks: [{ rateMbit: 20, delayMs: 10 }, { rateMbit: 20, delayMs: 10 }] });
  const bare = startBareBun();
  try {
    const tunnel = await startTunnel(topo, { timeout: 10 });
    await Bun.sleep(2000); // past the handshakes
    const [c, s, b] = await measure([tunnel.client.pid, tunnel.server.pid, bare.pid], seconds);
    for (const m of footprintMetrics(c!, s!, b!, seconds)) console.log(`${m.name}: ${m.value} ${m.unit}${m.target ? `  [target ${m.target}: ${m.met ? "met" : "MISSED"}]` : ""}`);
    await tunnel.stop();
  } finally {
    bare.kill();
    await topo.destroy();
  }
}
