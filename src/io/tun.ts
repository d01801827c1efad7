/**
 * Linux TUN/TAP devices through /dev/net/tun (FFI; Bun has no API for them, and its stream/socket
 * wrappers misbehave on a tun fd, docs/bun-runtime.md, "Reading the tun device"). The fd is non-blocking: reads are driven by
 * tun-reader.ts, writes are one synchronous syscall per packet (tun cannot batch writes).
 *
 * openTun() only creates the interface and sets MTU and txqueuelen; bringing it up and assigning
 * addresses is left to the user's status script, as in MLVPN. The interface is not persistent:
 * it disappears when the fd is closed (or the process exits).
 */
import { type Pointer, ptr } from "bun:ffi";
import {
  AF_INET, close, Errno, ioctl, libc, O_CLOEXEC, O_NONBLOCK, O_RDWR, open, SOCK_CLOEXEC, SOCK_DGRAM, socket,
  SysError, errno,
} from "./libc.ts";
import { TcpCoalescer, VNET_HDR } from "./tun-gro.ts";

export type TunKind = "tun" | "tap";

export interface TunOptions {
  /** Interface name, at most 15 bytes; `%d` lets the kernel pick a number ("mlvpn%d" → "mlvpn0"). */
  name: string;
  kind: TunKind;
  mtu: number;
  /** Kernel queue of packets waiting to be read; default 1000 (the tun default, 500, overflows under load). */
  txQueueLen?: number;
}

export interface TunDevice {
  /** The name the kernel gave the interface (differs from the requested one when it had `%d`). */
  readonly name: string;
  readonly fd: number;
  readonly kind: TunKind;
  readonly mtu: number;
  /** Reads one packet into `buf` (give it ≥ 65536 bytes: tun truncates what does not fit). Returns its length, 0 when none is queued. */
  read(buf: Uint8Array): number;
  /**
   * Writes one packet; false when the kernel dropped it (queue full, interface down, malformed
   * packet). A device that joins TCP segments (tun-gro.ts) may hold it until flush().
   */
  write(packet: Uint8Array): boolean;
  /** Writes what write() held; returns how many packets the kernel dropped since the last flush. */
  flush?(): number;
  /** Closes the fd, which removes the interface. Idempotent. Stop any reader first. */
  close(): void;
}

// <linux/if_tun.h>, <linux/sockios.h>; identical on x86-64 and arm64.
const TUNSETIFF = 0x400454ca;
const IFF_TUN = 0x0001;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;
const SIOCSIFMTU = 0x8922;
const SIOCSIFTXQLEN = 0x8943;
const IFNAMSIZ = 16;
const IFREQ_SIZE = 40;

const NEED_ROOT = "creating a tun/tap interface needs root or CAP_NET_ADMIN";
const DEFAULT_TXQUEUELEN = 1000;

/** A `struct ifreq` with the name set; the union member (flags/mtu/qlen) is at offset 16. */
function ifreq(name: string): Uint8Array {
  const ifr = new Uint8Array(new ArrayBuffer(IFREQ_SIZE));
  ifr.set(new TextEncoder().encode(name));
  return ifr;
}

function setInt(ifr: Uint8Array, value: number): void {
  new DataView(ifr.buffer).setInt32(IFNAMSIZ, value, true);
}

function validate(opts: TunOptions): void {
  const bytes = new TextEncoder().encode(opts.name).length;
  if (bytes > IFNAMSIZ - 1 || /[\s/:]/.test(opts.name)) {
    throw new Error(`invalid interface name "${opts.name}": at most ${IFNAMSIZ - 1} bytes, no spaces, "/" or ":"`);
  }
  if (opts.kind !== "tun" && opts.kind !== "tap") throw new Error(`invalid interface kind "${String(opts.kind)}": tun or tap`);
  if (!Number.isInteger(opts.mtu) || opts.mtu < 68 || opts.mtu > 65535) throw new Error(`invalid MTU ${opts.mtu}: 68…65535`);
  const q = opts.txQueueLen;
  if (q !== undefined && (!Number.isInteger(q) || q < 1 || q > 0x7fffffff)) throw new Error(`invalid txqueuelen ${q}`);
}

/** Sets an integer interface attribute (MTU, txqueuelen) through an AF_INET socket ioctl. */
function setIfInt(name: string, request: number, what: string, value: number): void {
  const s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC);
  try {
    const ifr = ifreq(name);
    setInt(ifr, value);
    ioctl(s, request, ifr, `${what} ${name} (${value})`);
  } finally {
    close(s);
  }
}

