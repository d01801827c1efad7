/**
 * The "hybrid" tun reader (docs/bun-runtime.md, "Reading the tun device"), the cheapest and lowest-latency design measured:
 *
 * - idle: a Worker (tun-poll-worker.ts) blocks in epoll_wait(); the main thread awaits
 *   `Atomics.waitAsync` on a shared state word. No timers run, so 0 % CPU.
 * - on readiness the worker flips the word ARMED → READY; the main thread drains the fd with
 *   non-blocking read()s (≤ MAX_DRAIN packets) into one preallocated buffer.
 * - under load (a drain returned ≥ BUSY packets) the main thread keeps draining from
 *   setTimeout(0) (≈ 1 ms, which batches packets) — or setImmediate when a drain returned
 *   ≥ FLOOD packets, so the kernel queue cannot overflow — without waking the worker at all.
 * - a drain that finds nothing re-arms the worker: READY → ARMED, then the one-shot
 *   registration of the source set is renewed (EPOLL_CTL_MOD, which reports it at once when one
 *   of its fds is readable already).
 *
 * Two epoll sets, nested: the source set holds the tun and the watched fds, level-triggered, and
 * is itself readable while any of them is; the worker waits on the outer set, which holds the
 * source set one-shot and the eventfd. So whatever becomes readable until the main thread has
 * drained and re-armed — the other link's datagram a fraction of a millisecond later, the tun —
 * wakes the worker no more: one wake-up per drain, not one per fd that fired (with each fd
 * one-shot in one set, the two links' keepalive answers of an idle second woke it twice), and
 * one epoll_ctl() per re-arm, not one per fd.
 *
 * Only the state word crosses threads, and each side changes it with one atomic step
 * (worker: compareExchange ARMED → READY; main: compareExchange READY → ARMED, or store STOP).
 * Readiness while READY is left unreported by the one-shot registration, and the re-arm after
 * the drain renews it: no wake-up is lost, and the worker sleeps meanwhile.
 *
 * The same loop serves the links' UDP sockets (udp.ts): the main thread adds their fds to the
 * source set beside the tun's (watch()), and each drain also reads what they have (drainOthers).
 */
import { existsSync } from "node:fs";
import { EpollControl } from "./epoll.ts";
import { close, EFD_CLOEXEC, EFD_NONBLOCK, EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLLIN, EPOLLONESHOT, errno, libc, SysError } from "./libc.ts";
import type { TunDevice } from "./tun.ts";

/** State word values (index 0 of the shared Int32Array). */
export const ARMED = 0; // worker polls the fd
export const READY = 1; // fd readable: the main thread owns it until it re-arms
export const STOP = 2; // worker must exit

/** Int32 words of the shared state: the state word. */
export const STATE = 0;
/** Fds polled besides the tun. */
export const MAX_WATCHED = 64;

/** The one message the main thread sends to the poll worker. */
export interface PollWorkerInit {
  /** The outer epoll set: the source set (one-shot, re-armed by the main thread) and wakeFd. */
  epfd: number;
  /** An eventfd in the set (level-triggered): written on stop, so that epoll_wait() needs no timeout. */
  wakeFd: number;
  state: SharedArrayBuffer;
}

export interface TunReaderHandlers {
  /**
   * Called synchronously for each packet. `view` aliases the reader's single buffer and is only
   * valid during the call (the same object is reused for later packets of the same length):
   * copy it to keep it. Packets may be modified in place.
   */
  onPacket(view: Uint8Array): void;
  /** Reads the other watched sources (UDP sockets), at most `max` items each; returns how many. */
  drainOthers?(max: number): number;
  /** Called after each drain that delivered packets or items: flush batched sends here. */
  onDrainEnd?(): void;
  /** A read error, a worker failure, or an exception from a handler; the reader has stopped. Without it, the error is thrown. */
  onError?(e: Error): void;
}

