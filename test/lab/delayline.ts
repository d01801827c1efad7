/**
 * Userspace delay line (the kernel here has no netem): two TAP devices, frames read from one are
 * written to the other after a one-way delay, with jitter, seeded random loss and a "cut"
 * (blackhole), each set per direction and changeable live. Run it as its own process, in the
 * namespace where the TAPs should appear (topology.ts moves them to the client and server):
 *
 *   bun test/lab/delayline.ts --a NAME --b NAME --control SOCKET [--delay MS] [--jitter MS]
 *       [--loss PCT] [--seed N] [--queue-max N] [--mtu N]
 *
 * Control: a unix socket, one JSON request per line, one JSON response per line:
 *   {"op":"get"}                                   → {"ok":true,"params":{ab,ba},"counters":{ab,ba}}
 *   {"op":"set","dir":"ab"|"ba"|"both","delayMs":10,"jitterMs":2,"lossPct":3,"cut":false}
 * "ab" is frames read from TAP a and written to TAP b. Changes apply to frames that arrive
 * afterwards, except cut, which also drops frames still queued (a dead link loses what is in flight).
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

declare var self: Worker;

export const DIRECTIONS = ["ab", "ba"] as const;
export type Direction = (typeof DIRECTIONS)[number];

export interface DirectionParams {
  delayMs: number;
  jitterMs: number;
  lossPct: number;
  cut: boolean;
}

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
  /** Frames waiting now. */
  queued: number;
}

export type ControlRequest = { op: "get" } | ({ op: "set"; dir?: Direction | "both" } & Partial<DirectionParams>);
export type ControlResponse =
  | { ok: true; params: Record<Direction, DirectionParams>; counters: Record<Direction, DirectionCounters> }
  | { ok: false; error: string };

// Shared memory layout: params (Float64) per direction [delayMs, jitterMs, lossProbability, cut,
// cuts so far] then the stop flag; counters (Float64) per direction in COUNTER_NAMES order.
const P_DELAY = 0, P_JITTER = 1, P_LOSS = 2, P_CUT = 3, P_CUTS = 4, P_STRIDE = 5, P_STOP = 10;
const COUNTER_NAMES = ["rxFrames", "rxBytes", "txFrames", "txBytes", "lost", "cutDrops", "overflowDrops", "writeDrops", "queued"] as const;
const C = Object.fromEntries(COUNTER_NAMES.map((n, i) => [n, i])) as Record<(typeof COUNTER_NAMES)[number], number>;
const C_STRIDE = COUNTER_NAMES.length;

const IDLE_WAIT_MS = 200; // longest sleep with nothing queued: bounds how late a stop is noticed
const MAX_DRAIN = 256; // frames read per fd per round, so one busy direction cannot starve the other
// ppoll wakes ~0.02–0.1 ms after its deadline with the timer slack at 1 ns (0.07–0.2 ms with the
// default 50 µs). Frames leave that little late rather than early: waking early would need a
// spin, which under load costs a core.
const PR_SET_TIMERSLACK = 29;
const SLOT_BYTES = 2048; // an MTU-1500 frame is 1514 bytes; larger frames get a larger slot

interface WorkerInit {
  a: string;
  b: string;
  mtu: number;
  queueMax: number;
  seed: number;
  params: SharedArrayBuffer;
  counters: SharedArrayBuffer;
}

/** FIFO of frames with their departure times; slots are reused, so the steady state allocates nothing. */
class FrameQueue {
  private readonly slots: (Uint8Array | undefined)[] = [];
  private readonly lens: Int32Array;
  private readonly departs: Float64Array;
  private readonly cutsAtArrival: Float64Array;
  private head = 0;
  size = 0;
  /** Departure of the newest frame: later frames never leave before it (no reordering). */
  lastDepart = 0;

  constructor(private readonly cap: number) {
    this.lens = new Int32Array(cap);
    this.departs = new Float64Array(cap);
    this.cutsAtArrival = new Float64Array(cap);
  }

  push(frame: Uint8Array, len: number, depart: number, cuts: number): void {
    const i = (this.head + this.size) % this.cap;
    let slot = this.slots[i];
    if (!slot || slot.length < len) slot = this.slots[i] = new Uint8Array(Math.max(SLOT_BYTES, len));
    slot.set(frame.subarray(0, len));
    this.lens[i] = len;
    this.departs[i] = depart;
    this.cutsAtArrival[i] = cuts;
    this.lastDepart = depart;
    this.size++;
  }

  nextDepart(): number {
    return this.size > 0 ? this.departs[this.head]! : Infinity;
  }

  /** How many cuts had begun when the oldest frame arrived. */
  headCuts(): number {
    return this.cutsAtArrival[this.head]!;
  }

