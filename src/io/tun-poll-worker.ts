/**
 * Wake-up thread of the hybrid tun reader (tun-reader.ts): it only blocks in poll() on the tun fd
 * and tells the main thread "readable" through a SharedArrayBuffer; the main thread does all the
 * reading. Blocking here costs no CPU while idle, and the main thread never busy-waits.
 *
 * Protocol on the state word (see tun-reader.ts): while ARMED, poll; on readiness switch
 * ARMED → READY and notify, then sleep until the main thread re-arms (or STOP).
 *
 * This file is a Worker entry point: `bun build --compile` must be given it as an extra entrypoint.
 */
import { POLLERR, POLLHUP, POLLIN, POLLNVAL, poll } from "./libc.ts";
import { ARMED, READY, STOP, type PollWorkerInit } from "./tun-reader.ts";

declare var self: Worker;

function run({ fd, state, pollTimeoutMs }: PollWorkerInit): void {
  const s = new Int32Array(state);
  // struct pollfd { int fd; short events; short revents; } — read by the kernel during the call only.
  const pfd = new Uint8Array(new ArrayBuffer(8));
  const view = new DataView(pfd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, POLLIN, true);

  for (;;) {
    const v = Atomics.load(s, 0);
    if (v === STOP) return;
    if (v === READY) {
      // Wait with the value just compared, so a re-arm in between is not lost (bun-io.md §1(f)).
      // The timeout only bounds how long a missed notify could delay us; STOP also notifies.
      Atomics.wait(s, 0, READY, pollTimeoutMs);
      continue;
    }
    // Bounded timeout: a stop request is noticed within pollTimeoutMs even with no traffic.
    if (poll(pfd, 1, pollTimeoutMs) === 0) continue;
    const revents = view.getInt16(6, true);
    if (revents & POLLNVAL) throw new Error(`poll: tun fd ${fd} is not open`);
    // POLLERR/POLLHUP (the device went away): wake the main thread, whose read() reports the error.
    if (revents & (POLLIN | POLLERR | POLLHUP) && Atomics.compareExchange(s, 0, ARMED, READY) === ARMED) {
      Atomics.notify(s, 0);
    }
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