export interface TunReader {
  /** Stops reading; resolves once the poll worker has exited. No handler runs after it is called. */
  stop(): Promise<void>;
  /** The fds to poll besides the tun (drained by drainOthers); remove an fd here before closing it. */
  watch(fds: readonly number[]): void;
}

const MAX_DRAIN = 1024; // packets per drain, so one drain cannot monopolise the event loop
const BUSY = 8; // drain size that switches to timer polling
const FLOOD = 128; // drain size that switches to setImmediate
const DENSE_MS = 1; // a wake-up this soon after re-arming switches to timer polling (≈ its period)
const STOP_GRACE_MS = 2000; // after this the worker is terminated rather than awaited
const BUF_SIZE = 65536; // tun truncates packets that do not fit

/**
 * The poll worker's script. From source it sits beside this module. In a `bun build --compile`
 * binary it must have been given as an extra entrypoint; Bun then embeds it as
 * /$bunfs/root/<path relative to the entrypoints' common directory>.js, while import.meta.url
 * is the main entrypoint's, so the relative URL would be wrong unless both share a directory.
 */
function pollWorkerUrl(): string {
  if (!import.meta.url.startsWith("file:///$bunfs/")) return new URL("./tun-poll-worker.ts", import.meta.url).href;
  for (const rel of ["io/tun-poll-worker.js", "src/io/tun-poll-worker.js", "tun-poll-worker.js"]) {
    if (existsSync(`/$bunfs/root/${rel}`)) return `/$bunfs/root/${rel}`;
  }
  throw new Error("this mlvpn binary lacks the tun poll worker: build it with src/io/tun-poll-worker.ts as an extra entrypoint");
}

