/**
 * Batched datagram I/O for a link socket (udp.ts): `sendmmsg()` for the datagrams the core
 * produced during one batch of input, `recvmmsg()` to read many waiting datagrams with one
 * system call (docs/performance.md, "Batching").
 *
 * Sending: queue() copies the datagram (the core reuses its buffer at once) into a send slab and
 * points the next `struct mmsghdr` at it and at the destination's sockaddr; flush() hands them
 * all to the kernel. The owner flushes at the end of each batch of input; a microtask flushes
 * whatever is still queued before the event loop waits, and close() flushes first, so that a
 * datagram always leaves in the same turn of the event loop as with one `sendto()` per datagram.
 * A failed datagram is reported through onSendError with its errno name and skipped (the kernel
 * reports the error of the first datagram it could not send; the rest are tried again), exactly
 * what one `sendto()` per datagram did: EAGAIN, a failing destination or an unreachable network
 * lose that datagram only.
 *
 * Where the kernel knows UDP_SEGMENT (Linux ≥ 4.18; MLVPN_GSO=off turns it off), a run of
 * equal-sized datagrams to one peer — a TCP stream's full-size packets — is one message that the
 * kernel segments at the device (see SendBatch).
 *
 * Receiving (src/io/mmsg-recv.ts): each call reserves up to RECV_BATCH slots of RECV_SLOT
 * bytes in the current receive slab; the datagrams are then moved together (8-byte aligned) so
 * that a slab holds as many as with `recvfrom()`, and each is handed on as a view of its own.
 *
 * The system calls come through a port (Syscalls), so that tests can make one fail mid-batch.
 * Without `sendmmsg`/`recvmmsg` (a C library that lacks them, or ENOSYS under a seccomp
 * filter), or with MLVPN_MMSG=off, the socket sends with `sendto()` and reads with `recvfrom()`.
 */
import { dlopen, FFIType, type Pointer, ptr } from "bun:ffi";
import { errno, errnoName, Errno, LIBC_NAMES, libc } from "./libc.ts";

/** Datagrams queued at most before a flush: bounds how long the first of a batch waits (a drain of the tun can be 1024 packets). */
export const SEND_BATCH = 32;
/** Bytes of datagrams queued at most before a flush (a datagram larger than this is sent alone). */
const SEND_SLAB_BYTES = 256 * 1024;
export const SOCKADDR_BYTES = 28;
export const NAME_STRIDE = 32;
/** sizeof(struct mmsghdr) and sizeof(struct iovec) on 64-bit Linux (x86-64, arm64). */
export const MMSGHDR = 64;
export const IOVEC = 16;

/** The system calls a batch makes; `errno()` is read right after a call that returned -1. */
export interface Syscalls {
  sendmmsg(fd: number, msgvec: number, vlen: number, flags: number): number;
  recvmmsg(fd: number, msgvec: number, vlen: number, flags: number, timeout: null): number;
  sendto(fd: number, buf: number, len: number, flags: number, addr: number, addrlen: number): number;
  recvfrom(fd: number, buf: number, len: number, flags: number, addr: number, addrlenPtr: number): number;
  errno(): number;
}

