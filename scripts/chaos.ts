/**
 * `npm run chaos` (root): the real binary under hostile input, peer faults, link flaps, a soak
 * and resource exhaustion, on the lab topology (test/lab/topology.ts) with two dist/mlvpn
 * processes. Each test records figures, bounds and pass/fail in
 * bench/results/chaos-<tests>-<time>.json; RELIABILITY.md is then written from the latest
 * result of every test found there, each table with the commit it ran at.
 *
 *   sudo npm run chaos                      every test at its default size (about 35 minutes: config 12, soak 10, flaps 7.5)
 *   sudo npm run chaos -- --long            sizes and durations × 6 (the soak 60 min)
 *   sudo npm run chaos -- --only datagrams,control
 *   sudo npm run chaos -- --scale 0.1       a quick run (sizes × 0.1)
 *   sudo npm run chaos -- --only flaps --flap-kinds address --scale 0.3
 *                                           30 address changes only (kinds: blackhole, down, loss, address)
 *   sudo npm run chaos -- --only flaps --rp-filter on
 *                                           the server's reverse-path filter on for the flaps (default off)
 *   npm run chaos -- --report               only write RELIABILITY.md again from the results
 *
 * Tests: datagrams, control, config, faults, flaps, soak, exhaustion. The machine is shared and
 * small (2 cores): timings are what this run saw, next to their bounds.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildBinary, ROOT } from "../test/lab/mlvpn.ts";
import { labSkipReason } from "../test/lab/netns.ts";
import { FLAP_KIND_NAMES, faults, flapOptions, flaps } from "./chaos/faults.ts";
import { type ChaosLab, startChaosLab, type Row, type TestResult } from "./chaos/harness.ts";
import { hostileConfig, hostileControl, hostileDatagrams } from "./chaos/hostile.ts";
import { exhaustion, soak } from "./chaos/soak.ts";

type Body = (lab: ChaosLab, scale: number) => Promise<{ rows: Row[]; notes: string[]; data: Record<string, unknown> }>;

interface ChaosTest {
  title: string;
  /** What the test does, for RELIABILITY.md. */
  what: string;
  body: Body;
  /** Builds its own labs (more than one, or with special settings). */
  ownLab?: boolean;
}

export const TESTS: Record<string, ChaosTest> = {
  datagrams: {
    title: "Hostile datagrams against the running daemons",
    what: "10⁶ datagrams (random, captured then truncated, bit-flipped or replayed as is, of the maximal UDP length, empty) sent as fast as the lab allows: ⅔ to the server's two ports, ⅓ to the client's first link port, while a ping runs through the tunnel. That ping is informative only: the flood fills the same socket receive buffers as the tunnel's own datagrams, and the kernel drops whichever arrives at a full buffer. Memory is first read after a warm-up of 5 % of the same datagrams, as for the control and config tests.",
    body: hostileDatagrams,
  },
  control: {
    title: "Malformed control requests",
    what: "10⁴ malformed requests over HTTP and the Unix socket (huge or many headers, invalid UTF-8, lines without end, NUL bytes, bad versions, methods and paths, bodies, garbage, pipelining), 20 slow requests trickled a byte every 250 ms, then 1000 connections held open at once. Memory is first read after a warm-up of 5 % of the same (the first run of a code path compiles it once), and read as the process's own memory (RssAnon) and as the live heap after a full collection (SIGUSR1).",
    body: hostileControl,
  },
  config: {
    title: "Mutated configuration files",
    what: "Seeded mutations of the lab server's INI file (lines deleted, duplicated, swapped, cut, values replaced by junk, random bytes, bogus sections, unknown keys, CRLF/BOM): 2·10³ through `mlvpn -t` and 2·10³ through SIGHUP to the running server (each also checked with `-t`), × 5 with --long. Memory is first read after a warm-up of 5 % of the SIGHUP mutants and of the rebinds, as for the control test.",
    body: hostileConfig,
  },
  faults: {
    title: "Peer faults",
    what: "Server SIGKILL and restart, server SIGSTOP for 10 s then SIGCONT, client restart, both restarted at once, the tun device deleted under a running daemon, the status script hanging and failing, the real-time clock stepped +1 h then −1 h for 8 s each (adjtimex, stepped back exactly; the whole machine's clock, so both ends) with a 50 pps ping running.",
    body: faults,
    ownLab: true,
  },
  flaps: {
    title: "Link flaps",
    what: "100 cycles (× scale) of one uplink at a time going away and coming back (blackhole, interface down, 100 % loss, or its address removed then another one given, as a DHCP renewal; for 200 ms … 20 s), both uplinks in turn (address changes on uplink 2, whose link is bound with `bindinterface`), with a 50 pps ping running through the tunnel; after each restore, the time until both links carry traffic again.",
    body: flaps,
  },
  soak: {
    title: "Soak",
    what: "10 min (60 with --long) of mixed traffic: a bulk TCP stream at 1 MB/s, a 50 pps ping, short TCP connections; RSS, CPU, fds and threads of both daemons sampled every 10 s.",
    body: soak,
  },
  exhaustion: {
    title: "Resource exhaustion",
    what: "The server restarted with a low open-files limit (then 100 control clients at once), with its log on a full disk, throttled to 20 % of a core by a cgroup, and with tiny UDP socket buffers (`socket_buffer = 4096` on its links), a transfer through the tunnel each time.",
    body: exhaustion,
    ownLab: true,
  },
};

