/**
 * Batched link sockets (src/io/mmsg.ts through src/io/udp.ts) on loopback, without root:
 * datagrams queued during a batch leave with one sendmmsg() per flush, in order, to each one's
 * destination; a failing destination mid-batch loses that datagram only and is reported; a
 * socket closed mid-batch sends what was queued before it closed and makes no call on its fd
 * afterwards; recvmmsg() fills many slab slots per call and hands each datagram on in a buffer
 * of its own with its source; and the fallback without sendmmsg/recvmmsg behaves the same.
 * The system calls are libc's, counted through the Syscalls port.
 */
import { afterEach, expect, test } from "bun:test";
import { RECV_SLOT } from "../../src/io/mmsg-recv.ts";
import { type Syscalls, systemSyscalls } from "../../src/io/mmsg.ts";
import { type LinkSocket, openLinkSocket } from "../../src/io/udp.ts";

interface Received {
  bytes: Uint8Array;
  address: string;
  port: number;
}

type Calls = Record<"sendmmsg" | "recvmmsg" | "sendto" | "recvfrom", number>;

interface Counted {
  s: LinkSocket;
  got: Received[];
  errors: string[];
  calls: Calls;
  /** Calls made on the socket's fd after close() returned. */
  afterClose: number;
}

const open: LinkSocket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

async function socket(hostname: string, batching = true, onSendError?: (e: string, c: Counted) => void, segmentation = false): Promise<Counted> {
  const real = systemSyscalls().sys;
  const calls: Calls = { sendmmsg: 0, recvmmsg: 0, sendto: 0, recvfrom: 0 };
  let closedFd = -1;
  const c = { got: [] as Received[], errors: [] as string[], calls, afterClose: 0 } as unknown as Counted;
  const count = (name: keyof Calls, fd: number) => {
    calls[name]++;
    if (fd === closedFd) c.afterClose++;
  };
  const sys: Syscalls = {
    sendmmsg: (fd, v, n, f) => (count("sendmmsg", fd), real.sendmmsg(fd, v, n, f)),
    recvmmsg: (fd, v, n, f, t) => (count("recvmmsg", fd), real.recvmmsg(fd, v, n, f, t)),
    sendto: (fd, b, l, f, a, al) => (count("sendto", fd), real.sendto(fd, b, l, f, a, al)),
    recvfrom: (fd, b, l, f, a, al) => (count("recvfrom", fd), real.recvfrom(fd, b, l, f, a, al)),
    errno: () => real.errno(),
  };
  const s = await openLinkSocket({
    hostname,
    port: 0,
    syscalls: { sys, batching, segmentation },
    onDatagram: (bytes, address, port) => c.got.push({ bytes, address, port }),
    onSendError: (e) => {
      c.errors.push(e);
      onSendError?.(e, c);
    },
    afterDatagrams() {},
  });
  const close = s.close.bind(s);
  s.close = () => {
    close();
    closedFd = s.fd;
  };
  c.s = s;
  open.push(s);
  return c;
}

/** Drains until `n` datagrams arrived (bounded: 200 × 5 ms). */
async function drainUntil(c: Counted, n: number): Promise<void> {
  for (let k = 0; k < 200 && c.got.length < n; k++) {
    if (c.s.drain(1024) === 0) await Bun.sleep(5);
  }
}

const datagrams = (n: number, seed = 0) => Array.from({ length: n }, (_, i) => new Uint8Array(1 + ((i * 97 + seed) % 1500)).fill((i + seed) & 0xff));

test("datagrams queued in a batch leave with one sendmmsg(), in order, each to its destination", async () => {
  const a = await socket("127.0.0.1");
  const b = await socket("127.0.0.1");
  const d = await socket("127.0.0.1");
  const toB = datagrams(16, 1);
  const toD = datagrams(16, 2);
  // The core reuses its buffer: queue() must copy.
  const scratch = new Uint8Array(2000);
  for (let i = 0; i < 16; i++) {
    for (const [bytes, to] of [
      [toB[i]!, b],
      [toD[i]!, d],
    ] as const) {
      scratch.set(bytes);
      expect(a.s.queue!(scratch.subarray(0, bytes.length), "127.0.0.1", to.s.localPort)).toBeUndefined();
    }
  }
  expect(a.calls.sendmmsg).toBe(0);
  a.s.flush!();
  expect(a.calls.sendmmsg).toBe(1);
  await drainUntil(b, 16);
  await drainUntil(d, 16);
  expect(b.got.map((r) => [...r.bytes])).toEqual(toB.map((x) => [...x]));
  expect(d.got.map((r) => [...r.bytes])).toEqual(toD.map((x) => [...x]));
  expect(b.got.every((r) => r.address === "127.0.0.1" && r.port === a.s.localPort)).toBe(true);
  expect(a.errors).toEqual([]);
});

