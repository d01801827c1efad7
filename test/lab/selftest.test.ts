/**
 * Lab self-test (issue 5 acceptance), no VPN: every impairment of topology.ts does what it says,
 * measured over the bare uplinks from the client router to the server, sources bound to the
 * uplink addresses so that source routing picks the link. Rate within 5 %, delay within 1 ms,
 * loss within 1 percentage point over 10 000 packets, cut drops everything; and nothing of a lab
 * is left afterwards, also when its creator was SIGKILLed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { cleanupByPrefix, labRunDir, labSkipReason, pingOk, waitFor } from "./netns.ts";
import { createTopology, type Topology, WIRE_PRIORITY } from "./topology.ts";
import { loadTrace, OPPORTUNITY_BYTES, opportunitiesThrough, traceMeanMbit, traceSeries } from "./trace.ts";
import { reportSkip } from "../helpers/skip.ts";

const skipReason =
  labSkipReason() ??
  (Bun.which("ping") ? null : "`ping` not found (apt-get install iputils-ping)") ??
  (Bun.which("iperf3") ? null : "`iperf3` not found (apt-get install iperf3)") ??
  (Bun.which("tc") ? null : "`tc` not found (apt-get install iproute2)");
reportSkip(import.meta.file, "the lab topology self-test", skipReason);

const prefixesUsed = new Set<string>();

/** Everything of a prefix still on the machine: namespaces, host interfaces, processes, state files. */
async function leftovers(prefix: string): Promise<string[]> {
  const out: string[] = [];
  const sh = async (cmd: string[]) => {
    const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "ignore", timeout: 5000 });
    const text = await new Response(p.stdout).text();
    await p.exited;
    return text;
  };
  for (const l of (await sh(["ip", "netns", "list"])).split("\n")) if (l.startsWith(`${prefix}-`)) out.push(`namespace ${l}`);
  for (const m of (await sh(["ip", "-o", "link", "show"])).matchAll(/^\d+:\s+([^:@\s]+)/gm)) if (m[1]!.startsWith(prefix)) out.push(`host interface ${m[1]}`);
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (/\) [ZX] /.test(stat)) continue; // a zombie nobody reaped holds nothing
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmd.includes(prefix)) out.push(`process ${pid}: ${cmd.trim()}`);
    } catch {
      // exited meanwhile
    }
  }
  if (existsSync(labRunDir(prefix))) out.push(`state directory ${labRunDir(prefix)}`);
  return out;
}

afterAll(async () => {
  for (const p of prefixesUsed) await cleanupByPrefix(p);
});

/**
 * htb's rate, measured where htb dequeues, depends on how late this machine's kernel serves htb
 * (topology.ts, HTB_LATE_DEQUEUE_MS): a figure of the machine, run by `npm run lab:selftest`
 * (`npm run bench` users should run it first on their machine). The trace-driven rate is judged
 * against the opportunities the trace offered, which a late delay line keeps (delayline.ts), and
 * runs in `npm test`.
 */
const MEASURE_THROUGHPUT = process.env.MLVPN_LAB_THROUGHPUT === "1";
const throughputTest = MEASURE_THROUGHPUT ? test : () => {};

