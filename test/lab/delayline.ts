/**
 * Userspace delay line (the kernel here has no netem): two TAP devices, frames read from one are
 * written to the other after a one-way delay, with jitter, seeded random loss and a "cut"
 * (blackhole), each set per direction and changeable live; optionally a rate that follows a
 * Mahimahi trace (trace.ts). Run it as its own process, in the namespace where the TAPs should
 * appear (topology.ts moves them to the client and server):
 *
 *   bun test/lab/delayline.ts --a NAME --b NAME --control SOCKET [--delay MS] [--jitter MS]
 *       [--loss PCT] [--seed N] [--queue-max N] [--mtu N]
 *
 * Control: a unix socket, one JSON request per line, one JSON response per line:
 *   {"op":"get"}                                   → {"ok":true,"params":{ab,ba},"counters":{ab,ba}}
 *   {"op":"set","dir":"ab"|"ba"|"both","delayMs":10,"jitterMs":2,"lossPct":3,"cut":false,
 *    "trace":"/path/x.up"|null,"queuePackets":100}
 *   {"op":"rewind","dir":"ab"|"ba"|"both"}          → the trace starts again from its first line now
 * "ab" is frames read from TAP a and written to TAP b. Changes apply to frames that arrive
 * afterwards, except cut, which also drops frames still queued (a dead link loses what is in flight).
 *
 * A frame's path: cut? → random loss → [with a trace: the bottleneck, a FIFO of at most
 * queuePackets frames (tail drop), drained by the trace's delivery opportunities: each gives
 * 1500 bytes of IP packet (the frame less its 14-byte Ethernet header, as Mahimahi counts), a
 * frame may span opportunities, and bytes an opportunity cannot use (queue empty) are lost] →
 * the constant delay + jitter → out. Without a trace a frame goes straight to the delay, and the
 * rate (if any) is htb's, in the kernel (topology.ts). An opportunity serves only frames that
 * had arrived by its time, and what it delivers leaves at opportunity time + delay, so a
 * late-waking worker delays frames but keeps the trace's capacity; how late the opportunities
 * were served is counted (counters `late*`).
 *
 * Why a blocking ppoll() loop in a Worker rather than the batched tun reader and Bun timers: Bun's
 * timers fire on whole milliseconds (a 2.7 ms timer fires after ~2.1 ms), and waiting on an
 * Atomics.waitAsync timeout spins at 100 % CPU. ppoll() sleeps on a kernel hrtimer until the next
 * departure *or* the next frame, so departures are typically 0.02–0.1 ms late, arrivals are stamped
 * when they happen, and an idle delay line costs no CPU. The main thread only serves the control
 * socket; parameters and counters live in SharedArrayBuffers.
 *
 * SIGTERM/SIGINT: exit 0. The TAPs are not persistent: they vanish when the process ends.
 */
import { dlopen, FFIType } from "bun:ffi";
import { existsSync, unlinkSync } from "node:fs";
import { POLLERR, POLLHUP, POLLIN, POLLNVAL } from "../../src/io/libc.ts";
import { openTun, type TunDevice } from "../../src/io/tun.ts";
import { SeededRandom } from "../helpers/random.ts";
import { FrameQueue, TraceBottleneck } from "./bottleneck.ts";
import { loadTrace } from "./trace.ts";

declare var self: Worker;

export const DIRECTIONS = ["ab", "ba"] as const;
export type Direction = (typeof DIRECTIONS)[number];

export interface DirectionParams {
  delayMs: number;
  jitterMs: number;
  lossPct: number;
  cut: boolean;
  /** Path of the Mahimahi trace driving the rate, null without. */
  trace: string | null;
  /** Bottleneck queue limit (packets) with a trace. */
  queuePackets: number;
}

/** Default bottleneck queue with a trace: as topology.ts's htb queue. */
export const DEFAULT_TRACE_QUEUE_PACKETS = 100;