export function startTunReader(tun: TunDevice, handlers: TunReaderHandlers): TunReader {
  const { onPacket, drainOthers, onDrainEnd, onError } = handlers;
  const stateBuf = new SharedArrayBuffer(4);
  const state = new Int32Array(stateBuf);
  // ArrayBuffer-backed so native code writes into stable memory (docs/bun-runtime.md, "Memory shared with native code").
  const buf = new Uint8Array(new ArrayBuffer(BUF_SIZE));
  // One reusable view per packet length, created on first use: no allocation per packet.
  const views: (Uint8Array | undefined)[] = [];
  let stopped = false;
  let polling = false; // true while draining from timers instead of waiting for the worker
  let rearmedMs = Number.NEGATIVE_INFINITY;

  // The worker's epoll_wait() has no timeout, so that an idle process sleeps: it is woken
  // through this eventfd on stop(). The fd list needs no wake-up: epoll_ctl() changes the set
  // under a waiting thread.
  const wakeFd = libc().eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd < 0) throw new SysError("eventfd", errno());
  const opened = [wakeFd];
  const epollSet = (): number => {
    const fd = libc().epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) {
      const e = errno();
      for (const f of opened) close(f);
      throw new SysError("epoll_create1", e);
    }
    opened.push(fd);
    return fd;
  };
  const sourceFd = epollSet(); // the tun and the watched fds, level-triggered
  const epfd = epollSet(); // the worker's: the source set (one-shot) and the eventfd
  const sources = new EpollControl(sourceFd);
  const ep = new EpollControl(epfd);
  ep.ctl(EPOLL_CTL_ADD, wakeFd, EPOLLIN);
  sources.ctl(EPOLL_CTL_ADD, tun.fd, EPOLLIN);
  ep.ctl(EPOLL_CTL_ADD, sourceFd, EPOLLIN | EPOLLONESHOT);
  /** The fds in the source set besides the tun. */
  let watched: number[] = [];
  const one = new BigUint64Array([1n]);
  const kick = () => libc().write(wakeFd, one, 8);

  const worker = new Worker(pollWorkerUrl());
  const exited = new Promise<void>((resolve) => worker.addEventListener("close", () => resolve()));
  worker.addEventListener("message", (ev: MessageEvent<{ error: string }>) => fail(new Error(`tun poll worker: ${ev.data.error}`)));
  worker.addEventListener("error", (ev: ErrorEvent) => fail(new Error(`tun poll worker: ${ev.message}`)));
  worker.postMessage({ epfd, wakeFd, state: stateBuf } satisfies PollWorkerInit);

  function fail(e: unknown): void {
    if (stopped) return;
    void stop();
    const err = e instanceof Error ? e : new Error(String(e));
    if (onError) onError(err);
    else throw err;
  }

  /** Reads until the fd is empty, MAX_DRAIN packets, or stop(); returns the packet count. */
  function drain(): number {
    let n = 0;
    while (n < MAX_DRAIN && !stopped) {
      const len = tun.read(buf);
      if (len === 0) break;
      n++;
      onPacket(views[len] ??= buf.subarray(0, len));
    }
    if (drainOthers && !stopped) n += drainOthers(MAX_DRAIN);
    if (n > 0 && !stopped) onDrainEnd?.();
    return n;
  }

  function tick(): void {
    if (stopped) return;
    let n: number;
    try {
      n = drain();
    } catch (e) {
      fail(e);
      return;
    }
    if (stopped) return;
    // Woken by the worker, a small drain means the queue is empty: go back to event mode —
    // unless the worker was re-armed less than a timer period ago: packets then come faster
    // than timer polling would wait, and each wake-up (a futex wake of the worker, its poll(),
    // a wake of this thread) costs more than a timer tick. Once polling, only an empty drain
    // ends it (hysteresis).
    const dense = performance.now() - rearmedMs < DENSE_MS;
    if (n === 0 || (n < BUSY && !polling && !dense)) {
      polling = false;
      rearm();
    } else {
      polling = true;
      if (n >= FLOOD) setImmediate(tick);
      else setTimeout(tick, 0);
    }
  }

  function rearm(): void {
    rearmedMs = performance.now();
    // READY → ARMED first (the CAS leaves STOP alone), then the registration: a source set
    // renewed while one of its fds is readable is reported at once and finds the state ARMED.
    Atomics.compareExchange(state, STATE, READY, ARMED);
    ep.ctl(EPOLL_CTL_MOD, sourceFd, EPOLLIN | EPOLLONESHOT);
    wait();
  }

  function wait(): void {
    const r = Atomics.waitAsync(state, STATE, ARMED);
    // "not-equal": the worker already saw readiness. Go through the event loop rather than
    // recursing, so a steady trickle can neither grow the stack nor starve other I/O.
    if (r.async) void r.value.then(tick);
    else setImmediate(tick);
  }

  let stopping: Promise<void> | undefined;
  function stop(): Promise<void> {
    if (stopping) return stopping;
    stopped = true;
    Atomics.store(state, STATE, STOP);
    Atomics.notify(state, STATE); // wakes the worker if it waits for a re-arm, and our own pending waitAsync
    kick(); // … or if it sleeps in epoll_wait()
    const timeout = new Promise<"timeout">((resolve) => setTimeout(resolve, STOP_GRACE_MS, "timeout").unref());
    stopping = Promise.race([exited, timeout]).then((r) => {
      // Only if the worker is stuck.
      if (r === "timeout") worker.terminate();
      for (const fd of opened) close(fd);
    });
    return stopping;
  }

  function watch(fds: readonly number[]): void {
    if (fds.length > MAX_WATCHED) throw new Error(`at most ${MAX_WATCHED} sockets can be polled, got ${fds.length}`);
    if (stopped) return;
    // Taken out before the caller closes it; a new fd makes the set readable at once if it is.
    for (const fd of watched) if (!fds.includes(fd)) sources.ctl(EPOLL_CTL_DEL, fd, 0);
    for (const fd of fds) if (!watched.includes(fd)) sources.ctl(EPOLL_CTL_ADD, fd, EPOLLIN);
    watched = [...fds];
  }

  wait();
  return { stop, watch };
}
