/**
 * Linux TUN/TAP devices through /dev/net/tun (FFI; Bun has no API for them, and its stream/socket
 * wrappers misbehave on a tun fd, docs/bun-runtime.md, "Reading the tun device"). The fd is non-blocking: reads are driven by
 * tun-reader.ts, writes are one synchronous syscall per packet (tun cannot batch writes).
 *
 * openTun() only creates the interface and sets MTU and txqueuelen; bringing it up and assigning
 * addresses is left to the user's status script, as in MLVPN. The interface is not persistent:
 * it disappears when the fd is closed (or the process exits).
 */
import {
  AF_INET, close, Errno, ioctl, libc, O_CLOEXEC, O_NONBLOCK, O_RDWR, open, SOCK_CLOEXEC, SOCK_DGRAM, socket,
  SysError, errno,
} from "./libc.ts";

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
  /** Writes one packet; false when the kernel dropped it (queue full, interface down, malformed packet). */
  write(packet: Uint8Array): boolean;
  /** Closes the fd, which removes the interface. Idempotent. Stop any reader first. */
  close(): void;
}

// <linux/if_tun.h>, <linux/sockios.h>; identical on x86-64 and arm64.
const TUNSETIFF = 0x400454ca;
const IFF_TUN = 0x0001;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
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
    new DataView(ifr.buffer).setUint16(IFNAMSIZ, (opts.kind === "tap" ? IFF_TAP : IFF_TUN) | IFF_NO_PI, true);
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
  return new Tun(fd, name, opts.kind, opts.mtu);
}

class Tun implements TunDevice {
  #fd: number;
  readonly #sys = libc();

  constructor(fd: number, readonly name: string, readonly kind: TunKind, readonly mtu: number) {
    this.#fd = fd;
  }

  get fd(): number {
    return this.#fd;
  }

  read(buf: Uint8Array): number {
    const n = this.#sys.read(this.#fd, buf, buf.length);
    if (n >= 0) return n;
    const e = errno();
    if (e === Errno.EAGAIN || e === Errno.EINTR) return 0;
    throw new SysError("read", e, this.name);
  }

  write(packet: Uint8Array): boolean {
    if (this.#sys.write(this.#fd, packet, packet.length) >= 0) return true;
    const e = errno();
    // Queue full / no memory: a drop, like any router's. EIO: the interface is down. EINVAL: the
    // kernel refused a malformed packet (e.g. shorter than an Ethernet header on tap); the peer
    // sent it, so it must not bring the VPN down.
    if (e === Errno.EAGAIN || e === Errno.ENOBUFS || e === Errno.EIO || e === Errno.EINVAL || e === Errno.EINTR) return false;
    throw new SysError("write", e, this.name);
  }

  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    close(fd);
  }
}