export interface DirectionCounters {
  /** Frames and bytes read from the input TAP. */
  rxFrames: number;
  rxBytes: number;
  /** Frames and bytes written to the output TAP. */
  txFrames: number;
  txBytes: number;
  /** Dropped by random loss, by cut, because the queue was full, or refused by the output TAP (e.g. down). */
  lost: number;
  cutDrops: number;
  overflowDrops: number;
  writeDrops: number;
  /** Frames waiting now (in the delay, and in the trace's bottleneck). */
  queued: number;
  bottleneckQueued: number;
  /** With a trace: opportunities passed, and those that delivered something. */
  opportunities: number;
  usedOpportunities: number;
  /** How late the worker served used opportunities: ≤ 0.1, ≤ 0.5, ≤ 1, ≤ 2, ≤ 5, > 5 ms. */
  late0_1: number;
  late0_5: number;
  late1: number;
  late2: number;
  late5: number;
  lateMore: number;
  /** Times the trace started again (rewind, or a new trace). */
  rewinds: number;
  /**
   * Wall-clock ms (Unix epoch) of the worker's clock when it last served the bottleneck: every
   * opportunity up to then (at or before it) is in `opportunities`. A starved worker's counts lag
   * the wall clock; this says by how much. 0 before the first round.
   */
  servedThroughMs: number;
  /** Wall-clock ms (Unix epoch) of the trace's start, the last rewind as the worker applied it; 0 without a trace. */
  traceStartMs: number;
  /**
   * The same instant as servedThroughMs in the trace's time (ms from traceStartMs): the
   * opportunities served since the rewind are the trace's at times ≤ it (opportunitiesThrough
   * in trace.ts). Taken on the worker's own clock: servedThroughMs − traceStartMs, a difference
   * of two epoch-scale numbers (~1.8e12, an ulp of 0.24 µs), can land on the wrong side of an
   * opportunity's millisecond, and times repeat (a whole group moves). 0 without a trace.
   */
  servedThroughTraceMs: number;
}

export type ControlRequest = { op: "get" } | { op: "rewind"; dir?: Direction | "both" } | ({ op: "set"; dir?: Direction | "both" } & Partial<DirectionParams>);
export type ControlResponse =
  | { ok: true; params: Record<Direction, DirectionParams>; counters: Record<Direction, DirectionCounters> }
  | { ok: false; error: string };

// Shared memory layout: params (Float64) per direction [delayMs, jitterMs, lossProbability, cut,
// cuts so far, trace changes so far, rewinds asked so far, bottleneck limit] then the stop flag;
// the trace path per direction as UTF-8 in its own buffer (TRACE_PATH_BYTES each, NUL-padded),
// written before its change count is bumped; counters (Float64) per direction in COUNTER_NAMES order,
// guarded by a sequence number (Int32, a seqlock): odd while the worker updates them, so that the
// control thread copies a set taken at one instant (opportunities and usedOpportunities read
// mid-update once gave −1 unused opportunities).
const P_DELAY = 0, P_JITTER = 1, P_LOSS = 2, P_CUT = 3, P_CUTS = 4, P_TRACES = 5, P_REWINDS = 6, P_QLIMIT = 7, P_STRIDE = 8, P_STOP = 16;
const TRACE_PATH_BYTES = 4096;
const COUNTER_NAMES = [
  "rxFrames", "rxBytes", "txFrames", "txBytes", "lost", "cutDrops", "overflowDrops", "writeDrops", "queued", "bottleneckQueued",
  "opportunities", "usedOpportunities", "late0_1", "late0_5", "late1", "late2", "late5", "lateMore", "rewinds",
  "servedThroughMs", "traceStartMs", "servedThroughTraceMs",
] as const;
const C = Object.fromEntries(COUNTER_NAMES.map((n, i) => [n, i])) as Record<(typeof COUNTER_NAMES)[number], number>;
const C_STRIDE = COUNTER_NAMES.length;

const SNAPSHOT_WAIT_MS = 500; // longest the control thread waits for a preempted worker to finish its round
const IDLE_WAIT_MS = 200; // longest sleep with nothing queued: bounds how late a stop is noticed
const MAX_DRAIN = 256; // frames read per fd per round, so one busy direction cannot starve the other
// ppoll wakes ~0.02–0.1 ms after its deadline with the timer slack at 1 ns (0.07–0.2 ms with the
// default 50 µs). Frames leave that little late rather than early: waking early would need a
// spin, which under load costs a core.
const PR_SET_TIMERSLACK = 29;

interface WorkerInit {
  a: string;
  b: string;
  mtu: number;
  queueMax: number;
  seed: number;
  params: SharedArrayBuffer;
  tracePaths: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  countersSeq: SharedArrayBuffer;
}