describe.skipIf(skipReason !== null)("lab topology self-test (root)", () => {
  let topo: Topology;
  let iperfServers: Subprocess[] = [];
  const log = (msg: string) => console.log(`  [lab] ${msg}`);

  /**
   * What the htb root qdisc on dev inside ns has sent (what it rate-limits: Ethernet frames), how
   * often it held a packet back for the rate, and its backlog, read by tc between two clock
   * readings taken in the same shell: the counters were read at some instant in [t0, t1] (ms).
   */
  async function htbSent(ns: string, dev: string): Promise<{ bytes: number; overlimits: number; backlog: number; t0: number; t1: number }> {
    const r = await topo.lab.exec(ns, ["sh", "-c", 'date +%s%N; tc -s qdisc show dev "$1"; date +%s%N', "sh", dev], { check: true });
    const lines = r.stdout.trim().split("\n");
    // tc prints no JSON for these statistics here:
    // "qdisc htb 1: root ... \n Sent B bytes P pkt (dropped D, overlimits O requeues R) \n backlog 138Kb 98p ..."
    const m = /^qdisc htb 1: .*\n\s*Sent (\d+) bytes \d+ pkt \(dropped \d+, overlimits (\d+) .*\n\s*backlog \S+ (\d+)p/m.exec(r.stdout);
    if (!m) throw new Error(`no htb root qdisc on ${dev} in ${ns}: ${r.stdout}`);
    return { bytes: Number(m[1]), overlimits: Number(m[2]), backlog: Number(m[3]), t0: Number(lines[0]) / 1e6, t1: Number(lines.at(-1)) / 1e6 };
  }

  /**
   * The rate htb lets through on uplink i, in Mbit/s of Ethernet frames, as an interval: UDP
   * offered at 3× the rate for 6 s (four streams), htb's own counters read every 200 ms, and the
   * rate taken over the longest stretch during which htb was saturated — a backlog at every
   * reading and packets held back for the rate in every gap. Counted where htb dequeues, and only
   * while it had more than it may send: how fast the userspace sender and delay line are (a busy
   * machine makes them wait, and start late) is not the shaper's rate. The interval is what the
   * readings allow (each taken somewhere between its two clock readings). The stretch must last
   * at least 2 s, or the figure says nothing about the limit.
   */
  async function measureRate(i: number, download: boolean, mbit: number): Promise<{ lo: number; hi: number; seconds: number }> {
    const u = topo.uplinks[i]!;
    // Four streams of 0.75× the rate each, at the wire's priority: each socket's send buffer keeps
    // htb's queue full while a sender waits, so that htb, not the sender, sets the pace.
    const args = [...WIRE_PRIORITY, "iperf3", "-c", u.serverAddr, "-B", u.clientAddr, "-u", "-P", "4", "-b", `${mbit * 0.75}M`, "-l", "1400", "-t", "6"];
    const run = topo.lab.exec("client", download ? [...args, "-R"] : args, { timeoutMs: 30_000 });
    const [txNs, txDev] = download ? ["server", u.serverIf] : ["client", u.clientIf];
    const readings: Awaited<ReturnType<typeof htbSent>>[] = [];
    const started = performance.now();
    for (let k = 0; k < 60 && performance.now() - started < 6500; k++) {
      readings.push(await htbSent(txNs, txDev));
      await Bun.sleep(200);
    }
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    // The longest run of readings a..b with a backlog at each and overlimits growing in each gap.
    let best = { a: 0, b: 0 };
    for (let a = 0; a < readings.length; a++) {
      let b = a;
      while (b + 1 < readings.length && readings[b]!.backlog > 0 && readings[b + 1]!.backlog > 0 && readings[b + 1]!.overlimits > readings[b]!.overlimits) b++;
      if (readings[b]!.t0 - readings[a]!.t1 > readings[best.b]!.t0 - readings[best.a]!.t1) best = { a, b };
    }
    const [x, y] = [readings[best.a]!, readings[best.b]!];
    const seconds = (y.t0 - x.t1) / 1000;
    expect(seconds, `htb on ${txDev} was never saturated for 2 s: the sender did not keep more than ${mbit} Mbit/s offered`).toBeGreaterThanOrEqual(2);
    const bits = (y.bytes - x.bytes) * 8;
    return { lo: bits / ((y.t1 - x.t0) * 1000), hi: bits / ((y.t0 - x.t1) * 1000), seconds };
  }

  /** A measured rate interval meets `mbit` within 5 %: some rate it allows lies within 5 % of mbit. */
  function expectRateNear(m: { lo: number; hi: number }, mbit: number) {
    expect(m.lo).toBeLessThan(mbit * 1.05);
    expect(m.hi).toBeGreaterThan(mbit * 0.95);
  }

  /** Ping over uplink i (source bound to its address); RTTs in arrival order, with icmp_seq. */
  async function ping(i: number, count: number, intervalMs: number, target = topo.serverPublic) {
    const args = ["ping", "-n", "-c", String(count), "-i", String(intervalMs / 1000), "-W", "1", "-I", topo.uplinks[i]!.clientAddr, target];
    const r = await topo.lab.exec("client", args, { timeoutMs: count * intervalMs + 5000 });
    const replies = [...r.stdout.matchAll(/icmp_seq=(\d+) .*time=([\d.]+) ms/g)].map((m) => ({ seq: Number(m[1]), rtt: Number(m[2]) }));
    return { replies, rtts: replies.map((x) => x.rtt).sort((x, y) => x - y) };
  }
  const median = (sorted: number[]) => sorted[Math.floor(sorted.length / 2)]!;

  beforeAll(async () => {
    topo = await createTopology({ uplinks: [{ rateMbit: 20, delayMs: 10 }, { rateMbit: 5, delayMs: 40 }, {}], seed: 42 });
    prefixesUsed.add(topo.lab.prefix);
    // At the wire's priority: they are the senders of the download measurements.
    iperfServers = topo.uplinks.map((u) => topo.lab.spawn("server", [...WIRE_PRIORITY, "iperf3", "-s", "-B", u.serverAddr], { stdout: "ignore", stderr: "ignore" }));
    await waitFor(
      async () => (await topo.lab.exec("server", ["ss", "-Hltn", "sport = :5201"])).stdout.trim().split("\n").filter(Boolean).length === topo.uplinks.length,
      { timeoutMs: 5000, what: "the iperf3 servers" },
    );
  });

  test("addressing and routing: uplinks by source address, no path from the LAN to the internet without a VPN", async () => {
    expect(topo.uplinks.map((u) => [u.clientAddr, u.serverAddr])).toEqual([
      ["192.168.101.2", "192.168.101.1"],
      ["192.168.102.2", "192.168.102.1"],
      ["192.168.103.2", "192.168.103.1"],
    ]);
    const rules = (await topo.lab.exec("client", ["ip", "rule"], { check: true })).stdout;
    for (let i = 0; i < 3; i++) {
      expect(rules).toContain(`from 192.168.${101 + i}.0/24 lookup ${100 + i}`);
      expect((await ping(i, 2, 50)).replies.length).toBe(2);
    }
    expect((await topo.lab.exec("client", ["ip", "route", "show", "default"])).stdout.trim()).toBe(""); // main table: no default
    expect((await pingOk(topo.lab, "lan", topo.lanGateway)).ok).toBe(true);
    expect((await pingOk(topo.lab, "server", topo.internetHost)).ok).toBe(true);
    expect((await pingOk(topo.lab, "lan", topo.internetHost, { count: 2, replyTimeoutMs: 300 })).received).toBe(0);
    // Without a bound source the client has no route to the server at all.
    expect((await topo.lab.exec("client", ["ping", "-n", "-c", "1", "-W", "0.3", topo.serverPublic])).code).not.toBe(0);
  });

  throughputTest("rate: within 5 % at 20 and 5 Mbit/s, both directions, and a live change", async () => {
    // One at a time: every frame crosses userspace three times (sender, delay line, receiver),
    // and measuring two uplinks at once only doubles the CPU they compete for.
    const up20 = await measureRate(0, false, 20);
    const up5 = await measureRate(1, false, 5);
    const down20 = await measureRate(0, true, 20);
    const down5 = await measureRate(1, true, 5);
    const f = (m: { lo: number; hi: number; seconds: number }) => `${m.lo.toFixed(2)}…${m.hi.toFixed(2)} (over ${m.seconds.toFixed(1)} s)`;
    log(`rate 20 Mbit/s: up ${f(up20)}, down ${f(down20)}; 5 Mbit/s: up ${f(up5)}, down ${f(down5)}`);
    for (const r of [up20, down20]) expectRateNear(r, 20);
    for (const r of [up5, down5]) expectRateNear(r, 5);
    await topo.shape(0, { rateMbit: 8, queuePackets: 30 });
    expect((await topo.lab.exec("client", ["tc", "qdisc", "show", "dev", topo.uplinks[0]!.clientIf])).stdout).toContain("limit 30p");
    const live = await measureRate(0, false, 8);
    log(`rate after live change to 8 Mbit/s: ${f(live)}`);
    expectRateNear(live, 8);
  }, 60_000);

  test("delay: RTT − 2 × one-way delay within 1 ms of the undelayed uplink's at 10 and 40 ms, and after a live change", async () => {
    // The delay added is judged against uplink 2 (no delay) pinged at the same time: a round trip
    // through the lab costs some time of its own (processes woken per packet), which is no part of
    // the emulated delay. And on the lower tenth of the RTTs rather than the median: other work
    // on the machine only ever adds to a round trip (a delay line woken late, ping itself), and
    // with two helpers per packet more than an undelayed one, so at a load of 9 on 2 cores the
    // median gained 1.1 ms while the delay line did what it should.
    const low = (sorted: number[]) => sorted[Math.floor(sorted.length / 10)]!;
    const [d10, d40, base1] = await Promise.all([ping(0, 100, 10), ping(1, 100, 10), ping(2, 100, 10)]);
    const err10 = low(d10.rtts) - low(base1.rtts) - 20;
    const err40 = low(d40.rtts) - low(base1.rtts) - 80;
    await topo.shape(0, { delayMs: 25 });
    const [d25, base2] = await Promise.all([ping(0, 100, 10), ping(2, 100, 10)]);
    const err25 = low(d25.rtts) - low(base2.rtts) - 50;
    log(`delay error (p10 RTT − 2d − the undelayed uplink's p10): 10 ms ${err10.toFixed(3)}, 40 ms ${err40.toFixed(3)}, 25 ms (live) ${err25.toFixed(3)} ms; medians ${median(d10.rtts)}, ${median(d40.rtts)}, ${median(d25.rtts)}; undelayed p10 ${low(base1.rtts)}, ${low(base2.rtts)} ms`);
    for (const [e, n] of [[err10, d10], [err40, d40], [err25, d25], [0, base1], [0, base2]] as const) {
      expect(n.replies.length).toBeGreaterThanOrEqual(98);
      expect(Math.abs(e)).toBeLessThan(1);
    }
  }, 20_000);

  test("loss: 3 % each way, within 1 percentage point over 10 000 packets", async () => {
    await topo.shape(2, { lossPct: 3 });
    try {
      const u = topo.uplinks[2]!;
      const results: { dir: "ab" | "ba"; iperf: number; delayLine: number; frames: number }[] = [];
      for (const reverse of [false, true]) {
        const dir = reverse ? "ba" : "ab";
        const before = (await topo.delayLine(2)).counters[dir];
        const args = ["iperf3", "-c", u.serverAddr, "-B", u.clientAddr, "-u", "-b", "40M", "-l", "1000", "-k", "10000", "-J"];
        const r = await topo.lab.exec("client", reverse ? [...args, "-R"] : args, { timeoutMs: 30_000 });
        const after = (await topo.delayLine(2)).counters[dir];
        const sum = JSON.parse(r.stdout).end.sum;
        expect(sum.packets).toBeGreaterThanOrEqual(10_000);
        const frames = after.rxFrames - before.rxFrames;
        results.push({ dir, iperf: (100 * sum.lost_packets) / sum.packets, delayLine: (100 * (after.lost - before.lost)) / frames, frames });
      }
      log(`loss at 3 %: ${results.map((x) => `${x.dir} ${x.delayLine.toFixed(2)} % of ${x.frames} frames (iperf3 saw ${x.iperf.toFixed(2)} %)`).join(", ")}`);
      // The emulated loss is what the delay line dropped at random. iperf3 sees it plus whatever
      // its receiver, a process, failed to read in time on a busy machine (4.4 % seen at a load
      // of 9): never less.
      for (const x of results) {
        expect(x.frames).toBeGreaterThanOrEqual(10_000);
        expect(Math.abs(x.delayLine - 3)).toBeLessThan(1);
        expect(x.iperf).toBeGreaterThanOrEqual(x.delayLine - 0.2);
      }
    } finally {
      await topo.shape(2, { lossPct: 0 });
    }
  }, 40_000);

  test("jitter: spreads the RTTs within [2d, 2d + 2j] and never reorders", async () => {
    // 25 ms each way: its spread (p10–p90 of the RTTs, about 20 ms measured: in-order delivery
    // narrows the 28 ms of two uniform draws) stays well above what the machine's load spreads an
    // undelayed round trip by (up to ~9 ms seen with a compiler running beside): with 10 ms the
    // two were of the same size and the check flaked.
    const D = 20;
    const J = 25;
    await topo.shape(2, { delayMs: D, jitterMs: J });
    try {
      await ping(2, 1, 10); // ARP resolved first: it would add a round trip to the first probe
      // Uplink 1 (40 ms each way, no jitter) pinged alongside: what the machine's load adds to a
      // round trip at this moment (the delay lines are processes; on a busy machine they are woken late).
      const [j, ref] = await Promise.all([ping(2, 200, 5), ping(1, 200, 5)]);
      const noise = ref.rtts.map((r) => r - 80);
      // 1250 datagrams/s (0.8 ms apart) under 25 ms of jitter: a delay line that reordered would do it constantly.
      const u = topo.uplinks[2]!;
      const args = ["iperf3", "-c", u.serverAddr, "-B", u.clientAddr, "-u", "-b", "5M", "-l", "500", "-t", "2", "-J"];
      const udp = JSON.parse((await topo.lab.exec("client", args, { timeoutMs: 20_000 })).stdout).end.streams[0].udp;
      await topo.shape(2, { jitterMs: 0 });
      const flat = await ping(2, 50, 10);
      const spread = (r: number[]) => r[Math.floor(r.length * 0.9)]! - r[Math.floor(r.length * 0.1)]!;
      const noise90 = noise[Math.floor(noise.length * 0.9)]!;
      log(`jitter ${J} ms: RTT ${j.rtts[0]}…${j.rtts.at(-1)} ms, p10–p90 spread ${spread(j.rtts).toFixed(2)} ms (without: ${spread(flat.rtts).toFixed(2)} ms); load's own p90 ${noise90.toFixed(2)} ms; ${udp.out_of_order} of ${udp.packets} datagrams out of order`);
      expect(j.replies.length).toBeGreaterThanOrEqual(195);
      expect(udp.packets).toBeGreaterThan(2000);
      expect(udp.out_of_order).toBe(0);
      // Nothing arrives before 2d. The upper end 2d + 2j holds for what the delay line does, plus
      // what the load adds at that moment: with RTT = 2d + J + N, J ≤ 2j, at most 10 % of the RTTs
      // exceed 2d + 2j + p90(N) (N measured on uplink 1 alongside); 15 % allowed for sampling. A
      // delay line whose jitter went to 2j per way would put about a quarter above 2d + 2j.
      // (At a load of 12 with a busy core, 19 of 200 exceeded 2d + 2j + 2 ms; N's p90 was 14 ms.)
      expect(j.rtts[0]!).toBeGreaterThanOrEqual(2 * D);
      expect(j.rtts.filter((r) => r < 2 * D + 2 * J + 2 + Math.max(0, noise90)).length).toBeGreaterThanOrEqual(Math.ceil(j.rtts.length * 0.85));
      // The jitter's own spread, over the same uplink's without jitter measured just after: what
      // the machine's load adds to both is no part of it. A third of J: about 0.8 J is measured,
      // and a delay line applying half the jitter would still clear it, one applying none would not.
      expect(spread(j.rtts) - spread(flat.rtts)).toBeGreaterThan(J / 3);
      const seqs = j.replies.map((r) => r.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b)); // replies printed in arrival order
    } finally {
      await topo.shape(2, { delayMs: 0, jitterMs: 0 });
    }
  }, 20_000);

  test("trace-driven rate: a saturated link delivers the trace's opportunities within 5 % over 30 s, and a rewind replays the same per-second profile", async () => {
    // Uplink 0 up (client → server) follows Verizon-LTE-short.up, uplink 1 down follows
    // ATT-LTE-driving-2016.down, both at once; no delay, so what leaves the bottleneck at an
    // opportunity is counted at the receiving interface at once.
    //
    // What is judged is the delay line, not the sender: the delivered bytes (counted by the
    // receiving interface, not by the delay line) against the bytes the trace's opportunities in
    // the same window of the delay line's clock could carry, less the opportunities that found
    // the bottleneck empty (the delay line's count; on a loaded machine a sender stalls now and
    // then; ARP no longer crosses the bottleneck, see pinNeighbours in topology.ts). The flow must have
    // kept the bottleneck busy for ≥ 95 % of the opportunities, or the run says nothing; a deep
    // bottleneck (QUEUE: 0.4 s of sender stall at the ATT trace's busiest second, 1.6 s at the
    // Verizon trace's mean) makes that hold. A delay line that loses frames after the
    // bottleneck, carries less than an opportunity's 1500 bytes, or skips opportunities fails.
    const cases = [
      { i: 0, trace: "Verizon-LTE-short", ext: ".up", download: false },
      { i: 1, trace: "ATT-LTE-driving-2016", ext: ".down", download: true },
    ] as const;
    // 30 s for the rate (the issue's window); the rewound run is compared over its first 20 s,
    // where both traces' unaligned seconds differ clearly from the aligned ones (correlation 0.37 and −0.20).
    const SECONDS = 30;
    const REPLAY_SECONDS = 20;
    const QUEUE = 1000;
    const traces = cases.map((c) => loadTrace(c.trace + c.ext));
    for (const c of cases) await topo.shape(c.i, { rateMbit: undefined, trace: c.trace, delayMs: 0, queuePackets: QUEUE });
    // Saturating: UDP offered above the trace's busiest second of the window, two streams (a
    // stalled sender thread leaves the other). At the default priority: at the wire's, the
    // senders and delay lines of two such runs at once took both cores (delay lines' control
    // sockets unanswered for 3 s); the deep queue rides out the senders' stalls instead.
    const offered = traces.map((t) => 1.3 * Math.max(...traceSeries(t, 0, SECONDS + 1)));
    // The flows run until the measurement is done (a bound of 4 × its nominal length); stopped
    // then rather than left to end by themselves, since their closing exchange would wait behind
    // a deep queue drained at the trace's slowest seconds.
    const bound = 4 * (1 + SECONDS + 1 + REPLAY_SECONDS);
    const flows = cases.map((c, k) => {
      const u = topo.uplinks[c.i]!;
      const args = ["iperf3", "-c", u.serverAddr, "-B", u.clientAddr, "-u", "-P", "2", "-b", `${(offered[k]! / 2).toFixed(1)}M`, "-l", "1400", "-t", String(bound)];
      return topo.lab.spawn("client", c.download ? [...args, "-R"] : args, { stdout: "ignore", stderr: "ignore" });
    });
    const wallMs = () => performance.timeOrigin + performance.now();
    /**
     * The receiving interface's counters and the delay line's of that direction, read at once.
     * The delay line's are one instant of its worker's (servedThroughMs: every opportunity up to
     * then counted), which is the time base for both: a starved worker serves late, and what it
     * has not served has not reached the interface either. Only the worker's progress between the
     * two reads is unaccounted for: at most what it serves in `gap` (the interface's reading's
     * distance from the worker's instant, ms; logged, it also counts a worker asleep with
     * nothing due), a shell's tens of ms on a loaded machine.
     */
    const sample = async (k: number) => {
      const c = cases[k]!;
      const u = topo.uplinks[c.i]!;
      const [ns, dev] = c.download ? ["client", u.clientIf] : ["server", u.serverIf];
      const asked = wallMs();
      const [r, dl] = await Promise.all([
        topo.lab.exec(ns, ["sh", "-c", 'date +%s%N; cat /sys/class/net/"$1"/statistics/rx_bytes /sys/class/net/"$1"/statistics/rx_packets; date +%s%N', "sh", dev], { check: true }),
        topo.delayLine(c.i),
      ]);
      const [t0, bytes, packets, t1] = r.stdout.trim().split("\n").map(Number) as [number, number, number, number];
      const d = dl.counters[c.download ? "ba" : "ab"];
      return {
        at: d.servedThroughMs,
        traceStart: d.traceStartMs,
        traceMs: d.servedThroughTraceMs,
        gap: Math.max(Math.abs(t0 / 1e6 - d.servedThroughMs), Math.abs(t1 / 1e6 - d.servedThroughMs)),
        lag: asked - d.servedThroughMs,
        rxBytes: bytes,
        rxPackets: packets,
        opportunities: d.opportunities,
        unused: d.opportunities - d.usedOpportunities,
      };
    };
    type Sample = Awaited<ReturnType<typeof sample>>;
    /** Rewinds both traces, waits until both workers applied it, then samples once a second for `seconds`. */
    const run = async (seconds: number) => {
      await Bun.sleep(1000); // the bottleneck queues fill before the traces start again
      const before = await Promise.all(cases.map((_, k) => sample(k)));
      await topo.rewind();
      // The rewind is asked of the control thread; the worker applies it on its next round.
      let samples = [await Promise.all(cases.map((_, k) => sample(k)))];
      const REWIND_WAIT_MS = 2000;
      const asked = performance.now();
      for (let tries = 0; tries < REWIND_WAIT_MS / 10 && performance.now() - asked < REWIND_WAIT_MS && samples[0]!.some((x, k) => x.traceStart === before[k]!.traceStart); tries++) {
        await Bun.sleep(10);
        samples = [await Promise.all(cases.map((_, k) => sample(k)))];
      }
      const starts = samples[0]!.map((x) => x.traceStart);
      samples[0]!.forEach((x, k) => expect(x.traceStart, `the delay line of ${cases[k]!.trace} did not rewind within ${REWIND_WAIT_MS} ms`).not.toBe(before[k]!.traceStart));
      const startedAt = Math.min(...starts);
      for (let s = 1; s <= seconds; s++) {
        await Bun.sleep(Math.max(0, startedAt + s * 1000 - wallMs()));
        samples.push(await Promise.all(cases.map((_, k) => sample(k))));
      }
      return cases.map((_, k) => {
        const at = samples.map((x) => x[k]!);
        const tr = traces[k]!;
        const start = starts[k]!;
        for (const x of at) expect(x.traceStart, "the trace started again during the run").toBe(start);
        // What the worker has served by a reading: the trace's opportunities at or before the
        // reading's trace time, on the worker's own clock (see servedThroughTraceMs). Not those
        // before it: a reading in the rewind's own round (trace time 0) had served the 21 at 0 ms
        // of ATT-LTE-driving-2016.down, which then went missing from the run's count (11 422
        // counted, 11 443 "offered").
        const opportunitiesBy = (x: Sample) => opportunitiesThrough(tr, x.traceMs);
        // IP bytes, as the trace counts them: the interface counts the 14-byte Ethernet header too.
        const ipMbit = (a: Sample, b: Sample) => ((b.rxBytes - a.rxBytes - 14 * (b.rxPackets - a.rxPackets)) * 8) / ((b.at - a.at) * 1000);
        /** What the trace offered between two samples, less what found the bottleneck empty, Mbit/s. */
        const servedMbit = (a: Sample, b: Sample) => ((opportunitiesBy(b) - opportunitiesBy(a) - (b.unused - a.unused)) * OPPORTUNITY_BYTES * 8) / ((b.at - a.at) * 1000);
        const [first, last] = [at[0]!, at.at(-1)!];
        const offeredOpp = opportunitiesBy(last) - opportunitiesBy(first);
        return {
          delivered: ipMbit(first, last),
          served: servedMbit(first, last),
          mean: traceMeanMbit(tr, first.traceMs, last.traceMs),
          firstTraceMs: first.traceMs,
          offeredOpp,
          countedOpp: last.opportunities - first.opportunities,
          unusedShare: (last.unused - first.unused) / offeredOpp,
          maxGap: Math.max(...at.map((x) => x.gap)),
          maxLag: Math.max(...at.map((x) => x.lag)),
          perSecond: at.slice(1).map((b, s) => ipMbit(at[s]!, b)),
          servedPerSecond: at.slice(1).map((b, s) => servedMbit(at[s]!, b)),
        };
      });
    };
    let first: Awaited<ReturnType<typeof run>>;
    let second: typeof first;
    let dl: Awaited<ReturnType<Topology["delayLine"]>>[];
    try {
      first = await run(SECONDS);
      second = await run(REPLAY_SECONDS);
      dl = await Promise.all(cases.map((c) => topo.delayLine(c.i)));
      // Both flows still running at the end: the whole measurement was under load.
      for (const f of flows) expect(f.exitCode).toBeNull();
    } finally {
      for (const f of flows) f.kill();
      await Promise.all(flows.map((f) => f.exited));
      for (const c of cases) await topo.shape(c.i, { trace: undefined, rateMbit: 20, delayMs: 0, queuePackets: 100 });
    }

    const corr = (x: number[], y: number[]) => {
      const mx = x.reduce((a, b) => a + b, 0) / x.length;
      const my = y.reduce((a, b) => a + b, 0) / y.length;
      let sxy = 0, sxx = 0, syy = 0;
      x.forEach((xi, j) => ((sxy += (xi - mx) * (y[j]! - my)), (sxx += (xi - mx) ** 2), (syy += (y[j]! - my) ** 2)));
      return sxy / Math.sqrt(sxx * syy);
    };
    const meanAbsDiff = (x: number[], y: number[]) => x.reduce((s, v, j) => s + Math.abs(v - y[j]!), 0) / x.length;
    cases.forEach((c, k) => {
      const [a, b] = [first[k]!, second[k]!];
      const d = dl[k]!.counters[c.download ? "ba" : "ab"];
      const late = `opportunities served ≤ 0.1 / 0.5 / 1 / 2 / 5 / > 5 ms late: ${d.late0_1} / ${d.late0_5} / ${d.late1} / ${d.late2} / ${d.late5} / ${d.lateMore}`;
      const head = a.perSecond.slice(0, REPLAY_SECONDS);
      // Without the rewind the second run would have met the trace's next seconds instead:
      // what a test of the profile must be able to tell apart.
      const unalignedNext = traceSeries(traces[k]!, (SECONDS + 1) * 1000, REPLAY_SECONDS);
      const unrewound = corr(traceSeries(traces[k]!, 0, REPLAY_SECONDS), unalignedNext);
      log(
        `trace ${c.trace}${c.ext}: delivered ${a.delivered.toFixed(2)} / ${b.delivered.toFixed(2)} Mbit/s; the trace's opportunities less those that found the queue empty ${a.served.toFixed(2)} / ${b.served.toFixed(2)} ` +
          `(trace mean ${a.mean.toFixed(2)} / ${b.mean.toFixed(2)}; ${(100 * a.unusedShare).toFixed(2)} / ${(100 * b.unusedShare).toFixed(2)} % of opportunities found it empty; the delay line counted ${a.countedOpp} / ${b.countedOpp} opportunities, the trace has ${a.offeredOpp} / ${b.offeredOpp} by the worker's clock from its first reading at trace time ${a.firstTraceMs.toFixed(3)} / ${b.firstTraceMs.toFixed(3)} ms; ` +
          `its clock behind the sampler's by up to ${a.maxLag.toFixed(1)} / ${b.maxLag.toFixed(1)} ms, the interface read up to ${a.maxGap.toFixed(1)} / ${b.maxGap.toFixed(1)} ms from it); ` +
          `per second against the trace's opportunities in the same windows: correlation ${corr(a.perSecond, a.servedPerSecond).toFixed(3)} / ${corr(b.perSecond, b.servedPerSecond).toFixed(3)}, mean |diff| ${meanAbsDiff(a.perSecond, a.servedPerSecond).toFixed(3)} / ${meanAbsDiff(b.perSecond, b.servedPerSecond).toFixed(3)} Mbit/s; run 2 vs run 1's first ${REPLAY_SECONDS} s: correlation ${corr(head, b.perSecond).toFixed(3)}, mean |diff| ${meanAbsDiff(head, b.perSecond).toFixed(3)} Mbit/s ` +
          `(the trace's seconds 0–${REPLAY_SECONDS} vs ${SECONDS + 1}–${SECONDS + 1 + REPLAY_SECONDS}: correlation ${unrewound.toFixed(2)}, mean |diff| ${meanAbsDiff(unalignedNext, traceSeries(traces[k]!, 0, REPLAY_SECONDS)).toFixed(2)} Mbit/s); ${late}; bottleneck drops ${d.overflowDrops}`,
      );
      log(`  run 1: ${a.perSecond.map((x) => x.toFixed(1)).join(" ")}`);
      log(`  run 2: ${b.perSecond.map((x) => x.toFixed(1)).join(" ")}`);
      for (const r of [a, b]) {
        // The delay line walked the trace's opportunities: by its own clock, the count is the
        // trace's exactly, also with a reading on an opportunity's millisecond (the worker decides
        // what is due in the trace's time, the very number it publishes: TraceCursor.dueBy).
        expect(r.countedOpp).toBe(r.offeredOpp);
        expect(r.unusedShare, "the sender did not keep the bottleneck busy: the run cannot judge the rate").toBeLessThan(0.05);
        // Delivered within 5 % of what the opportunities carried.
        expect(Math.abs(r.delivered - r.served) / r.served).toBeLessThan(0.05);
      }
      // Same profile: after each rewind the delivered rate follows the trace's seconds from its
      // start, judged per second against the trace's opportunities over the very same windows of
      // the worker's clock (so a starved worker, serving late, moves both sides alike; run 2
      // against run 1 directly, logged above, is not: measured at a load of ~15 with two runs at
      // once, 0.79). What still moves bytes between neighbouring seconds is the worker's progress
      // between its reading and the interface's (the shell's tens of ms on a loaded machine):
      // δ ≲ 50 ms keeps each second within ~5 % on each side, so per second within 10 % of the
      // mean (mean |diff|) and a correlation ≥ 0.9.
      // A delay line that did not rewind would meet the trace's next seconds instead: 3 times
      // the bound away or more, and a correlation of 0.37 / −0.20.
      for (const r of [a, b]) {
        expect(meanAbsDiff(r.perSecond, r.servedPerSecond)).toBeLessThan(0.1 * r.mean);
        expect(corr(r.perSecond, r.servedPerSecond)).toBeGreaterThan(0.9);
      }
      expect(unrewound).toBeLessThan(0.5);
      expect(meanAbsDiff(unalignedNext, traceSeries(traces[k]!, 0, REPLAY_SECONDS))).toBeGreaterThan(3 * 0.1 * b.mean);
      expect(d.rewinds).toBeGreaterThanOrEqual(3); // the trace's start, then one per run
    });
  }, 120_000);

  test("cut drops everything in both directions, the interface stays up, restore brings it back", async () => {
    const u = topo.uplinks[2]!;
    await topo.cut(2);
    const before = await topo.delayLine(2);
    const [up, down] = await Promise.all([
      ping(2, 20, 20),
      topo.lab.exec("server", ["ping", "-n", "-c", "20", "-i", "0.02", "-W", "0.5", "-I", u.serverAddr, u.clientAddr], { timeoutMs: 5000 }),
    ]);
    const after = await topo.delayLine(2);
    expect(up.replies.length).toBe(0);
    expect(down.stdout).toContain(" 0 received");
    for (const d of ["ab", "ba"] as const) {
      expect(after.counters[d].txFrames).toBe(before.counters[d].txFrames); // nothing got through
      expect(after.counters[d].cutDrops).toBeGreaterThan(before.counters[d].cutDrops);
    }
    expect((await topo.lab.exec("client", ["ip", "-o", "link", "show", "dev", u.clientIf])).stdout).toMatch(/<[^>]*\bUP,LOWER_UP\b/); // a TAP reports operstate UNKNOWN
    await topo.restore(2);
    expect((await ping(2, 5, 20)).replies.length).toBe(5);
    expect(topo.state(2).cut).toBe(false);

    // A cut shorter than the delay still loses what was in flight: a 20 ms cut with 100 ms each
    // way hits the probes of 220 ms (≈ 14 at ping's real pace of ~16 ms here); if frames in
    // flight survived, only the ≈ 3 crossing the delay line during the cut would be lost.
    await topo.shape(2, { delayMs: 100 });
    const probes = ping(2, 80, 10);
    await Bun.sleep(500);
    const cutStarted = performance.now();
    await topo.cut(2);
    await Bun.sleep(20);
    await topo.restore(2);
    // The cut lasted at most this long (a busy machine may stretch the 20 ms).
    const cutMs = performance.now() - cutStarted;
    const seqs = new Set((await probes).replies.map((r) => r.seq));
    const missing = Array.from({ length: 80 }, (_, k) => k + 1).filter((q) => !seqs.has(q));
    log(`${cutMs.toFixed(0)} ms cut with 100 ms one-way delay: probes ${missing[0]}…${missing.at(-1)} lost (${missing.length})`);
    expect(missing.length).toBeGreaterThanOrEqual(8);
    // At most the probes sent (10 ms apart at the fastest) during the cut and the 200 ms before it
    // that were still in flight, one more at each end.
    expect(missing.length).toBeLessThanOrEqual(Math.ceil((200 + cutMs) / 10) + 2);
    expect(missing.at(-1)! - missing[0]! + 1).toBe(missing.length); // one contiguous gap
    await topo.shape(2, { delayMs: 0 });
  });

  test("client interface down and up: the uplink stops and comes back with its route", async () => {
    await topo.setLinkDown(1, true);
    expect((await ping(1, 2, 50)).replies.length).toBe(0);
    await topo.setLinkDown(1, false);
    expect((await topo.lab.exec("client", ["ip", "route", "show", "table", "101"])).stdout).toContain("default via 192.168.102.1");
    await waitFor(async () => (await ping(1, 1, 10)).replies.length === 1, { timeoutMs: 5000, intervalMs: 100, what: "uplink 1 back" });
    const c = await topo.counters(1);
    expect(c.clientTxPackets).toBeGreaterThan(0);
    expect(c.clientRxPackets).toBeGreaterThan(0);
  });

  test("destroy removes everything, and is idempotent", async () => {
    const prefix = topo.lab.prefix;
    expect(existsSync(join(labRunDir(prefix), "topology.json"))).toBe(true);
    expect(await leftovers(prefix)).not.toEqual([]); // the check sees a live lab
    await topo.destroy();
    await topo.destroy();
    expect(await leftovers(prefix)).toEqual([]);
    // Processes started in the namespaces are gone too (their command lines do not name the prefix).
    expect(iperfServers.map((p) => p.exitCode !== null || p.signalCode !== null)).toEqual(iperfServers.map(() => true));
  });

  test("a creator killed with SIGKILL: cleanupByPrefix leaves nothing", async () => {
    const script = `
      import { createTopology } from ${JSON.stringify(join(import.meta.dir, "topology.ts"))};
      const t = await createTopology({ uplinks: [{ delayMs: 5 }, { rateMbit: 10 }] });
      console.log(t.lab.prefix);
      setInterval(() => {}, 1000);
    `;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
    const reader = child.stdout.getReader();
    let text = "";
    await waitFor(
      async () => {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the child exited before building its topology (${child.exitCode})`);
        text += new TextDecoder().decode(value);
        return /^mlv[0-9a-z]{4}\n/.test(text);
      },
      { timeoutMs: 20_000, intervalMs: 1, what: "the child's topology" },
    );
    const prefix = text.trim();
    prefixesUsed.add(prefix);
    child.kill("SIGKILL");
    await child.exited;
    const left = await leftovers(prefix);
    expect(left.some((l) => l.startsWith("namespace"))).toBe(true);
    expect(left.some((l) => l.startsWith("process") && l.includes("delayline.ts"))).toBe(true);
    await cleanupByPrefix(prefix);
    expect(await leftovers(prefix)).toEqual([]);
  }, 30_000);
});

test("createTopology refuses clearly: without root, with fewer than 2 or more than 4 uplinks, bad shapes", async () => {
  const noLab = labSkipReason();
  if (noLab) return void (await expect(createTopology({ uplinks: [{}, {}] })).rejects.toThrow(`cannot be built: ${noLab}`));
  await expect(createTopology({ uplinks: [{}] })).rejects.toThrow("2 to 4 uplinks");
  await expect(createTopology({ uplinks: [{}, {}, {}, {}, {}] })).rejects.toThrow("2 to 4 uplinks");
  await expect(createTopology({ uplinks: [{}, { lossPct: 120 }] })).rejects.toThrow("lossPct");
});
