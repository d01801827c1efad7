/**
 * Wake-up thread of the hybrid tun reader (tun-reader.ts): it only blocks in poll() on the tun fd
 * (and the links' sockets) and tells the main thread "readable" through a SharedArrayBuffer; the
 * main thread does all the reading. Blocking here costs no CPU while idle, and the main thread never busy-waits.
 *
 * Protocol on the state word (see tun-reader.ts): while ARMED, poll; on readiness switch
 * ARMED → READY and notify, then sleep in poll() on the wake-up eventfd until the main thread
 * re-arms (or STOP), which it signals by writing that eventfd.
 *
 * This file is a Worker entry point: `bun build --compile` must be given it as an extra entrypoint.
 */
import { libc, POLLERR, POLLHUP, POLLIN, POLLNVAL, poll } from "./libc.ts";
import { ARMED, FD_COUNT, FDS, GENERATION, MAX_WATCHED, READY, STATE, STOP, type PollWorkerInit } from "./tun-reader.ts";

declare var self: Worker;

function run({ fd, wakeFd, state, waitTimeoutMs }: PollWorkerInit): void {
  const s = new Int32Array(state);
  // struct pollfd { int fd; short events; short revents; }[] — the tun first, the wake-up eventfd,
  // then the watched fds; read by the kernel during the call only.
  const pfd = new Uint8Array(new ArrayBuffer(8 * (2 + MAX_WATCHED)));
  const counter = new BigUint64Array(1);
  const view = new DataView(pfd.buffer);
  const entry = (i: number, f: number) => {
    view.setInt32(8 * i, f, true);
    view.setInt16(8 * i + 4, POLLIN, true);
  };
  // The eventfd alone, polled while the main thread owns the fds (READY).
  const wakePfd = new Uint8Array(new ArrayBuffer(8));
  new DataView(wakePfd.buffer).setInt32(0, wakeFd, true);
  new DataView(wakePfd.buffer).setInt16(4, POLLIN, true);
  entry(0, fd);
  entry(1, wakeFd);
  let nfds = 2;
  let generation = -1;

  for (;;) {
    const v = Atomics.load(s, STATE);
    if (v === STOP) return;
    if (v === READY) {
      // The main thread re-arms (and stops) by writing the eventfd: sleep in poll() on it alone.
      // Not Atomics.wait: its notify from the main thread went through JSC's parking lot, whose
      // lock the main thread then often waited for (two more context switches per readable event).
      // A re-arm between the load above and this poll leaves the eventfd readable: not lost.
      // The timeout only bounds how long a missed wake-up could delay us.
      if (poll(wakePfd, 1, waitTimeoutMs) > 0) libc().read(wakeFd, counter, 8);
      continue;
    }
    const g = Atomics.load(s, GENERATION);
    if (g !== generation) {
      generation = g;
      const count = Math.min(MAX_WATCHED, Atomics.load(s, FD_COUNT));
      for (let i = 0; i < count; i++) entry(2 + i, Atomics.load(s, FDS + i));
      nfds = 2 + count;
    }
    // No timeout: stop() and watch() write to the eventfd, so an idle process sleeps here.
    if (poll(pfd, nfds, -1) === 0) continue;
    if (view.getInt16(6, true) & POLLNVAL) throw new Error(`poll: tun fd ${fd} is not open`);
    // The eventfd: reset it, then look at the state and the fd list again (and poll again).
    if (view.getInt16(14, true) & POLLIN) {
      libc().read(wakeFd, counter, 8);
      continue;
    }
    // POLLERR/POLLHUP (the device went away): wake the main thread, whose read() reports the error.
    // A watched fd closed meanwhile (POLLNVAL) only means the list is about to change.
    let ready = false;
    for (let i = 0; i < nfds && !ready; i++) ready = (view.getInt16(8 * i + 6, true) & (POLLIN | POLLERR | POLLHUP)) !== 0;
    if (!ready) {
      if (Atomics.load(s, GENERATION) === generation) Atomics.wait(s, STATE, ARMED, 1); // a stale fd: do not spin
      continue;
    }
    if (Atomics.compareExchange(s, STATE, ARMED, READY) === ARMED) Atomics.notify(s, STATE);
  }
}

self.onmessage = (ev: MessageEvent<PollWorkerInit>) => {
  // No further messages: without a listener the worker ends by itself once run() returns.
  self.onmessage = null;
  try {
    run(ev.data);
  } catch (e) {
    self.postMessage({ error: e instanceof Error ? e.message : String(e) });
  }
};
