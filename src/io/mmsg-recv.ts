/**
 * The receive side of a link socket's batched I/O (src/io/mmsg.ts has the send side and the
 * system calls): `recvmmsg()` reads many waiting datagrams with one call, into slabs, and each
 * is handed on as a view of its own with its source.
 */
import { ptr } from "bun:ffi";
import { AF_INET6, Errno, libc } from "./libc.ts";
import { IOVEC, MMSGHDR, NAME_STRIDE, setPointer, SOCKADDR_BYTES, type Syscalls } from "./mmsg.ts";

/** Datagrams read at most by one recvmmsg(). */
export const RECV_BATCH = 32;
/**
 * Room for one datagram in a recvmmsg() slot: above the largest any mlvpn or MLVPN peer sends
 * (mtu ≤ 9000, plus headers); a larger datagram is cut to this size (and then fails authentication).
 */
export const RECV_SLOT = 16384;
/** Datagrams are received into slabs this large; each datagram is a view into one. */
const SLAB_BYTES = 1 << 20;
/** Room for the next datagram with recvfrom() (the largest UDP payload fits). */
const MAX_DATAGRAM = 65536;

/** The source of received datagrams: decoded to text only when it differs from the last one. */
export class Source {
  private readonly last = new Uint8Array(SOCKADDR_BYTES);
  private readonly text = new Uint8Array(new ArrayBuffer(64));
  address = "";
  port = 0;

  /** `names[at … at + 28)` holds the sockaddr the kernel filled for the datagram. */
  update(names: Uint8Array, at: number): void {
    const last = this.last;
    let same = this.address !== "";
    for (let i = 0; i < SOCKADDR_BYTES && same; i++) same = names[at + i] === last[i];
    if (same) return;
    last.set(names.subarray(at, at + SOCKADDR_BYTES));
    const family = last[0]! | (last[1]! << 8);
    this.port = (last[2]! << 8) | last[3]!;
    this.text.fill(0);
    const v6 = family === AF_INET6;
    libc().inet_ntop(v6 ? AF_INET6 : 2, last.subarray(v6 ? 8 : 4), this.text, this.text.length);
    const end = this.text.indexOf(0);
    this.address = decoder.decode(this.text.subarray(0, end < 0 ? this.text.length : end));
  }
}

const decoder = new TextDecoder();

/**
 * The receive side: reads waiting datagrams into slabs and hands each on as a view of its own
 * (the receiver may modify it and keep it), with its source.
 */
export class RecvBatch {
  private slab = new Uint8Array(new ArrayBuffer(SLAB_BYTES));
  private slabAt = ptr(this.slab) as number;
  private used = 0;
  private readonly hdrs = new Uint32Array(new ArrayBuffer(MMSGHDR * RECV_BATCH));
  private readonly hdrsAt = ptr(this.hdrs) as number;
  private readonly iovs = new Uint32Array(new ArrayBuffer(IOVEC * RECV_BATCH));
  private readonly names = new Uint8Array(new ArrayBuffer(NAME_STRIDE * RECV_BATCH));
  private readonly namesAt = ptr(this.names) as number;
  /** recvfrom()'s address length, in and out. */
  private readonly nameLength = new Uint32Array(new ArrayBuffer(4));
  private readonly nameLengthAt = ptr(this.nameLength) as number;
  private readonly src = new Source();
  /** Set when the socket is closed: nothing is read or delivered from then on. */
  closed = false;

  constructor(
    private readonly fd: number,
    private readonly sys: Syscalls,
    private readonly onDatagram: (bytes: Uint8Array, address: string, port: number) => void,
    /** recvmmsg() failed with ENOSYS: recvfrom() from then on. */
    private mmsg = true,
  ) {
    const iovsAt = ptr(this.iovs) as number;
    for (let i = 0; i < RECV_BATCH; i++) {
      const h = (i * MMSGHDR) / 4;
      setPointer(this.hdrs, h, this.namesAt + i * NAME_STRIDE);
      setPointer(this.hdrs, h + 4, iovsAt + i * IOVEC);
      this.hdrs[h + 6] = 1;
      this.iovs[(i * IOVEC) / 4 + 2] = RECV_SLOT;
    }
  }

  private newSlab(): void {
    // Views of earlier datagrams keep the old slab alive as long as they are held.
    this.slab = new Uint8Array(new ArrayBuffer(SLAB_BYTES));
    this.slabAt = ptr(this.slab) as number;
    this.used = 0;
  }

  /** Reads up to `max` waiting datagrams, each to onDatagram; returns how many. */
  drain(max: number): number {
    let n = 0;
    while (n < max && !this.closed) {
      if (!this.mmsg) {
        if (SLAB_BYTES - this.used < MAX_DATAGRAM) this.newSlab();
        this.nameLength[0] = SOCKADDR_BYTES;
        const len = this.sys.recvfrom(this.fd, this.slabAt + this.used, MAX_DATAGRAM, 0, this.namesAt, this.nameLengthAt);
        if (len < 0) {
          if (this.sys.errno() === Errno.EINTR) continue;
          break; // EAGAIN: nothing more; anything else: the next poll tells
        }
        const at = this.used;
        this.used += (len + 7) & ~7;
        this.src.update(this.names, 0);
        n++;
        this.onDatagram(this.slab.subarray(at, at + len), this.src.address, this.src.port);
        continue;
      }
      if (SLAB_BYTES - this.used < RECV_SLOT) this.newSlab();
      const room = Math.min(RECV_BATCH, max - n, Math.floor((SLAB_BYTES - this.used) / RECV_SLOT));
      const base = this.used;
      for (let k = 0; k < room; k++) {
        setPointer(this.iovs, (k * IOVEC) / 4, this.slabAt + base + k * RECV_SLOT);
        this.hdrs[(k * MMSGHDR) / 4 + 2] = SOCKADDR_BYTES; // msg_namelen, in and out
      }
      const r = this.sys.recvmmsg(this.fd, this.hdrsAt, room, 0, null);
      if (r < 0) {
        const e = this.sys.errno();
        if (e === Errno.EINTR) continue;
        if (e === Errno.ENOSYS) {
          this.mmsg = false;
          continue;
        }
        break; // EAGAIN: nothing more; anything else: the next poll tells
      }
      const slab = this.slab;
      for (let k = 0; k < r && !this.closed; k++) {
        const len = this.hdrs[(k * MMSGHDR) / 4 + 14]!; // msg_len
        const from = base + k * RECV_SLOT;
        const at = this.used;
        // Move it next to the previous one (regions ahead are still to be read: no overlap).
        if (from !== at) slab.copyWithin(at, from, from + len);
        this.used = at + ((len + 7) & ~7);
        this.src.update(this.names, k * NAME_STRIDE);
        n++;
        this.onDatagram(slab.subarray(at, at + len), this.src.address, this.src.port);
      }
      if (r < room) break; // the queue is empty: no call just to hear EAGAIN
    }
    return n;
  }
}