/** ppoll() with a sub-millisecond timeout (libc.ts only has poll(), whose timeout is whole ms), for this thread. */
function makePpoll(): (pfds: Uint8Array, nfds: number, timeoutMs: number) => number {
  const names = ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"];
  const sym = {
    ppoll: { args: [FFIType.ptr, FFIType.u64, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
  } as const;
  let lib: ReturnType<typeof dlopen<typeof sym>> | undefined;
  for (const n of names) {
    try {
      lib = dlopen(n, sym);
      break;
    } catch {
      // try the next name
    }
  }
  if (!lib) throw new Error(`cannot load libc for ppoll (tried ${names.join(", ")})`);
  // The timer slack is per thread: only this worker's sleeps become precise.
  lib.symbols.prctl(PR_SET_TIMERSLACK, 1n, 0n, 0n, 0n);
  const ppoll = lib.symbols.ppoll;
  const ts = new BigInt64Array(2); // struct timespec { tv_sec; tv_nsec }
  return (pfds, nfds, timeoutMs) => {
    const ns = Math.max(0, Math.round(timeoutMs * 1e6));
    ts[0] = BigInt(Math.floor(ns / 1e9));
    ts[1] = BigInt(ns % 1e9);
    return ppoll(pfds, nfds, ts, null);
  };
}

function runWorker(init: WorkerInit): void {
  const params = new Float64Array(init.params);
  const tracePaths = new Uint8Array(init.tracePaths);
  const counters = new Float64Array(init.counters);
  const seq = new Int32Array(init.countersSeq);
  const taps: TunDevice[] = [openTun({ name: init.a, kind: "tap", mtu: init.mtu }), openTun({ name: init.b, kind: "tap", mtu: init.mtu })];
  const ppoll = makePpoll();
  // Independent streams per direction and purpose: the loss pattern does not depend on the jitter setting.
  const lossRng = [new SeededRandom(init.seed * 4 + 1), new SeededRandom(init.seed * 4 + 2)];
  const jitterRng = [new SeededRandom(init.seed * 4 + 3), new SeededRandom(init.seed * 4 + 4)];
  const queues = [new FrameQueue(init.queueMax), new FrameQueue(init.queueMax)];
  const traces: (TraceBottleneck | undefined)[] = [undefined, undefined];
  const seenTraces = [0, 0];
  const seenRewinds = [0, 0];
  const buf = new Uint8Array(new ArrayBuffer(65536));
  const pfds = new Uint8Array(new ArrayBuffer(16)); // two struct pollfd { int fd; short events, revents }
  const pv = new DataView(pfds.buffer);
  taps.forEach((t, i) => {
    pv.setInt32(i * 8, t.fd, true);
    pv.setInt16(i * 8 + 4, POLLIN, true);
  });
  self.postMessage({ ready: true });

  const count = (d: number, name: keyof typeof C, n = 1) => {
    counters[d * C_STRIDE + C[name]]! += n;
  };
  // Made once: serve() runs every round, and the worker allocates nothing in its steady state.
  const counts = [0, 1].map((d) => (name: keyof typeof C, n: number) => count(d, name, n));
  const delivers = [0, 1].map((d) => (frame: Uint8Array, at: number, cuts: number) => delay(d, frame, frame.length, at, cuts));

  /** Into the delay: departs `delay + jitter` after `at` (arrival, or the opportunity that delivered it), never before its predecessor. */
  function delay(d: number, frame: Uint8Array, len: number, at: number, cuts: number): void {
    const p = d * P_STRIDE;
    const q = queues[d]!;
    if (q.size >= init.queueMax) return void count(d, "overflowDrops");
    const jitter = params[p + P_JITTER]!;
    const extra = jitter > 0 ? jitter * jitterRng[d]!.float() : 0;
    q.push(frame, len, Math.max(q.lastDepart, at + params[p + P_DELAY]! + extra), cuts);
  }

  /** A frame read from direction d's input: drop it, or on to the bottleneck (with a trace) or the delay. */
  function accept(d: number, len: number, now: number): void {
    count(d, "rxFrames");
    count(d, "rxBytes", len);
    const p = d * P_STRIDE;
    if (params[p + P_CUT]) return void count(d, "cutDrops");
    const loss = params[p + P_LOSS]!;
    if (loss > 0 && lossRng[d]!.float() < loss) return void count(d, "lost");
    const tr = traces[d];
    if (!tr) return delay(d, buf, len, now, params[p + P_CUTS]!);
    if (tr.queue.size >= params[p + P_QLIMIT]!) return void count(d, "overflowDrops");
    tr.push(buf, len, now, params[p + P_CUTS]!);
  }

  /** Applies a new trace (or none) and rewinds asked through the shared parameters. */
  function control(d: number, now: number): void {
    const p = d * P_STRIDE;
    if (params[p + P_TRACES] !== seenTraces[d]) {
      seenTraces[d] = params[p + P_TRACES]!;
      const raw = tracePaths.subarray(d * TRACE_PATH_BYTES, (d + 1) * TRACE_PATH_BYTES);
      const end = raw.indexOf(0);
      const path = new TextDecoder().decode(raw.subarray(0, end < 0 ? raw.length : end));
      const old = traces[d];
      traces[d] = path ? new TraceBottleneck(loadTrace(path), old?.queue ?? new FrameQueue(init.queueMax), old?.headLeft ?? 0) : undefined;
      if (traces[d]) {
        traces[d]!.cursor.rewind(now);
        counters[d * C_STRIDE + C.traceStartMs] = performance.timeOrigin + now;
        count(d, "rewinds");
      } else if (old) {
        counters[d * C_STRIDE + C.traceStartMs] = 0;
        // No rate any more: what waited at the bottleneck goes on to the delay now.
        while (old.queue.size > 0) {
          const cuts = old.queue.headCuts();
          const frame = old.queue.shift();
          delay(d, frame, frame.length, now, cuts);
        }
      }
    }
    if (params[p + P_REWINDS] !== seenRewinds[d]) {
      seenRewinds[d] = params[p + P_REWINDS]!;
      if (traces[d]) {
        traces[d]!.cursor.rewind(now);
        counters[d * C_STRIDE + C.traceStartMs] = performance.timeOrigin + now;
        count(d, "rewinds");
      }
    }
  }

  /** Writes every frame of direction d that is due; one that was in flight during a cut is dropped, even a short cut. */
  function flush(d: number, now: number): void {
    const q = queues[d]!;
    const out = taps[1 - d]!;
    const p = d * P_STRIDE;
    while (q.nextDepart() <= now) {
      const cutMeanwhile = params[p + P_CUT] || q.headCuts() !== params[p + P_CUTS];
      const frame = q.shift();
      if (cutMeanwhile) count(d, "cutDrops");
      else if (out.write(frame)) {
        count(d, "txFrames");
        count(d, "txBytes", frame.length);
      } else count(d, "writeDrops");
    }
  }

  /** When direction d next needs the worker: a departure, or an opportunity with a frame waiting for it. */
  function nextEvent(d: number): number {
    return Math.min(queues[d]!.nextDepart(), traces[d]?.nextEvent() ?? Infinity);
  }

  while (!params[P_STOP]) {
    Atomics.add(seq, 0, 1); // odd: the counters are changing
    const now = performance.now();
    for (let d = 0; d < 2; d++) {
      control(d, now);
      traces[d]?.serve(now, delivers[d]!, counts[d]!);
      counters[d * C_STRIDE + C.servedThroughMs] = performance.timeOrigin + now;
      counters[d * C_STRIDE + C.servedThroughTraceMs] = traces[d]?.cursor.elapsed(now) ?? 0;
      flush(d, now);
    }
    const next = Math.min(nextEvent(0), nextEvent(1));
    Atomics.add(seq, 0, 1);
    const ready = ppoll(pfds, 2, Math.min(IDLE_WAIT_MS, next - now));
    Atomics.add(seq, 0, 1);
    if (ready > 0) {
      for (let d = 0; d < 2; d++) {
        const revents = pv.getInt16(d * 8 + 6, true);
        // The TAP was unregistered (e.g. its namespace deleted under us): nothing left to forward,
        // and ppoll would report it forever.
        if (revents & (POLLERR | POLLHUP | POLLNVAL)) throw new Error(`TAP ${taps[d]!.name} is gone`);
        if (!(revents & POLLIN)) continue;
        const arrived = performance.now();
        for (let n = 0; n < MAX_DRAIN; n++) {
          const len = taps[d]!.read(buf);
          if (len === 0) break;
          accept(d, len, arrived);
        }
      }
    }
    for (let d = 0; d < 2; d++) {
      counters[d * C_STRIDE + C.queued] = queues[d]!.size + (traces[d]?.queue.size ?? 0);
      counters[d * C_STRIDE + C.bottleneckQueued] = traces[d]?.queue.size ?? 0;
    }
    Atomics.add(seq, 0, 1);
  }
  for (const t of taps) t.close();
}

// ---- main thread: arguments, control socket, signals ----

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = argv[i + 1];
    if (!k.startsWith("--") || v === undefined) throw new Error(`usage: delayline.ts --a TAP --b TAP --control SOCKET [--delay MS] [--jitter MS] [--loss PCT] [--seed N] [--queue-max N] [--mtu N] (bad argument ${k})`);
    out[k.slice(2)] = v;
    i++;
  }
  for (const k of ["a", "b", "control"]) if (!out[k]) throw new Error(`delayline: --${k} is required`);
  return out;
}

