/**
 * Wake-up thread of the hybrid tun reader (tun-reader.ts): it only blocks in epoll_wait() on the
 * tun fd and the links' sockets and tells the main thread "readable" through a SharedArrayBuffer;
 * the main thread does all the reading. Blocking here costs no CPU while idle, and the main thread
 * never busy-waits.
 *
 * The fds sit in a second epoll set (the source set), which the worker's set holds one-shot
 * (EPOLLONESHOT): once it reported readiness it is left out of the wait until the main thread
 * re-arms it (EPOLL_CTL_MOD) after draining. So after a wake-up the worker goes straight back to
 * sleep, and fds that become readable before the drain wake it no more — one wake-up per drain.
 * (With poll(), a level-triggered wait, it had to stop polling the fds until the main thread had
 * drained them, and be woken once more to start again: two wake-ups per event; with each fd
 * one-shot in a single set, one per fd that fired.)
 *
 * Protocol on the state word (see tun-reader.ts): on readiness switch ARMED → READY and notify;
 * the registrations, not the state word, keep this thread asleep while the main thread drains.
 * The eventfd (registered level-triggered) only wakes it for STOP.
 *
 * This file is a Worker entry point: `bun build --compile` must be given it as an extra entrypoint.
 */
import { epollEventLayout, epollFd } from "./epoll.ts";
import { Errno, errno, libc, SysError } from "./libc.ts";
import { ARMED, READY, STATE, STOP, type PollWorkerInit } from "./tun-reader.ts";

declare var self: Worker;

/** Events taken per epoll_wait(); more ready fds are reported by the next call. */
const MAX_EVENTS = 8;

function run({ epfd, wakeFd, state }: PollWorkerInit): void {
  const s = new Int32Array(state);
  const c = libc();
  const layout = epollEventLayout();
  // Written by the kernel during the call only.
  const events = new Uint8Array(new ArrayBuffer(layout.size * MAX_EVENTS));
  const view = new DataView(events.buffer);
  const counter = new BigUint64Array(1);

  for (;;) {
    if (Atomics.load(s, STATE) === STOP) return;
    // No timeout: stop() writes the eventfd, so an idle process sleeps here.
    const n = c.epoll_wait(epfd, events, MAX_EVENTS, -1);
    if (n < 0) {
      const e = errno();
      if (e === Errno.EINTR) continue;
      throw new SysError("epoll_wait", e);
    }
    // Anything but the eventfd is the source set: an fd in it is readable, or in error
    // (EPOLLERR/EPOLLHUP: the device went away), which the main thread's read reports.
    let ready = false;
    for (let i = 0; i < n; i++) {
      if (epollFd(view, i, layout) === wakeFd) c.read(wakeFd, counter, 8);
      else ready = true;
    }
    // READY already: the main thread is draining, and re-arms the source set when done.
    if (ready && Atomics.compareExchange(s, STATE, ARMED, READY) === ARMED) Atomics.notify(s, STATE);
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