  /** Removes the oldest frame; the returned view is valid until the next push. */
  shift(): Uint8Array {
    const i = this.head;
    this.head = (this.head + 1) % this.cap;
    this.size--;
    return this.slots[i]!.subarray(0, this.lens[i]);
  }
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
  const counters = new Float64Array(init.counters);
  const taps: TunDevice[] = [openTun({ name: init.a, kind: "tap", mtu: init.mtu }), openTun({ name: init.b, kind: "tap", mtu: init.mtu })];
  const ppoll = makePpoll();
  // Independent streams per direction and purpose: the loss pattern does not depend on the jitter setting.
  const lossRng = [new SeededRandom(init.seed * 4 + 1), new SeededRandom(init.seed * 4 + 2)];
  const jitterRng = [new SeededRandom(init.seed * 4 + 3), new SeededRandom(init.seed * 4 + 4)];
  const queues = [new FrameQueue(init.queueMax), new FrameQueue(init.queueMax)];
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

  /** A frame read from direction d's input: drop it or queue it with its departure time. */
  function accept(d: number, len: number, now: number): void {
    count(d, "rxFrames");
    count(d, "rxBytes", len);
    const p = d * P_STRIDE;
    if (params[p + P_CUT]) return void count(d, "cutDrops");
    const loss = params[p + P_LOSS]!;
    if (loss > 0 && lossRng[d]!.float() < loss) return void count(d, "lost");
    const q = queues[d]!;
    if (q.size >= init.queueMax) return void count(d, "overflowDrops");
    const jitter = params[p + P_JITTER]!;
    const extra = jitter > 0 ? jitter * jitterRng[d]!.float() : 0;
    q.push(buf, len, Math.max(q.lastDepart, now + params[p + P_DELAY]! + extra), params[p + P_CUTS]!);
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

  while (!params[P_STOP]) {
    const now = performance.now();
    flush(0, now);
    flush(1, now);
    const next = Math.min(queues[0]!.nextDepart(), queues[1]!.nextDepart());
    if (ppoll(pfds, 2, Math.min(IDLE_WAIT_MS, next - now)) > 0) {
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
    for (let d = 0; d < 2; d++) counters[d * C_STRIDE + C.queued] = queues[d]!.size;
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
  const counters = new Float64Array(new SharedArrayBuffer(8 * 2 * C_STRIDE));

  /** Validates a whole request before anything is changed, so a bad field changes nothing. */
  const setParams = (dirs: number[], r: Partial<DirectionParams>) => {
    const v: [number, number][] = [];
    if (r.delayMs !== undefined) v.push([P_DELAY, num(r.delayMs, "delayMs", 0, 60_000)]);
    if (r.jitterMs !== undefined) v.push([P_JITTER, num(r.jitterMs, "jitterMs", 0, 60_000)]);
    if (r.lossPct !== undefined) v.push([P_LOSS, num(r.lossPct, "lossPct", 0, 100) / 100]);
    if (r.cut !== undefined) v.push([P_CUT, r.cut ? 1 : 0]);
    for (const d of dirs) {
      if (r.cut && !params[d * P_STRIDE + P_CUT]) params[d * P_STRIDE + P_CUTS]! += 1; // frames queued now are in flight during this cut
      for (const [field, value] of v) params[d * P_STRIDE + field] = value;
    }
  };
  const snapshot = () => {
    const ps = {} as Record<Direction, DirectionParams>;
    const cs = {} as Record<Direction, DirectionCounters>;
    DIRECTIONS.forEach((dir, d) => {
      const p = d * P_STRIDE;
      ps[dir] = { delayMs: params[p + P_DELAY]!, jitterMs: params[p + P_JITTER]!, lossPct: params[p + P_LOSS]! * 100, cut: params[p + P_CUT] === 1 };
      cs[dir] = Object.fromEntries(COUNTER_NAMES.map((n, i) => [n, counters[d * C_STRIDE + i]!])) as unknown as DirectionCounters;
    });
    return { ok: true as const, params: ps, counters: cs };
  };
  const handle = (line: string): ControlResponse => {
    try {
      const r = JSON.parse(line) as ControlRequest;
      if (r.op === "set") {
        const dirs = r.dir === undefined || r.dir === "both" ? [0, 1] : [DIRECTIONS.indexOf(r.dir)];
        if (dirs[0] === -1) throw new Error(`unknown direction ${JSON.stringify(r.dir)}`);
        setParams(dirs, r);
      } else if (r.op !== "get") throw new Error(`unknown op ${JSON.stringify((r as { op?: unknown }).op)}`);
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
    counters: counters.buffer as SharedArrayBuffer,
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
