/**
 * The hostile-input tests of `npm run chaos`: datagrams to the running daemons' ports, malformed
 * control requests, and mutated configuration files through `mlvpn -t` and SIGHUP.
 */
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN } from "../../test/lab/mlvpn.ts";
import { SeededRandom } from "../../test/helpers/random.ts";
import { afterAttack, retentionNotes, snapshotBefore } from "./after-attack.ts";
import { alive, type ChaosLab, CONTROL_PORT, delta, HEAP_BOUND, heapBack, heapChange, liveHeap, logSince, mib, row, type Row, sample, stackTraces, startPing, sum, udpCounters } from "./harness.ts";

const BUN = process.execPath;
const HERE = import.meta.dir;
/** Reloads that each give a link a new socket, after the mutants (a leak per socket shows as growth). */
const REBINDS = 100;
/**
 * The share of an attack run before memory is first read: the first run of a code path compiles
 * it, once (its code blocks are heap objects, its machine code is the process's own memory).
 */
const WARM_UP = 0.05;

/** What the warm-up itself left, shown beside the rows that start after it. */
const warmUpRow = (cold: { rssAnonKiB: number }, warm: { rssAnonKiB: number }): Row =>
  row(`server: own memory (RssAnon) of the fresh daemon → after the ${WARM_UP * 100} % warm-up (MiB)`, `${mib(cold.rssAnonKiB)} → ${mib(warm.rssAnonKiB)}`, "informative (the level the rows below start from)", true);

/** Payloads of the UDP datagrams in a pcap file (Ethernet, IPv4), in capture order. */
export function pcapPayloads(file: Uint8Array): Uint8Array[] {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = v.getUint32(0, true);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && v.getUint32(0, false) !== 0xa1b2c3d4 && v.getUint32(0, false) !== 0xa1b23c4d) throw new Error("not a pcap file");
  const linktype = v.getUint32(20, le);
  if (linktype !== 1) throw new Error(`pcap link type ${linktype}: expected Ethernet (1)`);
  const out: Uint8Array[] = [];
  for (let off = 24; off + 16 <= file.length; ) {
    const incl = v.getUint32(off + 8, le);
    const frame = file.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    if (frame.length < 14 + 20 + 8 || frame[12] !== 0x08 || frame[13] !== 0x00) continue; // IPv4 only
    const ihl = (frame[14]! & 0x0f) * 4;
    if (frame[14 + 9] !== 17) continue; // UDP
    const udp = 14 + ihl;
    const len = ((frame[udp + 4]! << 8) | frame[udp + 5]!) - 8;
    out.push(frame.slice(udp + 8, udp + 8 + len));
  }
  return out;
}

/** Length-prefixed (u32 big-endian) concatenation, what hostile-udp.ts reads. */
function packCaptures(caps: Uint8Array[]): Uint8Array {
  const total = caps.reduce((n, c) => n + 4 + c.length, 0);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  let off = 0;
  for (const c of caps) {
    v.setUint32(off, c.length);
    out.set(c, off + 4);
    off += 4 + c.length;
  }
  return out;
}