const MMSG_SYMBOLS = {
  sendmmsg: { args: [FFIType.i32, FFIType.ptr, FFIType.u32, FFIType.i32], returns: FFIType.i32 },
  recvmmsg: { args: [FFIType.i32, FFIType.ptr, FFIType.u32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
} as const;

let system: { sys: Syscalls; batching: boolean } | undefined;

/**
 * libc's calls; `batching` is false when MLVPN_MMSG=off or the C library lacks
 * sendmmsg/recvmmsg (then only sendto/recvfrom are used). They are loaded apart from libc.ts's
 * set, so that their absence leaves everything else working.
 */
export function systemSyscalls(): { sys: Syscalls; batching: boolean } {
  if (system !== undefined) return system;
  const sys = libc();
  let mm: ReturnType<typeof dlopen<typeof MMSG_SYMBOLS>>["symbols"] | undefined;
  if (process.env.MLVPN_MMSG !== "off") {
    for (const name of process.env.MLVPN_LIBC ? [process.env.MLVPN_LIBC] : LIBC_NAMES) {
      try {
        mm = dlopen(name, MMSG_SYMBOLS).symbols;
        break;
      } catch {}
    }
  }
  const m = mm;
  const calls: Syscalls = {
    sendmmsg: m ? (fd, msgvec, vlen, flags) => m.sendmmsg(fd, msgvec as Pointer, vlen, flags) : () => enosys(),
    recvmmsg: m ? (fd, msgvec, vlen, flags, timeout) => m.recvmmsg(fd, msgvec as Pointer, vlen, flags, timeout) : () => enosys(),
    sendto: (fd, buf, len, flags, addr, addrlen) => sys.sendto(fd, buf as Pointer, len, flags, addr as Pointer, addrlen),
    recvfrom: (fd, buf, len, flags, addr, addrlenPtr) => sys.recvfrom(fd, buf as Pointer, len, flags, addr as Pointer, addrlenPtr as Pointer),
    errno: () => (noSys ? ((noSys = false), Errno.ENOSYS) : errno()),
  };
  return (system = { sys: calls, batching: m !== undefined });
}

/** The stand-in for a missing sendmmsg/recvmmsg: fails with ENOSYS (never called in practice). */
let noSys = false;
function enosys(): number {
  noSys = true;
  return -1;
}

/** Writes a pointer (a number below 2^53) as two little-endian u32 words at word `i`. */
export function setPointer(words: Uint32Array, i: number, p: number): void {
  words[i] = p >>> 0;
  words[i + 1] = Math.floor(p / 0x1_0000_0000);
}

/** The destination of the next queued datagrams, as a sockaddr; `generation` changes with it. */
export interface SockaddrSource {
  readonly sockaddr: Uint8Array;
  readonly length: number;
  readonly generation: number;
}

/** Errors of a UDP_SEGMENT send that mean the path cannot segment (no offload through IPsec, a datagram over the path MTU): not again on this socket. */
const GSO_REFUSED: ReadonlySet<number> = new Set([Errno.EIO, Errno.EINVAL, Errno.EOPNOTSUPP, Errno.ENOPROTOOPT]);
/** Bytes of one segmented send at most (the UDP length field, less headers). */
const GSO_MAX_BYTES = 65000;
/** CMSG_SPACE(sizeof(u16)) on 64-bit Linux: a cmsghdr (16 bytes) and the segment size, padded. */
const CMSG_SEGMENT = 24;
const SOL_UDP = 17;
const UDP_SEGMENT = 103;

/**
 * The send side: queued datagrams, flushed with sendmmsg(). `onSendError` receives the errno
 * name of each datagram that could not be sent.
 *
 * With `gso`, consecutive datagrams to the same destination whose sizes are equal (all but the
 * last, which may be shorter) share one message with a UDP_SEGMENT control message: the kernel
 * passes them through its UDP/IP stack once and cuts them into the same datagrams at the device
 * (in software when the device cannot). A TCP stream's full-size packets are such a run. A
 * message that fails is sent again one datagram at a time with sendto(), so that errors stay
 * per datagram; an error that means the path cannot segment turns `gso` off for the socket.
 */
export class SendBatch {
  private readonly slab = new Uint8Array(new ArrayBuffer(SEND_SLAB_BYTES));
  private readonly slabAt = ptr(this.slab) as number;
  private readonly hdrs = new Uint32Array(new ArrayBuffer(MMSGHDR * SEND_BATCH));
  private readonly hdrsAt = ptr(this.hdrs) as number;
  private readonly iovs = new Uint32Array(new ArrayBuffer(IOVEC * SEND_BATCH));
  private readonly names = new Uint8Array(new ArrayBuffer(NAME_STRIDE * SEND_BATCH));
  private readonly namesAt = ptr(this.names) as number;
  /** One UDP_SEGMENT cmsg per message (u16 words: the segment size at 8 of each 12). */
  private readonly controls = new Uint16Array(new ArrayBuffer(CMSG_SEGMENT * SEND_BATCH));
  /** The destination generation written in each slot's sockaddr (-1: none yet). */
  private readonly nameGeneration = new Float64Array(SEND_BATCH).fill(-1);
  /** Per message: where its bytes start in the slab, how many, the segment size, how many segments, and whether a short last segment closed it. */
  private readonly offset = new Int32Array(SEND_BATCH);
  private readonly length = new Int32Array(SEND_BATCH);
  private readonly segment = new Int32Array(SEND_BATCH);
  private readonly segments = new Int32Array(SEND_BATCH);
  private readonly sealed = new Uint8Array(SEND_BATCH);
  /** Messages queued. */
  private count = 0;
  /** Datagrams queued (a message may hold several). */
  private queued = 0;
  private used = 0;
  private flushing = false;
  private scheduled = false;
  /** Set when the socket is closed: nothing is sent from then on. */
  closed = false;
  private readonly flushLater = (): void => {
    this.scheduled = false;
    this.flush();
  };

  constructor(
    private readonly fd: number,
    private sys: Syscalls,
    private readonly onSendError: (error: string) => void,
    /** sendmmsg() failed with ENOSYS: every send from then on uses sendto(). */
    private mmsg = true,
    /** Datagrams of a run share a message (UDP_SEGMENT); the caller checked that the kernel knows it. */
    private gso = false,
  ) {
    const iovsAt = ptr(this.iovs) as number;
    const controlsAt = ptr(this.controls) as number;
    const c32 = new Uint32Array(this.controls.buffer);
    for (let i = 0; i < SEND_BATCH; i++) {
      const h = (i * MMSGHDR) / 4;
      setPointer(this.hdrs, h, this.namesAt + i * NAME_STRIDE); // msg_name
      setPointer(this.hdrs, h + 4, iovsAt + i * IOVEC); // msg_iov
      this.hdrs[h + 6] = 1; // msg_iovlen
      setPointer(this.hdrs, h + 8, controlsAt + i * CMSG_SEGMENT); // msg_control (msg_controllen 0: unused)
      const c = (i * CMSG_SEGMENT) / 4;
      c32[c] = 16 + 2; // cmsg_len = CMSG_LEN(2)
      c32[c + 2] = SOL_UDP;
      c32[c + 3] = UDP_SEGMENT;
    }
  }

  /** Datagrams queued and not yet flushed. */
  get pending(): number {
    return this.queued;
  }

  /** Messages queued (runs sharing one count once). */
  get messages(): number {
    return this.count;
  }

  /** Queues a copy of `bytes` for `dest` (its current sockaddr). */
  queue(bytes: Uint8Array, dest: SockaddrSource): void {
    const len = bytes.length;
    if (this.queued === SEND_BATCH || SEND_SLAB_BYTES - this.used < len) this.flush();
    if (len > SEND_SLAB_BYTES || this.closed) {
      // Larger than the slab (not an mlvpn datagram): on its own.
      if (!this.closed) this.sendOne(ptr(bytes) as number, len, dest);
      return;
    }
    this.slab.set(bytes, this.used);
    this.used += len;
    this.queued++;
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushLater);
    }
    const k = this.count - 1;
    if (this.gso && k >= 0 && this.nameGeneration[k] === dest.generation && this.sealed[k] === 0 && len <= this.segment[k]! && this.length[k]! + len <= GSO_MAX_BYTES) {
      // The next datagram of a run: right behind the previous one in the slab.
      const total = (this.length[k] = this.length[k]! + len);
      this.iovs[(k * IOVEC) / 4 + 2] = total;
      if (++this.segments[k]! === 2) {
        this.controls[(k * CMSG_SEGMENT) / 2 + 8] = this.segment[k]!;
        this.hdrs[(k * MMSGHDR) / 4 + 10] = CMSG_SEGMENT; // msg_controllen
      }
      if (len < this.segment[k]!) this.sealed[k] = 1; // a short one ends the run
      return;
    }
    const i = this.count++;
    const at = this.used - len;
    this.offset[i] = at;
    this.length[i] = len;
    this.segment[i] = len;
    this.segments[i] = 1;
    this.sealed[i] = 0;
    const v = (i * IOVEC) / 4;
    setPointer(this.iovs, v, this.slabAt + at);
    this.iovs[v + 2] = len;
    const h = (i * MMSGHDR) / 4;
    this.hdrs[h + 10] = 0; // no msg_control
    if (this.nameGeneration[i] !== dest.generation) {
      this.nameGeneration[i] = dest.generation;
      this.names.set(dest.sockaddr, i * NAME_STRIDE);
    }
    this.hdrs[h + 2] = dest.length; // msg_namelen
  }

  /** Sends what is queued, in order; each datagram that fails is reported and skipped. */
  flush(): void {
    const count = this.count;
    if (count === 0 || this.flushing) return;
    this.flushing = true;
    let i = 0;
    let retried = false;
    try {
      while (i < count && !this.closed) {
        if (!this.mmsg) {
          this.sendApart(i++);
          continue;
        }
        const r = this.sys.sendmmsg(this.fd, this.hdrsAt + i * MMSGHDR, count - i, 0);
        if (r > 0) {
          i += r;
          retried = false;
          continue;
        }
        const e = this.sys.errno();
        if (e === Errno.ENOSYS) {
          this.mmsg = false; // e.g. a seccomp filter: one sendto() per datagram from now on
          continue;
        }
        // Interrupted: once more (a signal, nothing to do with the path).
        if (e === Errno.EINTR && !retried) {
          retried = true;
          continue;
        }
        retried = false;
        // The kernel stopped at this message: its datagrams are lost, the next ones are tried.
        if (this.segments[i]! > 1) {
          // A run: again one datagram at a time, each with its own fate (EAGAIN may leave room for some).
          if (GSO_REFUSED.has(e)) this.gso = false;
          this.sendApart(i++);
          continue;
        }
        i++;
        this.onSendError(errnoName(e));
      }
    } finally {
      this.count = 0;
      this.queued = 0;
      this.used = 0;
      this.flushing = false;
    }
  }

  /** Message `i`'s datagrams, each with sendto(). */
  private sendApart(i: number): void {
    const name = this.namesAt + i * NAME_STRIDE;
    const nameLength = this.hdrs[(i * MMSGHDR) / 4 + 2]!;
    const seg = this.segment[i]!;
    const end = this.offset[i]! + this.length[i]!;
    for (let at = this.offset[i]!; at < end && !this.closed; at += seg) {
      const len = Math.min(seg, end - at);
      if (this.sys.sendto(this.fd, this.slabAt + at, len, 0, name, nameLength) >= 0) continue;
      const e = this.sys.errno();
      if (e === Errno.EINTR && this.sys.sendto(this.fd, this.slabAt + at, len, 0, name, nameLength) >= 0) continue;
      this.onSendError(errnoName(e));
    }
  }

  /** One datagram with sendto(), reported like a batched one. */
  sendOne(at: number, len: number, dest: SockaddrSource): void {
    const sa = ptr(dest.sockaddr) as number;
    if (this.sys.sendto(this.fd, at, len, 0, sa, dest.length) >= 0) return;
    const e = this.sys.errno();
    if (e === Errno.EINTR && this.sys.sendto(this.fd, at, len, 0, sa, dest.length) >= 0) return;
    this.onSendError(errnoName(e));
  }
}