function parseArgs(argv: string[]): { scale: number; only: string[]; report: boolean } {
  let scale = 1;
  let only = Object.keys(TESTS);
  let report = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--report") report = true;
    else if (a === "--long") scale *= 6;
    else if (a === "--scale") scale *= Number(argv[++i]);
    else if (a === "--only") only = argv[++i]!.split(",");
    else if (a === "--rp-filter") {
      const v = argv[++i];
      if (v !== "on" && v !== "off") throw new Error(`--rp-filter takes on or off, not ${v ?? "nothing"}`);
      flapOptions.rpFilter = v === "on";
    } else if (a === "--flap-kinds") {
      const names = (argv[++i] ?? "").split(",");
      const bad = names.filter((n) => !FLAP_KIND_NAMES[n]);
      if (bad.length) throw new Error(`--flap-kinds: no kind named ${bad.join(", ")} (there are ${Object.keys(FLAP_KIND_NAMES).join(", ")})`);
      flapOptions.kinds = names.map((n) => FLAP_KIND_NAMES[n]!);
    } else throw new Error(`unknown argument ${a} (try --long, --scale X, --only ${Object.keys(TESTS).join(",")}, --rp-filter on|off, --flap-kinds ${Object.keys(FLAP_KIND_NAMES).join(",")})`);
  }
  for (const n of only) if (!TESTS[n]) throw new Error(`no chaos test named ${n} (there are ${Object.keys(TESTS).join(", ")})`);
  if (!(scale > 0)) throw new Error("--scale must be positive");
  return { scale, only, report };
}

function commit(): string {
  const rev = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: ROOT }).stdout.toString().trim();
  const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], { cwd: ROOT }).stdout.toString().trim() !== "";
  return dirty ? `${rev} (with uncommitted changes)` : rev;
}

const RESULTS = join(ROOT, "bench", "results");

interface RunFile {
  commit: string;
  started: string;
  scale: number;
  loadavg: string;
  results: TestResult[];
}

