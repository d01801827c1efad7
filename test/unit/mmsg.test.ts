/**
 * The batches of src/io/mmsg.ts against a stand-in kernel (the Syscalls port) that fails on
 * purpose: EAGAIN in the middle of a sendmmsg() batch, a kernel that takes part of a batch, an
 * interrupted call, sendmmsg/recvmmsg missing (ENOSYS), a socket closed while its batch is being
 * sent or delivered. The stand-in reads the real struct mmsghdr/iovec the batch built.
 */
import { read, toArrayBuffer, type Pointer } from "bun:ffi";
import { describe, expect, test } from "bun:test";
import { Errno } from "../../src/io/libc.ts";
import { SEND_BATCH, SendBatch, type SockaddrSource, type Syscalls } from "../../src/io/mmsg.ts";
import { RECV_BATCH, RecvBatch } from "../../src/io/mmsg-recv.ts";

/** A datagram the stand-in kernel took: its bytes and the port of its sockaddr. */
interface Out {
  bytes: number[];
  port: number;
}

function messageAt(msgvec: number, k: number): Out {
  const h = (msgvec + k * 64) as Pointer;
  const name = read.ptr(h, 0) as Pointer;
  const iov = read.ptr(h, 16) as Pointer;
  const base = read.ptr(iov, 0) as Pointer;
  const len = read.u32(iov, 8);
  return { bytes: [...new Uint8Array(toArrayBuffer(base, 0, len))], port: (read.u8(name, 2) << 8) | read.u8(name, 3) };
}

/**
 * A kernel whose sendmmsg() follows `script`: each step is how many messages it takes (of those
 * offered), or an errno for the first one offered. Past the script it takes everything.
 */
class FakeKernel implements Syscalls {
  sent: Out[] = [];
  calls: string[] = [];
  script: Array<number | { errno: number }> = [];
  /** Datagrams waiting to be received: bytes and source port. */
  incoming: Array<{ bytes: number[]; port: number }> = [];
  recvScript: Array<{ errno: number } | "go"> = [];
  private err = 0;
  mmsgMissing = false;

  sendmmsg(_fd: number, msgvec: number, vlen: number): number {
    this.calls.push(`sendmmsg ${vlen}`);
    if (this.mmsgMissing) return this.fail(Errno.ENOSYS);
    const step = this.script.shift() ?? vlen;
    if (typeof step !== "number") return this.fail(step.errno);
    const n = Math.min(step, vlen);
    for (let k = 0; k < n; k++) this.sent.push(messageAt(msgvec, k));
    return n;
  }
  sendto(_fd: number, buf: number, len: number, _flags: number, addr: number): number {
    this.calls.push("sendto");
    const step = this.script[0];
    if (step !== undefined && typeof step !== "number") {
      this.script.shift();
      return this.fail(step.errno);
    }
    this.sent.push({ bytes: [...new Uint8Array(toArrayBuffer(buf as Pointer, 0, len))], port: (read.u8(addr as Pointer, 2) << 8) | read.u8(addr as Pointer, 3) });
    return len;
  }
  recvmmsg(_fd: number, msgvec: number, vlen: number): number {
    this.calls.push(`recvmmsg ${vlen}`);
    if (this.mmsgMissing) return this.fail(Errno.ENOSYS);
    const step = this.recvScript.shift();
    if (step !== undefined && step !== "go") return this.fail(step.errno);
    if (this.incoming.length === 0) return this.fail(Errno.EAGAIN);
    let k = 0;
    for (; k < vlen && this.incoming.length > 0; k++) {
      const d = this.incoming.shift()!;
      const h = (msgvec + k * 64) as Pointer;
      const iov = read.ptr(h, 16) as Pointer;
      new Uint8Array(toArrayBuffer(read.ptr(iov, 0) as Pointer, 0, d.bytes.length)).set(d.bytes);
      const name = new Uint8Array(toArrayBuffer(read.ptr(h, 0) as Pointer, 0, 16));
      name.fill(0);
      name.set([2, 0, d.port >> 8, d.port & 0xff, 127, 0, 0, 1]);
      new Uint32Array(toArrayBuffer(h, 56, 4))[0] = d.bytes.length; // msg_len
    }
    return k;
  }
  recvfrom(_fd: number, buf: number, _len: number, _flags: number, addr: number): number {
    this.calls.push("recvfrom");
    const d = this.incoming.shift();
    if (!d) return this.fail(Errno.EAGAIN);
    new Uint8Array(toArrayBuffer(buf as Pointer, 0, d.bytes.length)).set(d.bytes);
    const name = new Uint8Array(toArrayBuffer(addr as Pointer, 0, 16));
    name.fill(0);
    name.set([2, 0, d.port >> 8, d.port & 0xff, 127, 0, 0, 1]);
    return d.bytes.length;
  }
  errno(): number {
    return this.err;
  }
  private fail(e: number): number {
    this.err = e;
    return -1;
  }
}

