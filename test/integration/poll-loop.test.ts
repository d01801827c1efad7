/**
 * The shell's poll loop (src/io/tun-reader.ts + tun-poll-worker.ts) with watched sockets, without
 * root: a UDP socket stands in for the tun (a readable fd with one packet per read), and link
 * sockets added with watch() wake the loop by themselves, are drained by drainOthers, and can be
 * taken out of the watch list and closed while the loop runs.
 */
import { afterEach, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { tryRead } from "../../src/io/libc.ts";
import { startTunReader, type TunReader } from "../../src/io/tun-reader.ts";
import type { TunDevice } from "../../src/io/tun.ts";
import { type LinkSocket, openLinkSocket } from "../../src/io/udp.ts";

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function fakeTun(s: LinkSocket): TunDevice {
  return {
    name: "fake0",
    fd: s.fd,
    kind: "tun",
    mtu: 1400,
    read: (buf) => Math.max(0, tryRead(s.fd, buf)),
    write: () => true,
    close() {},
  };
}

async function socket(onDatagram: (b: Uint8Array) => void = () => {}): Promise<LinkSocket> {
  const s = await openLinkSocket({ hostname: "127.0.0.1", port: 0, onDatagram, afterDatagrams() {} });
  cleanup.push(() => s.close());
  return s;
}

/** Waits (bounded: 2 s) until `done()`. */
async function until(done: () => boolean): Promise<boolean> {
  for (let k = 0; k < 400 && !done(); k++) await Bun.sleep(5);
  return done();
}

test("watched sockets wake the loop and are drained beside the tun; unwatched ones are not", async () => {
  const tunSide = await socket();
  const got: number[] = [];
  const links = [await socket((b) => got.push(b[0]!)), await socket((b) => got.push(b[0]!))];
  const sender = await socket();
  const tunPackets: number[] = [];
  let drainEnds = 0;
  const reader: TunReader = startTunReader(fakeTun(tunSide), {
    onPacket: (p) => tunPackets.push(p[0]!),
    drainOthers: (max) => links.reduce((n, l) => n + l.drain(max), 0),
    onDrainEnd: () => drainEnds++,
    onError: (e) => {
      throw e;
    },
  });
  cleanup.push(() => reader.stop());

  // Not watched yet: nothing wakes the loop for a link's datagram (the tun does).
  sender.send(Uint8Array.of(1), "127.0.0.1", links[0]!.localPort);
  await Bun.sleep(300);
  expect(got).toEqual([]);
  sender.send(Uint8Array.of(100), "127.0.0.1", tunSide.localPort);
  expect(await until(() => tunPackets.length === 1 && got.length === 1)).toBe(true);
  expect(got).toEqual([1]); // drained with the tun's wake-up

  reader.watch([links[0]!.fd, links[1]!.fd]);
  await Bun.sleep(20);
  for (let i = 2; i < 12; i++) sender.send(Uint8Array.of(i), "127.0.0.1", links[i % 2]!.localPort);
  expect(await until(() => got.length === 11)).toBe(true);
  expect([...got].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  expect(drainEnds).toBeGreaterThanOrEqual(2);

  // One link leaves the list and is closed while the loop runs; the other still wakes it.
  reader.watch([links[1]!.fd]);
  links[0]!.close();
  await Bun.sleep(50);
  sender.send(Uint8Array.of(42), "127.0.0.1", links[1]!.localPort);
  expect(await until(() => got.includes(42))).toBe(true);
  expect(tunPackets).toEqual([100]);
});

/** Context switches of this process's threads named `name` (/proc/self/task/*); `own`: the voluntary ones only (the thread blocked and was woken). */
function switchesOf(name: string, own = false): number {
  let n = 0;
  for (const t of readdirSync("/proc/self/task")) {
    try {
      const s = readFileSync(`/proc/self/task/${t}/status`, "utf8");
      if (/^Name:\s+(.*)$/m.exec(s)?.[1]?.trim() !== name) continue;
      n += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1]) + (own ? 0 : Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1]));
    } catch {} // a thread that ended meanwhile
  }
  return n;
}

/** A reader over a fake tun (tunSide) with one link socket whose datagrams' first bytes land in `got`, and a sender. */
async function linkedReader() {
  const tunSide = await socket();
  const got: number[] = [];
  const link = await socket((b) => got.push(b[0]!));
  const sender = await socket();
  const reader = startTunReader(fakeTun(tunSide), { onPacket() {}, drainOthers: (max) => link.drain(max), onError: (e) => { throw e; } });
  return { tunSide, got, link, sender, reader };
}