/** 10⁶ hostile datagrams (default) to both server ports and the client's first link port. */
export async function hostileDatagrams(lab: ChaosLab, scale: number): Promise<{ rows: Row[]; notes: string[]; data: Record<string, unknown> }> {
  const { topo, dir } = lab;
  const rows: Row[] = [];
  const notes: string[] = [];
  const total = Math.round(1_000_000 * scale);

  // Real datagrams of this tunnel, captured on the server side of uplink 1 while a probe runs.
  const pcap = join(dir, "capture.pcap");
  const cap = topo.lab.exec("server", ["timeout", "10", "tcpdump", "-i", topo.uplinks[0]!.serverIf, "-w", pcap, "-c", "400", "-U", "udp"], { timeoutMs: 15_000 });
  await Bun.sleep(500);
  await lab.probe(100);
  await cap;
  const captures = pcapPayloads(new Uint8Array(readFileSync(pcap)));
  if (captures.length < 50) throw new Error(`captured only ${captures.length} datagrams of the tunnel`);
  writeFileSync(join(dir, "captures.bin"), packCaptures(captures));

  const clientPort = Number(/192\.168\.101\.2:(\d+)/.exec((await topo.lab.exec("client", ["ss", "-Hnua"], { check: true })).stdout)?.[1]);
  if (!clientPort) throw new Error("the client's link socket on 192.168.101.2 was not found");

  // 2/3 to the server's two ports (sent from the server's namespace), 1/3 to the client's port.
  const send = (ns: string, targets: string, count: number, seed: number) =>
    topo.lab.exec(ns, [BUN, join(HERE, "hostile-udp.ts"), "--targets", targets, "--count", String(count), "--captures", join(dir, "captures.bin"), "--seed", String(seed), "--max-seconds", String(Math.max(120, 600 * scale))], {
      timeoutMs: Math.max(150_000, 700_000 * scale),
    });
  // Memory is first read after a warm-up of the same kinds of datagrams (WARM_UP), as for the
  // control and config tests; the counters and the rows below start after it.
  const cold = sample(lab.proc.server.pid);
  const warmCount = Math.ceil(total * WARM_UP);
  for (const r of await Promise.all([send("server", `${topo.serverPublic}:5080,${topo.serverPublic}:5081`, Math.round((warmCount * 2) / 3), 21), send("client", `192.168.101.2:${clientPort}`, warmCount - Math.round((warmCount * 2) / 3), 22)])) {
    if (r.code !== 0) throw new Error(`the warm-up sender failed: ${r.stderr}`);
  }
  const before = await snapshotBefore(lab);
  rows.push(warmUpRow(cold, before.server));
  const statusBefore = { server: await lab.status("server"), client: await lab.status("client") };
  const udpBefore = { server: await udpCounters(topo, "server"), client: await udpCounters(topo, "client") };
  const probeDuring = startPing(lab, 0.1);
  const t0 = performance.now();
  const [toServer, toClient] = await Promise.all([
    send("server", `${topo.serverPublic}:5080,${topo.serverPublic}:5081`, Math.round((total * 2) / 3), 11),
    send("client", `192.168.101.2:${clientPort}`, total - Math.round((total * 2) / 3), 12),
  ]);
  const seconds = (performance.now() - t0) / 1000;
  const during = await probeDuring.stop();
  for (const r of [toServer, toClient]) if (r.code !== 0) throw new Error(`the hostile sender failed: ${r.stderr}`);
  const sent = { server: JSON.parse(toServer.stdout), client: JSON.parse(toClient.stdout) };
  await Bun.sleep(1000);
  const statusAfter = { server: await lab.status("server"), client: await lab.status("client") };
  const udpAfter = { server: await udpCounters(topo, "server"), client: await udpCounters(topo, "client") };

  const sentTotal = sent.server.total + sent.client.total;
  rows.push(row("datagrams sent (random, truncated, bit-flipped, replayed, 65 507 bytes, empty)", sentTotal, `${total}`, sentTotal >= total * 0.99));
  rows.push(row("send rate", `${Math.round(sentTotal / seconds)} /s over ${seconds.toFixed(1)} s`, "as fast as the lab allows", true));
  for (const side of ["server", "client"] as const) {
    const drops = delta(statusBefore[side].drops, statusAfter[side].drops);
    const kernel = delta(udpBefore[side], udpAfter[side]);
    // What the daemon read = sent − what the kernel dropped for a full receive buffer (InErrors
    // counts those, RcvbufErrors among them). Each read datagram is either counted by reason or
    // belongs to the tunnel's own traffic (which the probe keeps going).
    const kernelDropped = kernel.InErrors ?? 0;
    const read = sent[side].total - kernelDropped;
    const counted = sum(drops);
    notes.push(`${side}: drops by reason ${JSON.stringify(drops)}; kernel UDP counters ${JSON.stringify(kernel)}`);
    rows.push(row(`${side}: hostile datagrams read by the daemon (sent − kernel receive-buffer drops)`, read, "—", true));
    rows.push(row(`${side}: rejections counted in /status drops`, `${counted} (${((100 * counted) / Math.max(1, read)).toFixed(2)} % of read)`, "≥ 99.9 % of read", counted >= read * 0.999));
  }
  rows.push(row("probe during the attack (ping every 100 ms)", `${during.received}/${during.transmitted} answered`, "informative", true));
  await afterAttack(lab, before, rows);
  notes.push(...retentionNotes(rows));
  return { rows, notes, data: { sent, seconds, captures: captures.length, statusDrops: { server: statusAfter.server.drops, client: statusAfter.client.drops } } };
}