/** A destination as udp.ts keeps it: a sockaddr_in for 127.0.0.1:port. */
function destination(port: number): SockaddrSource & { to(port: number): void } {
  const d = {
    sockaddr: new Uint8Array(new ArrayBuffer(28)),
    length: 16,
    generation: 0,
    to(p: number) {
      d.sockaddr.set([2, 0, p >> 8, p & 0xff, 127, 0, 0, 1]);
      d.generation++;
    },
  };
  d.to(port);
  return d;
}

function sender(kernel: FakeKernel) {
  const errors: string[] = [];
  const batch = new SendBatch(3, kernel, (e) => errors.push(e));
  return { batch, errors };
}

const one = (i: number) => Uint8Array.of(i, i, i);

describe("sending a batch", () => {
  test("EAGAIN mid-batch loses that datagram only: the kernel is asked again from the next one", () => {
    const kernel = new FakeKernel();
    const { batch, errors } = sender(kernel);
    const dest = destination(5000);
    for (let i = 0; i < 8; i++) batch.queue(one(i), dest);
    kernel.script = [3, { errno: Errno.EAGAIN }];
    batch.flush();
    expect(kernel.calls).toEqual(["sendmmsg 8", "sendmmsg 5", "sendmmsg 4"]);
    expect(errors).toEqual(["EAGAIN"]);
    expect(kernel.sent.map((o) => o.bytes[0])).toEqual([0, 1, 2, 4, 5, 6, 7]);
    expect(batch.pending).toBe(0);
  });

  test("a kernel that takes part of a batch is offered the rest; each message keeps its own destination", () => {
    const kernel = new FakeKernel();
    const { batch, errors } = sender(kernel);
    const dest = destination(5000);
    for (let i = 0; i < 6; i++) {
      if (i === 3) dest.to(6000); // the peer moved mid-batch
      batch.queue(one(i), dest);
    }
    kernel.script = [2, 1];
    batch.flush();
    expect(kernel.calls).toEqual(["sendmmsg 6", "sendmmsg 4", "sendmmsg 3"]);
    expect(errors).toEqual([]);
    expect(kernel.sent.map((o) => [o.bytes[0], o.port])).toEqual([
      [0, 5000],
      [1, 5000],
      [2, 5000],
      [3, 6000],
      [4, 6000],
      [5, 6000],
    ]);
    // A slot written for 6000 is rewritten when the next batch goes back to 5000.
    dest.to(5000);
    batch.queue(one(9), dest);
    batch.flush();
    expect(kernel.sent.at(-1)).toEqual({ bytes: [9, 9, 9], port: 5000 });
  });

  test("an interrupted call is made again once; twice, the datagram is reported", () => {
    const kernel = new FakeKernel();
    const { batch, errors } = sender(kernel);
    const dest = destination(5000);
    for (let i = 0; i < 3; i++) batch.queue(one(i), dest);
    kernel.script = [{ errno: Errno.EINTR }, { errno: Errno.EINTR }, { errno: Errno.EINTR }];
    batch.flush();
    expect(errors).toEqual(["EINTR"]);
    expect(kernel.sent.map((o) => o.bytes[0])).toEqual([1, 2]);
  });

  test("a full batch or a full slab is flushed before the next datagram is queued; the buffer is copied", () => {
    const kernel = new FakeKernel();
    const { batch } = sender(kernel);
    const dest = destination(5000);
    const reused = new Uint8Array(1);
    for (let i = 0; i < SEND_BATCH + 1; i++) {
      reused[0] = i;
      batch.queue(reused, dest);
    }
    expect(kernel.calls).toEqual([`sendmmsg ${SEND_BATCH}`]);
    expect(batch.pending).toBe(1);
    for (let i = 0; i < 40; i++) batch.queue(new Uint8Array(9000).fill(i), dest); // 256 KiB holds 29
    expect(kernel.calls).toEqual([`sendmmsg ${SEND_BATCH}`, "sendmmsg 30"]); // the one left + 29
    batch.flush();
    expect(kernel.sent.slice(0, SEND_BATCH + 1).map((o) => o.bytes[0])).toEqual(Array.from({ length: SEND_BATCH + 1 }, (_, i) => i));
    expect(kernel.sent.length).toBe(SEND_BATCH + 1 + 40);
  });

  test("without sendmmsg (ENOSYS): the batch goes out with sendto(), and so do later ones", () => {
    const kernel = new FakeKernel();
    kernel.mmsgMissing = true;
    const { batch, errors } = sender(kernel);
    const dest = destination(5000);
    for (let i = 0; i < 3; i++) batch.queue(one(i), dest);
    batch.flush();
    batch.queue(one(7), dest);
    batch.flush();
    expect(kernel.calls).toEqual(["sendmmsg 3", "sendto", "sendto", "sendto", "sendto"]);
    expect(kernel.sent.map((o) => [o.bytes[0], o.port])).toEqual([
      [0, 5000],
      [1, 5000],
      [2, 5000],
      [7, 5000],
    ]);
    expect(errors).toEqual([]);
  });

  test("closed while its batch is sent (from an error report): no call after the close, nothing left queued", () => {
    const kernel = new FakeKernel();
    const batch: SendBatch = new SendBatch(3, kernel, () => (batch.closed = true));
    const dest = destination(5000);
    for (let i = 0; i < 6; i++) batch.queue(one(i), dest);
    kernel.script = [2, { errno: Errno.ENETUNREACH }];
    batch.flush();
    expect(kernel.calls).toEqual(["sendmmsg 6", "sendmmsg 4"]);
    expect(batch.pending).toBe(0);
    batch.queue(one(9), dest);
    batch.flush();
    expect(kernel.calls).toHaveLength(2);
  });
});