test("a full batch is flushed as it fills; what is left leaves before the event loop waits", async () => {
  const a = await socket("127.0.0.1");
  const b = await socket("127.0.0.1");
  const sent = datagrams(150);
  for (const x of sent) a.s.queue!(x, "127.0.0.1", b.s.localPort);
  expect(a.calls.sendmmsg).toBe(4); // 4 × 32; 22 still queued
  await Promise.resolve(); // the microtask
  expect(a.calls.sendmmsg).toBe(5);
  await drainUntil(b, sent.length);
  expect(b.got.map((r) => r.bytes.length)).toEqual(sent.map((x) => x.length));
});

test("a failing destination mid-batch loses that datagram only, reported with its errno name", async () => {
  const a = await socket("127.0.0.1");
  const b = await socket("127.0.0.1");
  // A broadcast without SO_BROADCAST: EACCES from the kernel, after two datagrams went out.
  a.s.queue!(Uint8Array.of(1), "127.0.0.1", b.s.localPort);
  a.s.queue!(Uint8Array.of(2), "127.0.0.1", b.s.localPort);
  a.s.queue!(Uint8Array.of(3), "255.255.255.255", b.s.localPort);
  a.s.queue!(Uint8Array.of(4), "127.0.0.1", b.s.localPort);
  a.s.queue!(new Uint8Array(70_000), "127.0.0.1", b.s.localPort); // too large for UDP: alone, EMSGSIZE
  a.s.queue!(Uint8Array.of(5), "127.0.0.1", b.s.localPort);
  // An address the socket cannot use is refused at once, as send() does.
  expect(a.s.queue!(Uint8Array.of(6), "::1", b.s.localPort)).toMatch(/IPv4 socket/);
  a.s.flush!();
  expect(a.errors).toEqual(["EACCES", "EMSGSIZE"]);
  await drainUntil(b, 4);
  expect(b.got.map((r) => r.bytes[0])).toEqual([1, 2, 4, 5]);
});

test("a socket closed mid-batch: queued datagrams leave first; a close from an error report stops the batch", async () => {
  const a = await socket("127.0.0.1");
  const b = await socket("127.0.0.1");
  for (let i = 0; i < 5; i++) a.s.queue!(Uint8Array.of(i), "127.0.0.1", b.s.localPort);
  a.s.close();
  expect(a.calls.sendmmsg).toBe(1);
  await drainUntil(b, 5);
  expect(b.got.map((r) => r.bytes[0])).toEqual([0, 1, 2, 3, 4]);
  // The owner closes the socket when told of a failure, during the flush.
  const c = await socket("127.0.0.1", true, (_e, self) => self.s.close());
  c.s.queue!(Uint8Array.of(10), "127.0.0.1", b.s.localPort);
  c.s.queue!(Uint8Array.of(11), "255.255.255.255", b.s.localPort);
  c.s.queue!(Uint8Array.of(12), "127.0.0.1", b.s.localPort);
  c.s.flush!();
  expect(c.errors).toEqual(["EACCES"]);
  expect(c.afterClose).toBe(0);
  c.s.queue!(Uint8Array.of(13), "127.0.0.1", b.s.localPort);
  c.s.flush!();
  await Promise.resolve();
  expect(c.afterClose).toBe(0);
  await drainUntil(b, 6);
  await Bun.sleep(20);
  b.s.drain(1024);
  expect(b.got.slice(5).map((r) => r.bytes[0])).toEqual([10]);
});