/** 10⁴ malformed control requests (default) over HTTP and the Unix socket, and 1000 connections at once. */
export async function hostileControl(lab: ChaosLab, scale: number): Promise<{ rows: Row[]; notes: string[]; data: Record<string, unknown> }> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const count = Math.round(10_000 * scale);
  // Memory is compared with a daemon that has run the control code once (WARM_UP of it): the
  // first requests compile that code, once, and a leak grows with the input.
  const cold = sample(lab.proc.server.pid);
  const warm = { unix: lab.sock("server"), port: CONTROL_PORT, count: Math.ceil(count * WARM_UP), concurrency: 50, hold: Math.ceil(1000 * WARM_UP), seed: 8, slow: 1 };
  const w = await lab.topo.lab.exec("server", [BUN, join(HERE, "hostile-control.ts"), JSON.stringify(warm)], { timeoutMs: 120_000 });
  if (w.code !== 0) throw new Error(`the warm-up control client failed: ${w.stderr}`);
  await Bun.sleep(6000);
  const before = await snapshotBefore(lab);
  rows.push(warmUpRow(cold, before.server));
  const statusBefore = await lab.status("server");
  const args = { unix: lab.sock("server"), port: CONTROL_PORT, count, concurrency: 50, hold: 1000, seed: 7, slow: 20 };
  const t0 = performance.now();
  const r = await lab.topo.lab.exec("server", [BUN, join(HERE, "hostile-control.ts"), JSON.stringify(args)], { timeoutMs: 600_000 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.code !== 0) throw new Error(`the hostile control client failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { perKind: Record<string, number>; connections: number; mustReject: number; unanswered: number; failed: number };
  // The held connections are cut at the idle deadline (5 s): wait for it before counting.
  await Bun.sleep(6000);
  const statusAfter = await lab.status("server");
  const rejected = delta(statusBefore.control_rejected, statusAfter.control_rejected);
  notes.push(`connections per kind: ${JSON.stringify(out.perKind)}`);
  notes.push(`control_rejected added: ${JSON.stringify(rejected)}`);
  rows.push(row("malformed requests + slow requests + connections at once", `${count} + ${args.slow} + ${args.hold} in ${seconds.toFixed(1)} s`, `${count} + 1000 at once`, true));
  rows.push(row("connections the daemon left hanging (no close within 15 s)", out.unanswered, "0", out.unanswered === 0));
  rows.push(row("connections refused by the kernel (connect failed)", out.failed, "informative (listen backlog)", true));
  rows.push(row("rejections counted in /status control_rejected", `${sum(rejected)} for ${out.mustReject} connections that must be refused`, "≥ one per such connection", sum(rejected) >= out.mustReject - out.failed));
  await afterAttack(lab, before, rows);
  notes.push(...retentionNotes(rows));
  return { rows, notes, data: { ...out, rejected, seconds } };
}

/** A seeded mutation of a configuration file's text. */
export function mutate(text: string, rng: SeededRandom): string {
  const int = (n: number) => Math.floor(rng.float() * n);
  const lines = text.split("\n");
  const pick = () => int(lines.length);
  const junk = ["", "-1", "0", "99999999999999999999", "1e309", "NaN", '"', '"unterminated', "[", "]", "=", "\u0000", "\uFFFD\uD800", "x".repeat(100_000), "0x10", "true", "🙂", "../../../etc/passwd", "${HOME}", "'single'", '"a" "b"'];
  const ops = int(4) + 1;
  for (let k = 0; k < ops; k++) {
    const i = pick();
    switch (int(10)) {
      case 0: // delete a line
        lines.splice(i, 1);
        break;
      case 1: // duplicate a line
        lines.splice(i, 0, lines[i] ?? "");
        break;
      case 2: {
        // replace a value
        const l = lines[i] ?? "";
        const eq = l.indexOf("=");
        lines[i] = eq > 0 ? `${l.slice(0, eq + 1)} ${junk[int(junk.length)]}` : `${l}${junk[int(junk.length)]}`;
        break;
      }
      case 3: // random bytes in a line
        lines[i] = Array.from({ length: 1 + int(40) }, () => String.fromCharCode(int(256))).join("");
        break;
      case 4: // truncate the file
        lines.length = i;
        break;
      case 5: // a bogus section
        lines.splice(i, 0, `[${junk[int(junk.length)]}]`);
        break;
      case 6: // an unknown key
        lines.splice(i, 0, `nosuchkey${int(100)} = ${junk[int(junk.length)]}`);
        break;
      case 7: // swap two lines
        [lines[i], lines[pick()]] = [lines[pick()] ?? "", lines[i] ?? ""];
        break;
      case 8: // CRLF, BOM or tabs
        lines[i] = ["\uFEFF", "\r", "\t"][int(3)] + (lines[i] ?? "") + "\r";
        break;
      default: // cut a line in the middle
        lines[i] = (lines[i] ?? "").slice(0, int((lines[i] ?? "").length + 1));
    }
  }
  return lines.join("\n");
}

/** `mlvpn -t` on one file: its verdict and whether it crashed or printed a stack trace. */
async function checkConfig(file: string): Promise<{ valid: boolean; crashed: string | null; clearError: boolean }> {
  const p = Bun.spawn([BIN, "-t", "-c", file], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  const traces = stackTraces(stdout + stderr);
  const crashed = p.signalCode ? `killed by ${p.signalCode}` : code !== 0 && code !== 1 && code !== 2 ? `exit ${code}` : traces.length ? `stack trace: ${traces[0]}` : null;
  // Refused: at least one error naming the file, with a line number where the file has lines.
  const clearError = code === 0 || stderr.includes(file);
  // -t checks the file for any machine: what only this one lacks (a status script that is not
  // a file here) is a warning "(mlvpn refuses to start with it)", exit 0. The daemon here refuses
  // it, so for the comparison with SIGHUP such a file counts as refused.
  return { valid: code === 0 && !stderr.includes("refuses to start with it"), crashed, clearError };
}

/** 10⁴ mutated configuration files (default 2·10³ each way; --long for 10⁴) through `mlvpn -t` and SIGHUP. */
export async function hostileConfig(lab: ChaosLab, scale: number): Promise<{ rows: Row[]; notes: string[]; data: Record<string, unknown> }> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const nTest = Math.round(2000 * scale);
  const nHup = Math.round(2000 * scale);
  const conf = join(lab.dir, "server.conf");
  const original = readFileSync(conf, "utf8");
  const rng = new SeededRandom(2024);

  // Through -t, two at a time (two cores).
  const mutantDir = join(lab.dir, "mutants");
  await Bun.$`mkdir -p ${mutantDir}`.quiet();
  let valid = 0;
  const crashes: string[] = [];
  const unclear: string[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    [0, 1].map(async (w) => {
      while (next < nTest) {
        const i = next++;
        const file = join(mutantDir, `t${w}.conf`);
        writeFileSync(file, mutate(original, rng));
        chmodSync(file, 0o600);
        const v = await checkConfig(file);
        if (v.valid) valid++;
        if (v.crashed) crashes.push(`#${i}: ${v.crashed}`);
        if (!v.clearError) unclear.push(`#${i}`);
        if (v.crashed) writeFileSync(join(mutantDir, `crash-${i}.conf`), readFileSync(file));
      }
    }),
  );
  const testSeconds = (performance.now() - t0) / 1000;
  rows.push(row("mutated files through `mlvpn -t`", `${nTest} (${valid} valid, ${nTest - valid} refused) in ${testSeconds.toFixed(0)} s`, `${nTest}`, true));
  rows.push(row("`mlvpn -t`: crashes or stack traces", crashes.length, "0", crashes.length === 0));
  rows.push(row("`mlvpn -t`: refusals without the file named", unclear.length, "0", unclear.length === 0));
  if (crashes.length) notes.push(`-t crashes (files kept in ${mutantDir}): ${crashes.slice(0, 5).join("; ")}`);

  // Through SIGHUP on the running server: each mutant is checked by -t as well, and a refusal
  // by -t must be a refused reload (reloads_refused + 1), an acceptance a reload.
  // Warm-up, as for the control test: WARM_UP of the mutants and of the rebinds below through
  // SIGHUP, each waited for, then the original file.
  // A reload's outcome: reloads_applied or reloads_refused goes up (the log is no signal: it
  // folds identical lines, "reload rejected ... (repeated 1 more time)").
  const counts = async () => {
    const st = await lab.status("server");
    return { applied: st.reloads_applied, refused: st.reloads_refused };
  };
  const outcomes = async () => {
    const c = await counts();
    return c.applied + c.refused;
  };
  /** Writes `text` (if given) as the server's file, sends SIGHUP and waits for its outcome. */
  const reloadWith = async (text?: string) => {
    if (text !== undefined) {
      writeFileSync(conf, text);
      chmodSync(conf, 0o600);
    }
    const seen = await outcomes();
    lab.proc.server.kill("SIGHUP");
    for (let w = 0; w < 500 && (await outcomes()) === seen; w++) await Bun.sleep(2);
  };
  // Reloads that change a link's socket: adsl2's bindport switched back and forth.
  const port = /\[adsl2\]\nbindport = (\d+)/.exec(original)?.[1];
  const rebound = (k: number) => original.replace(`[adsl2]\nbindport = ${port}`, `[adsl2]\nbindport = ${k % 2 === 0 ? Number(port) + 10 : port}`);

  // Warm-up, as for the control test: WARM_UP of the mutants and of the rebinds below through
  // SIGHUP, each waited for, then the original file.
  const cold = sample(lab.proc.server.pid);
  const warmRng = new SeededRandom(99);
  const warmTexts = [
    ...Array.from({ length: Math.ceil(nHup * WARM_UP) }, () => mutate(original, warmRng)),
    ...Array.from({ length: port ? Math.ceil(REBINDS * WARM_UP) : 0 }, (_, k) => rebound(k)),
    original,
  ];
  for (const text of warmTexts) {
    if (!alive(lab.proc.server)) break;
    await reloadWith(text);
  }
  const before = await snapshotBefore(lab);
  rows.push(warmUpRow(cold, before.server));
  const statusBefore = await lab.status("server");
  const disagreements: string[] = [];
  let expectedRefused = 0;
  let stuck = 0;
  const took: number[] = [];
  const t1 = performance.now();
  // The live heap halfway and at the end: the first half runs the reload paths (parser, diff,
  // every error) for the first time, which compiles their code once; a leak grows in both halves.
  let halfway: Awaited<ReturnType<typeof liveHeap>> = null;
  for (let i = 0; i < nHup; i++) {
    if (i === Math.floor(nHup / 2) && alive(lab.proc.server)) halfway = await liveHeap(lab, "server");
    const text = mutate(original, rng);
    const probeFile = join(mutantDir, "h.conf");
    writeFileSync(probeFile, text);
    chmodSync(probeFile, 0o600);
    const verdict = await checkConfig(probeFile);
    writeFileSync(conf, text);
    chmodSync(conf, 0o600);
    const refusedBefore = (await counts()).refused;
    const seen = await outcomes();
    const hupAt = performance.now();
    lab.proc.server.kill("SIGHUP");
    const deadline = hupAt + 10_000;
    let now = seen;
    while (now === seen && performance.now() < deadline && alive(lab.proc.server)) {
      await Bun.sleep(2);
      now = await outcomes();
    }
    if (now === seen) stuck++;
    else took.push(performance.now() - hupAt);
    if (!verdict.valid) expectedRefused++;
    const refusedNow = (await counts()).refused > refusedBefore;
    if (now !== seen && refusedNow === verdict.valid) {
      const keep = join(mutantDir, `disagree-${i}.conf`);
      writeFileSync(keep, text);
      disagreements.push(`#${i}: -t ${verdict.valid ? "accepted" : "refused"}, SIGHUP ${refusedNow ? "refused" : "applied"} (${keep})`);
    }
    if (!alive(lab.proc.server)) break;
  }
  const hupSeconds = (performance.now() - t1) / 1000;
  const atEnd = alive(lab.proc.server) ? await liveHeap(lab, "server") : null;
  const half = Math.ceil(nHup / 2);
  const secondHalf = row(
    `server: live heap over the second ${half} mutants (MiB)`,
    heapChange(halfway, atEnd),
    HEAP_BOUND,
    heapBack(halfway, atEnd),
  );
  // Back to the original configuration.
  if (alive(lab.proc.server)) await reloadWith(original);
  else writeFileSync(conf, original);
  const statusAfter = alive(lab.proc.server) ? await lab.status("server") : undefined;
  const refused = statusAfter ? statusAfter.reloads_refused - statusBefore.reloads_refused : NaN;
  // A leak grows with the number of reloads: the live heap (after a full collection, as RSS
  // would count the garbage of the reloads that a collection has not reached yet) over 300 more
  // reloads of the same file (after the mutants, so the reload paths are compiled).
  let plateau: Row | undefined;
  if (alive(lab.proc.server)) {
    const a = await liveHeap(lab, "server");
    for (let k = 0; k < 300 && alive(lab.proc.server); k++) await reloadWith();
    const b = alive(lab.proc.server) ? await liveHeap(lab, "server") : null;
    plateau = row("server: live heap over 300 more reloads of the same file (MiB)", heapChange(a, b), HEAP_BOUND, heapBack(a, b));
  }
  // Rebinds: each opens a new socket and a new link (a packet store, a receive slab), which the
  // same file never does.
  let rebinds: Row | undefined;
  if (alive(lab.proc.server)) {
    const a = await liveHeap(lab, "server");
    for (let k = 0; k < REBINDS && port && alive(lab.proc.server); k++) await reloadWith(rebound(k));
    writeFileSync(conf, original);
    const b = alive(lab.proc.server) ? await liveHeap(lab, "server") : null;
    const perSocket = a && b ? ` (${(((b.liveHeapMiB - a.liveHeapMiB) * 1024) / REBINDS).toFixed(1)} KiB per new socket)` : "";
    rebinds = row(`server: live heap over ${REBINDS} reloads that each give adsl2 a new socket (MiB)`, port ? heapChange(a, b) + perSocket : "no bindport in [adsl2]", HEAP_BOUND, !!port && heapBack(a, b));
  }
  const failedReloads = (logSince(lab.dir, "server", before.server.log).match(/reload failed/g) ?? []).length;
  const mismatched = Math.abs(refused - failedReloads - expectedRefused);
  if (disagreements.length) notes.push(`-t and SIGHUP disagree: ${disagreements.slice(0, 5).join("; ")}`);
  rows.push(row("mutated files through SIGHUP to the running server", `${nHup} in ${hupSeconds.toFixed(0)} s`, `${nHup}`, true));
  rows.push(row("reloads without an outcome (reloads_applied or reloads_refused + 1) within 10 s", stuck, "0", stuck === 0));
  took.sort((a, b) => a - b);
  rows.push(row("SIGHUP to its outcome (median, max)", `${(took[Math.floor(took.length / 2)] ?? NaN).toFixed(0)} ms, ${(took.at(-1) ?? NaN).toFixed(0)} ms (with a /status read per poll)`, "informative", true));
  rows.push(row("reloads_refused added vs files `-t` refused", `${refused} (of which ${failedReloads} failed while applying) vs ${expectedRefused}`, "equal", mismatched === 0));
  rows.push(secondHalf);
  if (plateau) rows.push(plateau);
  if (rebinds) rows.push(rebinds);
  await afterAttack(lab, before, rows);
  const rssRow = rows.find((r) => r.figure.startsWith("server: own memory (RssAnon) before →"));
  const retention = retentionNotes(rows);
  notes.push(...retention);
  const heapRow = rows.find((r) => r.figure.startsWith("server: live heap after"));
  if (heapRow && !heapRow.pass && secondHalf.pass) {
    notes.push(
      `The server's live heap grew over the whole test (${heapRow.value}) but not over the second half of the mutants (${secondHalf.value}): ` +
        "what the first reloads added is the reload paths' code, compiled once (a fresh daemon has never parsed a bad file), not something held per reload.",
    );
  }
  if (rssRow && !rssRow.pass && retention.length === 0) {
    notes.push(
      "The server's own memory 30 s after the mutants is above its bound. Two causes are known and fixed: the core's link table kept every link a reload removed, " +
        "with its 2.9 MB packet store (src/core/linktable.ts, test/integration/reload-memory.test.ts), and an idle daemon's heap left the closed links' buffers " +
        "uncollected for tens of seconds (src/daemon/reloading.ts runs a full collection after a burst of reloads that closed a link). " +
        "A failure here is something else: compare with the rebinds row (a per-socket cost) and the plateau row (reloads of one file).",
    );
  }
  return { rows, notes, data: { nTest, valid, crashes, unclear, nHup, expectedRefused, refused, failedReloads, testSeconds, hupSeconds, plateau } };
}