describe("sending runs with segmentation offload", () => {
  test("equal datagrams to one destination share a message; a shorter one ends the run, another size or peer starts one", () => {
    const kernel = new FakeKernel();
    const batch = new SendBatch(3, kernel, () => {}, true, true);
    const dest = destination(5000);
    for (let i = 0; i < 4; i++) batch.queue(new Uint8Array(100).fill(i), dest);
    batch.queue(new Uint8Array(50).fill(4), dest); // short: ends the run
    batch.queue(new Uint8Array(50).fill(5), dest);
    batch.queue(new Uint8Array(100).fill(6), dest); // larger than the run's segments: a new one
    dest.to(6000);
    batch.queue(new Uint8Array(100).fill(7), dest);
    expect(batch.pending).toBe(8);
    expect(batch.messages).toBe(4);
    batch.flush();
    expect(kernel.sent.map((o) => [o.bytes.length, o.bytes[0], o.port])).toEqual([
      [450, 0, 5000],
      [50, 5, 5000],
      [100, 6, 5000],
      [100, 7, 6000],
    ]);
  });

  test("a run the kernel refuses (EIO) goes again one datagram at a time, and runs stop on this socket", () => {
    const kernel = new FakeKernel();
    const errors: string[] = [];
    const batch = new SendBatch(3, kernel, (e) => errors.push(e), true, true);
    const dest = destination(5000);
    for (let i = 0; i < 3; i++) batch.queue(new Uint8Array(100).fill(i), dest);
    dest.to(7000);
    batch.queue(new Uint8Array(20).fill(9), dest);
    kernel.script = [{ errno: Errno.EIO }, { errno: Errno.EAGAIN }];
    batch.flush();
    // Datagram 0 met EAGAIN on its own (lost, reported); 1 and 2 went; then the last message.
    expect(kernel.calls).toEqual(["sendmmsg 2", "sendto", "sendto", "sendto", "sendmmsg 1"]);
    expect(errors).toEqual(["EAGAIN"]);
    expect(kernel.sent.map((o) => [o.bytes.length, o.bytes[0], o.port])).toEqual([
      [100, 1, 5000],
      [100, 2, 5000],
      [20, 9, 7000],
    ]);
    dest.to(5000);
    for (let i = 0; i < 3; i++) batch.queue(new Uint8Array(100).fill(i), dest);
    expect(batch.messages).toBe(3);
  });

  test("a run failing for another reason (ENETUNREACH) is tried apart too, and runs go on", () => {
    const kernel = new FakeKernel();
    const errors: string[] = [];
    const batch = new SendBatch(3, kernel, (e) => errors.push(e), true, true);
    const dest = destination(5000);
    for (let i = 0; i < 2; i++) batch.queue(new Uint8Array(100).fill(i), dest);
    kernel.script = [{ errno: Errno.ENETUNREACH }, { errno: Errno.ENETUNREACH }, { errno: Errno.ENETUNREACH }];
    batch.flush();
    expect(errors).toEqual(["ENETUNREACH", "ENETUNREACH"]);
    for (let i = 0; i < 3; i++) batch.queue(new Uint8Array(100).fill(i), dest);
    expect(batch.messages).toBe(1);
  });
});