test("recvmmsg() reads many datagrams per call, each in its own buffer, with its source", async () => {
  const a = await socket("127.0.0.1");
  const c = await socket("127.0.0.1");
  const b = await socket("127.0.0.1");
  const sent = datagrams(100);
  for (let i = 0; i < sent.length; i++) (i % 3 === 0 ? c : a).s.send(sent[i]!, "127.0.0.1", b.s.localPort);
  // A jumbo-MTU peer's datagram (mtu 9000) fits a slot whole.
  const jumbo = new Uint8Array(9100).map((_, i) => i & 0xff);
  a.s.send(jumbo, "127.0.0.1", b.s.localPort);
  await Bun.sleep(20);
  await drainUntil(b, sent.length + 1);
  expect(b.calls.recvmmsg).toBeLessThanOrEqual(6); // 32 per call (and at most a few more if the sends raced the reads)
  expect(b.got.slice(0, 100).map((r) => [...r.bytes])).toEqual(sent.map((x) => [...x]));
  expect([...b.got[100]!.bytes]).toEqual([...jumbo]);
  expect(b.got.slice(0, 100).map((r) => r.port)).toEqual(sent.map((_, i) => (i % 3 === 0 ? c : a).s.localPort));
  // Buffers of their own: changing one changes no other.
  b.got[0]!.bytes.fill(0xee);
  expect([...b.got[1]!.bytes]).toEqual([...sent[1]!]);
  expect(b.s.drain(1024)).toBe(0);
  // The limit per drain holds.
  for (let i = 0; i < 10; i++) a.s.send(Uint8Array.of(i), "127.0.0.1", b.s.localPort);
  await Bun.sleep(20);
  expect(b.s.drain(4)).toBe(4);
  expect(b.s.drain(1024)).toBe(6);
  // Larger than any mlvpn datagram: cut to a slot (and then refused by the core as invalid).
  a.s.send(new Uint8Array(RECV_SLOT + 100), "127.0.0.1", b.s.localPort);
  await Bun.sleep(20);
  b.s.drain(1024);
  expect(b.got.at(-1)!.bytes.length).toBe(RECV_SLOT);
});

test("segmentation offload: a run of equal datagrams to one peer is one message, and arrives as the same datagrams", async () => {
  const a = await socket("127.0.0.1", true, undefined, true);
  const b = await socket("127.0.0.1");
  const d = await socket("127.0.0.1");
  const sent: Array<[Uint8Array, Counted]> = [];
  const run = (n: number, size: number, to: Counted, first: number) => {
    for (let i = 0; i < n; i++) sent.push([new Uint8Array(size).fill(first + i), to]);
  };
  run(10, 1400, b, 0); // a run
  run(1, 900, b, 10); // a short one ends it
  run(3, 1400, b, 20); // a new run
  run(2, 1400, d, 30); // another peer: another message
  run(1, 60, b, 40); // an acknowledgement
  for (const [x, to] of sent) expect(a.s.queue!(x, "127.0.0.1", to.s.localPort)).toBeUndefined();
  a.s.flush!();
  expect(a.calls.sendmmsg).toBe(1);
  expect(a.errors).toEqual([]);
  const toB = sent.filter(([, to]) => to === b).map(([x]) => [x.length, x[0]]);
  await drainUntil(b, toB.length);
  await drainUntil(d, 2);
  expect(b.got.map((r) => [r.bytes.length, r.bytes[0]])).toEqual(toB);
  expect(b.got.every((r) => r.bytes.every((v) => v === r.bytes[0]))).toBe(true);
  expect(d.got.map((r) => [r.bytes.length, r.bytes[0]])).toEqual([
    [1400, 30],
    [1400, 31],
  ]);
  // A run the path cannot segment (a broadcast: EACCES) is sent again one datagram at a time.
  for (let i = 0; i < 3; i++) a.s.queue!(new Uint8Array(500).fill(50 + i), "255.255.255.255", b.s.localPort);
  a.s.queue!(new Uint8Array(500).fill(60), "127.0.0.1", b.s.localPort);
  a.s.flush!();
  expect(a.errors).toEqual(["EACCES", "EACCES", "EACCES"]);
  expect(a.calls.sendto).toBe(3);
  await drainUntil(b, toB.length + 1);
  expect(b.got.at(-1)!.bytes[0]).toBe(60);
});

test("without sendmmsg/recvmmsg: nothing is queued, sendto() and recvfrom() carry the same datagrams", async () => {
  const a = await socket("127.0.0.1", false);
  const b = await socket("127.0.0.1", false);
  expect(a.s.queue).toBeUndefined();
  const sent = datagrams(40);
  for (const x of sent) expect(a.s.send(x, "127.0.0.1", b.s.localPort)).toBeUndefined();
  await drainUntil(b, sent.length);
  expect(b.got.map((r) => [...r.bytes])).toEqual(sent.map((x) => [...x]));
  expect(a.calls.sendto).toBe(40);
  expect(b.calls.recvmmsg + a.calls.sendmmsg).toBe(0);
  expect(b.calls.recvfrom).toBeGreaterThanOrEqual(40);
});