test("idle, the poll worker sleeps in epoll_wait() without a timeout; a new watch list and stop() still reach it", async () => {
  const { got, link, sender, reader } = await linkedReader();
  let stopped = false;
  cleanup.push(() => (stopped ? undefined : reader.stop()));
  // Once its start-up is over (its first windows may see module loading or a collection), the
  // worker sleeps through a whole window: a poll timeout of 250 ms would wake it in every one.
  let quiet = false;
  for (let k = 0; k < 8 && !quiet; k++) {
    const before = switchesOf("Worker");
    await Bun.sleep(400);
    quiet = switchesOf("Worker") === before;
  }
  expect(quiet).toBe(true);
  // The new list is taken at once (epoll_ctl under the waiting worker), not at some timeout.
  reader.watch([link.fd]);
  sender.send(Uint8Array.of(7), "127.0.0.1", link.localPort);
  expect(await until(() => got.length === 1)).toBe(true);
  stopped = true;
  const t0 = performance.now();
  await reader.stop();
  expect(performance.now() - t0).toBeLessThan(1000); // not the 2 s grace: the worker ended by itself
});

test("one readable event wakes the poll worker once: it need not be woken again to resume waiting", async () => {
  const { tunSide, got, link, sender, reader } = await linkedReader();
  cleanup.push(() => reader.stop());
  reader.watch([link.fd]);
  await Bun.sleep(300); // the worker's start-up
  // Datagrams far enough apart that each is an event of its own (the reader stays in event mode).
  const N = 20;
  const before = switchesOf("Worker", true);
  for (let i = 0; i < N; i++) {
    sender.send(Uint8Array.of(i), "127.0.0.1", i % 2 ? link.localPort : tunSide.localPort);
    await Bun.sleep(15);
  }
  expect(await until(() => got.length === N / 2)).toBe(true);
  const wakeups = switchesOf("Worker", true) - before;
  // One per event; a level-triggered poll() needed two (the readiness, then the re-arm). Some
  // slack for a stray wake-up (the runtime's own), none for a second one per event.
  expect(wakeups).toBeGreaterThanOrEqual(N);
  expect(wakeups).toBeLessThanOrEqual(N + N / 4);
});

test("fds that become readable before the main thread drains wake the poll worker no more: one wake-up per drain", async () => {
  const tunSide = await socket();
  const got: number[] = [];
  const links = [await socket((b) => got.push(b[0]!)), await socket((b) => got.push(b[0]!))];
  const sender = await socket();
  let drains = 0;
  const reader = startTunReader(fakeTun(tunSide), {
    onPacket() {},
    drainOthers: (max) => links.reduce((n, l) => n + l.drain(max), 0),
    onDrainEnd: () => drains++,
    onError: (e) => {
      throw e;
    },
  });
  cleanup.push(() => reader.stop());
  reader.watch(links.map((l) => l.fd));
  await Bun.sleep(300); // the worker's start-up
  // Each round: the tun, then each link, readable a few ms apart while this (the main) thread
  // is busy, as the two links' keepalive answers of an idle second arrive before the drain.
  const ROUNDS = 10;
  const busy = (ms: number) => {
    const end = performance.now() + ms;
    while (performance.now() < end) {}
  };
  const before = switchesOf("Worker", true);
  for (let r = 0; r < ROUNDS; r++) {
    sender.send(Uint8Array.of(0), "127.0.0.1", tunSide.localPort);
    busy(3);
    sender.send(Uint8Array.of(1), "127.0.0.1", links[0]!.localPort);
    busy(3);
    sender.send(Uint8Array.of(2), "127.0.0.1", links[1]!.localPort);
    busy(3);
    expect(await until(() => got.length === 2 * (r + 1))).toBe(true);
    await Bun.sleep(10);
  }
  const wakeups = switchesOf("Worker", true) - before;
  // One per round (each fd one-shot in a single set: three), some slack for a stray one.
  expect(drains).toBeGreaterThanOrEqual(ROUNDS);
  expect(wakeups).toBeGreaterThanOrEqual(ROUNDS);
  expect(wakeups).toBeLessThanOrEqual(ROUNDS + ROUNDS / 2);
});