describe("receiving a batch", () => {
  function receiver(kernel: FakeKernel, mmsg = true) {
    const got: Array<{ bytes: Uint8Array; port: number }> = [];
    const onDatagram = (bytes: Uint8Array, _a: string, port: number) => void got.push({ bytes, port });
    const batch = new RecvBatch(3, kernel, (b, a, p) => onDatagram(b, a, p), mmsg);
    return { batch, got };
  }
  const incoming = (n: number) => Array.from({ length: n }, (_, i) => ({ bytes: Array.from({ length: 1 + ((i * 37) % 1400) }, () => i), port: 4000 + (i % 2) }));

  test("one call per RECV_BATCH datagrams; a short batch ends the drain without a call for EAGAIN", () => {
    const kernel = new FakeKernel();
    const { batch, got } = receiver(kernel);
    kernel.incoming = incoming(RECV_BATCH + 5);
    const expected = kernel.incoming.map((d) => [d.bytes.length, d.bytes[0], d.port]);
    expect(batch.drain(1024)).toBe(RECV_BATCH + 5);
    expect(kernel.calls).toEqual([`recvmmsg ${RECV_BATCH}`, `recvmmsg ${RECV_BATCH}`]);
    expect(got.map((g) => [g.bytes.length, g.bytes[0], g.port])).toEqual(expected);
    // Packed one after the other in the slab (8-byte aligned), each a view of its own.
    expect(got[1]!.bytes.byteOffset).toBe(got[0]!.bytes.byteOffset + ((got[0]!.bytes.length + 7) & ~7));
    expect(got[0]!.bytes.buffer).toBe(got[1]!.bytes.buffer);
  });

  test("EINTR: called again; ENOSYS: recvfrom() from then on; the limit per drain holds", () => {
    const kernel = new FakeKernel();
    const { batch, got } = receiver(kernel);
    kernel.incoming = incoming(10);
    kernel.recvScript = [{ errno: Errno.EINTR }];
    expect(batch.drain(4)).toBe(4);
    expect(kernel.calls).toEqual(["recvmmsg 4", "recvmmsg 4"]);
    kernel.mmsgMissing = true;
    expect(batch.drain(1024)).toBe(6);
    expect(kernel.calls.slice(2)).toEqual(["recvmmsg 32", "recvfrom", "recvfrom", "recvfrom", "recvfrom", "recvfrom", "recvfrom", "recvfrom"]);
    expect(got.map((g) => g.bytes[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test("closed while a batch is delivered: the rest of it is not delivered", () => {
    const kernel = new FakeKernel();
    const got: number[] = [];
    const batch: RecvBatch = new RecvBatch(3, kernel, (b) => {
      got.push(b[0]!);
      if (got.length === 3) batch.closed = true;
    });
    kernel.incoming = incoming(10);
    expect(batch.drain(1024)).toBe(3);
    expect(got).toEqual([0, 1, 2]);
    expect(batch.drain(1024)).toBe(0);
    expect(kernel.calls).toEqual(["recvmmsg 32"]);
  });
});