function writeReliability(): void {
  const latest = new Map<string, { run: RunFile; result: TestResult }>();
  for (const f of readdirSync(RESULTS).filter((f) => /^chaos-.*\.json$/.test(f)).sort()) {
    const run = JSON.parse(readFileSync(join(RESULTS, f), "utf8")) as RunFile;
    for (const r of run.results) if (!latest.has(r.name) || latest.get(r.name)!.run.started <= run.started) latest.set(r.name, { run, result: r });
  }
  let md = `# Reliability

What \`sudo npm run chaos\` (scripts/chaos.ts) measured: the real binary (dist/mlvpn, client and
server) on the lab topology (test/lab/topology.ts: two uplinks of 20 Mbit/s, 5 ms each way,
delay lines in userspace), under hostile input, peer faults, link flaps, a soak and resource
exhaustion. Each table is the latest run of that test, with the commit it ran at and its size
(scale 1 = the defaults, 6 = \`--long\`). The machine is small and shared (2 cores, other work
running beside it, load average given): times are what that run saw.

Reproduce: \`npm run build && sudo npm run chaos\` (all, about 35 minutes on this machine: the config test 12, the soak 10, the flaps 7.5), or
\`sudo npm run chaos -- --only NAME[,NAME] [--scale X | --long]\`. Raw figures:
bench/results/chaos-*.json.

`;
  const failed: string[] = [];
  for (const [name, t] of Object.entries(TESTS)) {
    const l = latest.get(name);
    md += `## ${t.title} (\`${name}\`)\n\n${t.what}\n\n`;
    if (!l) {
      md += "Not run yet.\n\n";
      continue;
    }
    const r = l.result;
    md += `Run at ${l.run.commit}, ${l.run.started}, scale ${l.run.scale}, ${r.seconds.toFixed(0)} s, load average ${l.run.loadavg}.\n\n`;
    md += "| figure | measured | bound | |\n|---|---|---|---|\n";
    for (const x of r.rows) md += `| ${x.figure} | ${x.value.replaceAll("|", "\\|")} | ${x.bound} | ${x.pass ? "pass" : "**FAIL**"} |\n`;
    md += "\n";
    for (const n of r.notes) md += `- ${n}\n`;
    if (r.notes.length) md += "\n";
    const bad = r.rows.filter((x) => !x.pass);
    if (bad.length) failed.push(`${name}: ${bad.map((x) => x.figure).join("; ")}`);
  }
  md += `## Summary\n\n${failed.length === 0 ? "Every bound of every test run is met." : `Bounds not met (why: in the notes under each table):\n\n${failed.map((f) => `- ${f}`).join("\n")}`}\n`;
  writeFileSync(join(ROOT, "RELIABILITY.md"), md);
}

async function main(): Promise<number> {
  const { scale, only, report } = parseArgs(process.argv.slice(2));
  if (report) {
    writeReliability();
    return 0;
  }
  const skip = labSkipReason();
  if (skip) {
    console.error(`chaos: ${skip}`);
    return 2;
  }
  for (const tool of ["tcpdump", "ping", "ss"]) if (!Bun.which(tool)) return console.error(`chaos: ${tool} is needed (Debian: apt-get install ${tool === "ss" ? "iproute2" : tool === "ping" ? "iputils-ping" : tool})`), 2;
  buildBinary();
  mkdirSync(RESULTS, { recursive: true });
  const run: RunFile = { commit: commit(), started: new Date().toISOString(), scale, loadavg: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "), results: [] };
  const file = join(RESULTS, `chaos-${only.length === Object.keys(TESTS).length ? "all" : only.join("-")}-${run.started.replace(/[:.]/g, "")}.json`);
  let failures = 0;
  for (const name of only) {
    const t = TESTS[name]!;
    console.log(`chaos: ${name}: ${t.title} (scale ${scale})`);
    const t0 = performance.now();
    let result: TestResult;
    let lab: ChaosLab | undefined;
    try {
      lab = t.ownLab ? undefined : await startChaosLab();
      const out = await t.body(lab!, scale);
      result = { name, title: t.title, ...out, seconds: (performance.now() - t0) / 1000 };
    } catch (e) {
      result = { name, title: t.title, rows: [{ figure: "the test ran to its end", value: String((e as Error).stack ?? e).split("\n").slice(0, 3).join(" "), bound: "yes", pass: false }], notes: [], data: {}, seconds: (performance.now() - t0) / 1000 };
    } finally {
      await lab?.destroy();
    }
    for (const x of result.rows) console.log(`  ${x.pass ? "pass" : "FAIL"}  ${x.figure}: ${x.value} (bound ${x.bound})`);
    for (const n of result.notes) console.log(`  note: ${n}`);
    if (result.rows.some((x) => !x.pass)) failures++;
    run.results.push(result);
    writeFileSync(file, `${JSON.stringify(run, null, 2)}\n`);
  }
  writeReliability();
  console.log(`chaos: ${only.length - failures}/${only.length} tests met every bound; ${file}; RELIABILITY.md written`);
  return failures === 0 ? 0 : 1;
}

if (import.meta.main) process.exit(await main());