export function openTun(opts: TunOptions): TunDevice {
  if (process.platform !== "linux") throw new Error(`tun/tap devices are only supported on Linux (this is ${process.platform})`);
  validate(opts);

  let fd: number;
  try {
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    const hint = e.errno === Errno.ENOENT || e.errno === Errno.ENODEV || e.errno === Errno.ENXIO
      ? "the tun driver is missing: load it with `modprobe tun`, or in a container pass --device /dev/net/tun"
      : e.errno === Errno.EACCES || e.errno === Errno.EPERM ? NEED_ROOT : undefined;
    throw new SysError("open", e.errno, "/dev/net/tun", hint);
  }

  let name: string;
  try {
    const ifr = ifreq(opts.name);
    // tun: a virtio_net_hdr in front of each packet, so that joined TCP segments can be written
    // (tun-gro.ts); nothing is offloaded towards us (no TUNSETOFFLOAD), so reads stay single packets.
    const vnet = opts.kind === "tun" && process.env.MLVPN_TUN_GRO !== "off";
    new DataView(ifr.buffer).setUint16(IFNAMSIZ, (opts.kind === "tap" ? IFF_TAP : IFF_TUN) | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0), true);
    const sys = libc();
    if (sys.ioctl(fd, TUNSETIFF, ifr) < 0) {
      const e = errno();
      const hint = e === Errno.EPERM || e === Errno.EACCES ? NEED_ROOT
        : e === Errno.EBUSY ? "the interface is in use by another process"
        : e === Errno.EINVAL ? `an interface of that name exists and is not a ${opts.kind} device, or has other flags`
        : undefined;
      throw new SysError("ioctl", e, `TUNSETIFF ${opts.name}`, hint);
    }
    // The kernel writes back the name it chose (expanding %d).
    const end = ifr.indexOf(0);
    name = new TextDecoder().decode(ifr.subarray(0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end));
    setIfInt(name, SIOCSIFMTU, "SIOCSIFMTU", opts.mtu);
    setIfInt(name, SIOCSIFTXQLEN, "SIOCSIFTXQLEN", opts.txQueueLen ?? DEFAULT_TXQUEUELEN);
  } catch (e) {
    close(fd); // non-persistent: this also removes the half-configured interface
    throw e;
  }
  return new Tun(fd, name, opts.kind, opts.mtu, opts.kind === "tun" && process.env.MLVPN_TUN_GRO !== "off");
}

class Tun implements TunDevice {
  #fd: number;
  readonly #sys = libc();
  readonly #gro: TcpCoalescer | undefined;
  /** Two iovecs: the virtio_net_hdr, then the packet. */
  readonly #iov = new Uint32Array(new ArrayBuffer(32));
  readonly #iovAt = ptr(this.#iov) as number;
  /** The header read in front of each packet (not used: nothing is offloaded towards us). */
  readonly #readHdr = new Uint8Array(new ArrayBuffer(VNET_HDR));
  /** An all-zero header: a packet written as it is. */
  readonly #plainHdr = new Uint8Array(new ArrayBuffer(VNET_HDR));
  #drops = 0;
  #scheduled = false;
  readonly #flushLater = (): void => {
    this.#scheduled = false;
    this.#writeHeld();
  };

  constructor(fd: number, readonly name: string, readonly kind: TunKind, readonly mtu: number, vnet = false) {
    this.#fd = fd;
    if (vnet) this.#gro = new TcpCoalescer();
  }

  get fd(): number {
    return this.#fd;
  }

  read(buf: Uint8Array): number {
    const n = this.#gro ? this.#readv(buf) : this.#sys.read(this.#fd, buf, buf.length);
    if (n >= 0) return n;
    const e = errno();
    if (e === Errno.EAGAIN || e === Errno.EINTR) return 0;
    throw new SysError("read", e, this.name);
  }

  /** readv() of the header and the packet: the packet's length, or -1. */
  #readv(buf: Uint8Array): number {
    const iov = this.#iov;
    setIov(iov, 0, ptr(this.#readHdr) as number, VNET_HDR);
    setIov(iov, 4, ptr(buf) as number, buf.length);
    const n = this.#sys.readv(this.#fd, this.#iovAt as unknown as Pointer, 2);
    return n < 0 ? -1 : Math.max(0, n - VNET_HDR);
  }

  write(packet: Uint8Array): boolean {
    const gro = this.#gro;
    if (!gro) return this.#result(this.#sys.write(this.#fd, packet, packet.length));
    if (gro.add(packet)) return this.#held();
    if (gro.holding) {
      this.#writeHeld();
      if (gro.add(packet)) return this.#held();
    }
    setIov(this.#iov, 0, ptr(this.#plainHdr) as number, VNET_HDR);
    setIov(this.#iov, 4, ptr(packet) as number, packet.length);
    return this.#result(this.#sys.writev(this.#fd, this.#iovAt as unknown as Pointer, 2));
  }

  /** A packet joins the one being built: it is written by flush(), or before the event loop waits. */
  #held(): boolean {
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flushLater);
    }
    return true;
  }

  #writeHeld(): void {
    const gro = this.#gro;
    if (!gro || this.#fd < 0) return;
    const segments = gro.segmentsHeld;
    const p = gro.take();
    if (p && !this.#result(this.#sys.write(this.#fd, p, p.length))) this.#drops += segments;
  }

  flush(): number {
    this.#writeHeld();
    const d = this.#drops;
    this.#drops = 0;
    return d;
  }

  #result(r: number): boolean {
    if (r >= 0) return true;
    const e = errno();
    // Queue full / no memory: a drop, like any router's. EIO: the interface is down. EINVAL: the
    // kernel refused a malformed packet (e.g. shorter than an Ethernet header on tap); the peer
    // sent it, so it must not bring the VPN down.
    if (e === Errno.EAGAIN || e === Errno.ENOBUFS || e === Errno.EIO || e === Errno.EINVAL || e === Errno.EINTR) return false;
    throw new SysError("write", e, this.name);
  }

  close(): void {
    if (this.#fd < 0) return;
    this.#writeHeld();
    const fd = this.#fd;
    this.#fd = -1;
    close(fd);
  }
}

/** A struct iovec at word `w`: base (64-bit), length. */
function setIov(iov: Uint32Array, w: number, base: number, len: number): void {
  iov[w] = base >>> 0;
  iov[w + 1] = Math.floor(base / 0x1_0000_0000);
  iov[w + 2] = len;
  iov[w + 3] = 0;
}