function num(v: unknown, what: string, min: number, max: number): number {
  const n = typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n) || n < min || n > max) throw new Error(`${what} must be a number in ${min}…${max}, got ${JSON.stringify(v)}`);
  return n;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const params = new Float64Array(new SharedArrayBuffer(8 * (2 * P_STRIDE + 1)));
  const tracePaths = new Uint8Array(new SharedArrayBuffer(2 * TRACE_PATH_BYTES));
  const counters = new Float64Array(new SharedArrayBuffer(8 * 2 * C_STRIDE));
  const countersSeq = new Int32Array(new SharedArrayBuffer(4));
  /**
   * The counters as of one instant of the worker's: copied while it sleeps or between its
   * rounds (the sequence number even and unchanged across the copy). A worker preempted
   * mid-round is waited for, up to SNAPSHOT_WAIT_MS; then the last copy is returned as it is.
   */
  const consistentCounters = (): Float64Array => {
    const deadline = performance.now() + SNAPSHOT_WAIT_MS;
    let copy = counters.slice();
    for (let tries = 0; tries < 100_000; tries++) {
      const before = Atomics.load(countersSeq, 0);
      if (before % 2 === 0) {
        copy = counters.slice();
        if (Atomics.load(countersSeq, 0) === before) return copy;
      } else if (performance.now() > deadline) break;
      else Atomics.wait(countersSeq, 0, before, 0.2);
    }
    return copy;
  };
  const traceNames: (string | null)[] = [null, null];
  for (let d = 0; d < 2; d++) params[d * P_STRIDE + P_QLIMIT] = DEFAULT_TRACE_QUEUE_PACKETS;

  /** Validates a whole request before anything is changed, so a bad field changes nothing. */
  const setParams = (dirs: number[], r: Partial<DirectionParams>) => {
    const v: [number, number][] = [];
    if (r.delayMs !== undefined) v.push([P_DELAY, num(r.delayMs, "delayMs", 0, 60_000)]);
    if (r.jitterMs !== undefined) v.push([P_JITTER, num(r.jitterMs, "jitterMs", 0, 60_000)]);
    if (r.lossPct !== undefined) v.push([P_LOSS, num(r.lossPct, "lossPct", 0, 100) / 100]);
    if (r.cut !== undefined) v.push([P_CUT, r.cut ? 1 : 0]);
    if (r.queuePackets !== undefined) {
      const n = num(r.queuePackets, "queuePackets", 1, 1_000_000);
      if (!Number.isInteger(n)) throw new Error(`queuePackets must be an integer, got ${n}`);
      v.push([P_QLIMIT, n]);
    }
    let path: Uint8Array | undefined;
    if (r.trace !== undefined) {
      if (r.trace !== null && typeof r.trace !== "string") throw new Error(`trace must be a file path or null, got ${JSON.stringify(r.trace)}`);
      if (r.trace) loadTrace(r.trace); // a bad file is refused here, with its line, not in the worker
      path = new TextEncoder().encode(r.trace ?? "");
      if (path.length >= TRACE_PATH_BYTES) throw new Error(`trace path longer than ${TRACE_PATH_BYTES - 1} bytes`);
    }
    for (const d of dirs) {
      if (r.cut && !params[d * P_STRIDE + P_CUT]) params[d * P_STRIDE + P_CUTS]! += 1; // frames queued now are in flight during this cut
      for (const [field, value] of v) params[d * P_STRIDE + field] = value;
      if (path) {
        tracePaths.fill(0, d * TRACE_PATH_BYTES, (d + 1) * TRACE_PATH_BYTES);
        tracePaths.set(path, d * TRACE_PATH_BYTES);
        traceNames[d] = r.trace ?? null;
        params[d * P_STRIDE + P_TRACES]! += 1; // after the path: the worker reads it when it sees the change
      }
    }
  };
  const snapshot = () => {
    const values = consistentCounters();
    const ps = {} as Record<Direction, DirectionParams>;
    const cs = {} as Record<Direction, DirectionCounters>;
    DIRECTIONS.forEach((dir, d) => {
      const p = d * P_STRIDE;
      ps[dir] = { delayMs: params[p + P_DELAY]!, jitterMs: params[p + P_JITTER]!, lossPct: params[p + P_LOSS]! * 100, cut: params[p + P_CUT] === 1, trace: traceNames[d]!, queuePackets: params[p + P_QLIMIT]! };
      cs[dir] = Object.fromEntries(COUNTER_NAMES.map((n, i) => [n, values[d * C_STRIDE + i]!])) as unknown as DirectionCounters;
    });
    return { ok: true as const, params: ps, counters: cs };
  };
  const handle = (line: string): ControlResponse => {
    try {
      const r = JSON.parse(line) as ControlRequest;
      if (r.op !== "set" && r.op !== "rewind" && r.op !== "get") throw new Error(`unknown op ${JSON.stringify((r as { op?: unknown }).op)}`);
      if (r.op !== "get") {
        const dirs = r.dir === undefined || r.dir === "both" ? [0, 1] : [DIRECTIONS.indexOf(r.dir)];
        if (dirs[0] === -1) throw new Error(`unknown direction ${JSON.stringify(r.dir)}`);
        if (r.op === "set") setParams(dirs, r);
        else for (const d of dirs) params[d * P_STRIDE + P_REWINDS]! += 1;
      }
      return snapshot();
    } catch (e) {
      return { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
  };

  const initial = { delayMs: num(args.delay ?? "0", "--delay", 0, 60_000), jitterMs: num(args.jitter ?? "0", "--jitter", 0, 60_000), lossPct: num(args.loss ?? "0", "--loss", 0, 100) };
  setParams([0, 1], initial);

  const control = args.control!;
  let server: ReturnType<typeof Bun.listen> | undefined;
  const exit = (code: number) => {
    params[P_STOP] = 1;
    server?.stop(true);
    try {
      if (existsSync(control)) unlinkSync(control);
    } catch {
      // already gone (e.g. the lab's directory was removed)
    }
    process.exit(code);
  };
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(sig, () => exit(0));

  const worker = new Worker(import.meta.url);
  worker.addEventListener("error", (ev) => {
    console.error(`delayline: ${ev.message}`);
    exit(1);
  });
  worker.addEventListener("message", (ev: MessageEvent<{ ready?: true; error?: string }>) => {
    if (ev.data.error) {
      console.error(`delayline: ${ev.data.error}`);
      return exit(1);
    }
    // The control socket appears only once both TAPs exist: its presence means "ready".
    if (existsSync(control)) unlinkSync(control);
    const buffers = new WeakMap<object, string>();
    server = Bun.listen<undefined>({
      unix: control,
      socket: {
        data(sock, chunk) {
          let text = (buffers.get(sock) ?? "") + chunk.toString();
          for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
            const line = text.slice(0, nl).trim();
            text = text.slice(nl + 1);
            if (line) sock.write(`${JSON.stringify(handle(line))}\n`);
          }
          buffers.set(sock, text.slice(-65536)); // a client that never sends a newline cannot grow it forever
        },
      },
    });
    console.log(`delayline: ${args.a} <-> ${args.b} ready, control ${control}`);
  });
  worker.postMessage({
    a: args.a!,
    b: args.b!,
    mtu: num(args.mtu ?? "1500", "--mtu", 576, 9000),
    queueMax: num(args["queue-max"] ?? "10000", "--queue-max", 1, 1_000_000),
    seed: num(args.seed ?? "1", "--seed", 0, 2 ** 31),
    params: params.buffer as SharedArrayBuffer,
    tracePaths: tracePaths.buffer as SharedArrayBuffer,
    counters: counters.buffer as SharedArrayBuffer,
    countersSeq: countersSeq.buffer as SharedArrayBuffer,
  } satisfies WorkerInit);
}

if (Bun.isMainThread) {
  if (import.meta.main) {
    try {
      main();
    } catch (e) {
      console.error(e instanceof Error ? e.message : String(e));
      process.exit(2);
    }
  }
} else {
  self.onmessage = (ev: MessageEvent<WorkerInit>) => {
    self.onmessage = null;
    try {
      runWorker(ev.data);
    } catch (e) {
      self.postMessage({ error: e instanceof Error ? e.message : String(e) });
    }
  };
}
