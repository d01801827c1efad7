/**
 * One UDP socket per link, bound to the link's bindhost/bindport when given, and to its
 * bindinterface with SO_BINDTODEVICE (on the socket's fd, which Bun exposes).
 *
 * Bun.udpSocket binds it (name resolution, dual stack, the error messages users see); then we
 * take the socket over: a duplicate of its fd stays with us and Bun's handle is closed, so Bun
 * no longer reads it. Datagrams are read with FFI recvfrom() when the shell's poll loop
 * (tun-reader.ts) finds the socket readable, straight into large receive slabs (no allocation
 * but one view per datagram, the source address decoded only when it changes), and sent with
 * FFI sendto() to a socket address built once per peer. Bun's per-datagram callback and its
 * send() (which parses the address string every time) cost ~1.5 µs and ~1 µs more per packet
 * (docs/performance.md). Where the fd is not available, Bun's own receive and send are used.
 *
 * Sending never throws: errors come back as an error code for the caller. (Bun enables
 * IP_RECVERR, which makes ICMP errors throw from its send() (docs/bun-runtime.md, "UDP sockets"); on the
 * socket we keep it is turned off, so that an unread error queue cannot keep poll() awake.)
 */
import { type Pointer, ptr } from "bun:ffi";
import { AF_INET, AF_INET6, errno, errnoName, Errno, F_DUPFD_CLOEXEC, IPPROTO_IP, IPPROTO_IPV6, libc, setsockopt, SOL_SOCKET, type SysError } from "./libc.ts";

const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_BINDTODEVICE = 25;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
const IP_RECVERR = 11;
const IPV6_RECVERR = 25;
/** Without larger buffers the receiver dropped ~7 % at full rate (docs/bun-runtime.md, "UDP sockets"). */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
/** Datagrams are received into slabs this large; each datagram is a view into one. */
const SLAB_BYTES = 1 << 20;
/** Room left for the next datagram (the largest UDP payload fits). */
const MAX_DATAGRAM = 65536;
const SOCKADDR_BYTES = 28;

export interface LinkSocket {
  /** Sends a datagram; returns undefined on success, else an error code (ENETUNREACH, EAGAIN…). */
  send(bytes: Uint8Array, address: string, port: number): string | undefined;
  /** The fd to poll for incoming datagrams, or -1 when Bun delivers them itself. */
  readonly fd: number;
  /** Reads up to `max` waiting datagrams, each to onDatagram; returns how many. */
  drain(max: number): number;
  readonly localAddress: string;
  readonly localPort: number;
  close(): void;
}

export interface OpenOptions {
  hostname: string;
  port: number;
  /**
   * A datagram, in a buffer of its own (the receiver may modify it and keep views into it), and
   * its source, valid during the call only.
   */
  /** Network interface to bind to (SO_BINDTODEVICE); the socket is closed and the error thrown if that fails. */
  device?: string;
  /** SO_RCVBUF/SO_SNDBUF in bytes (the link's socket_buffer); SOCKET_BUFFER_BYTES when unset. */
  bufferBytes?: number;
  onDatagram(bytes: Uint8Array, address: string, port: number): void;
  /** After datagrams that Bun delivered itself (when the socket is not polled: fd = -1). */
  afterDatagrams(): void;
}

function setBuffers(fd: number, bytes: number): void {
  for (const [force, plain] of [
    [SO_RCVBUFFORCE, SO_RCVBUF],
    [SO_SNDBUFFORCE, SO_SNDBUF],
  ] as const) {
    try {
      setsockopt(fd, SOL_SOCKET, force, bytes);
    } catch {
      // Not root (or no CAP_NET_ADMIN): the plain option is capped by net.core.*mem_max.
      try {
        setsockopt(fd, SOL_SOCKET, plain, bytes);
      } catch {}
    }
  }
}

/** A `struct sockaddr_in`/`sockaddr_in6` for the socket's family, kept for the last peer sent to. */
class Destination {
  private address = "";
  private port = -1;
  /** Bytes of the sockaddr, or 0 when the last address could not be converted. */
  length = 0;
  readonly sockaddr = new Uint8Array(new ArrayBuffer(SOCKADDR_BYTES));
  private readonly raw = new Uint8Array(new ArrayBuffer(16));

  constructor(private readonly ipv6: boolean) {}

  /** Points at (address, port); false when it cannot be expressed for this socket. */
  set(address: string, port: number): boolean {
    if (address === this.address && port === this.port) return this.length > 0;
    this.address = address;
    this.port = port;
    this.length = this.build(address, port);
    return this.length > 0;
  }

  private build(address: string, port: number): number {
    const sys = libc();
    const sa = this.sockaddr;
    sa.fill(0);
    const v6 = address.includes(":");
    if (!this.ipv6) {
      if (v6 || sys.inet_pton(AF_INET, cstr(address), this.raw) !== 1) return 0;
      sa[0] = AF_INET; // sa_family, little-endian u16
      sa[2] = port >>> 8;
      sa[3] = port & 0xff;
      sa.set(this.raw.subarray(0, 4), 4);
      return 16;
    }
    // An IPv6 socket reaches IPv4 peers through mapped addresses (::ffff:a.b.c.d).
    if (sys.inet_pton(AF_INET6, cstr(v6 ? address : `::ffff:${address}`), this.raw) !== 1) return 0;
    sa[0] = AF_INET6;
    sa[2] = port >>> 8;
    sa[3] = port & 0xff;
    sa.set(this.raw, 8);
    return 28;
  }
}

/** The source of received datagrams: decoded to text only when it differs from the last one. */
class Source {
  readonly sockaddr = new Uint8Array(new ArrayBuffer(SOCKADDR_BYTES));
  readonly length = new Uint32Array(new ArrayBuffer(4));
  private readonly last = new Uint8Array(SOCKADDR_BYTES);
  private readonly text = new Uint8Array(new ArrayBuffer(64));
  address = "";
  port = 0;

  /** Call after recvfrom() filled `sockaddr`. */
  update(): void {
    const sa = this.sockaddr;
    let same = this.address !== "";
    for (let i = 0; i < SOCKADDR_BYTES && same; i++) same = sa[i] === this.last[i];
    if (same) return;
    this.last.set(sa);
    const family = sa[0]! | (sa[1]! << 8);
    this.port = (sa[2]! << 8) | sa[3]!;
    this.text.fill(0);
    const v6 = family === AF_INET6;
    libc().inet_ntop(v6 ? AF_INET6 : AF_INET, sa.subarray(v6 ? 8 : 4), this.text, this.text.length);
    const end = this.text.indexOf(0);
    this.address = decoder.decode(this.text.subarray(0, end < 0 ? this.text.length : end));
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function cstr(s: string): Uint8Array {
  return encoder.encode(`${s}\0`);
}

/**
 * SO_BINDTODEVICE: packets leave through `device` only, with its current address as source (for
 * a socket bound to the wildcard address). Throws an error whose `code` is the errno name
 * (ENODEV: no such interface now).
 */
function bindToDevice(fd: number, device: string): void {
  try {
    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, cstr(device), `SO_BINDTODEVICE ${device}`);
  } catch (e) {
    const errno = (e as SysError).errno;
    const code = errno === Errno.ENODEV ? "ENODEV" : errno === Errno.EPERM ? "EPERM" : `errno ${errno}`;
    throw Object.assign(new Error(`cannot bind to interface ${device}: ${(e as Error).message}`), { code });
  }
}

export async function openLinkSocket(opts: OpenOptions): Promise<LinkSocket> {
  const { onDatagram, afterDatagrams } = opts;
  const sock = await Bun.udpSocket({
    hostname: opts.hostname,
    port: opts.port,
    binaryType: "uint8array",
    socket: {
      data(_s, data, port, address) {
        onDatagram(data, address, port);
        afterDatagrams();
      },
      // ICMP errors also arrive here; send() reports them to the caller as well.
      error() {},
    },
  });
  const localAddress = sock.address.address;
  const localPort = sock.address.port;
  const ipv6 = sock.address.family === "IPv6";
  const sys = libc();
  const bunFd = (sock as unknown as { fd?: number }).fd;
  if (opts.device !== undefined) {
    // On the socket itself (shared by the duplicate below): packets leave through the device only.
    try {
      if (typeof bunFd !== "number" || bunFd < 0) throw Object.assign(new Error("this Bun does not expose the UDP socket's fd"), { code: "ENOTSUP" });
      bindToDevice(bunFd, opts.device);
    } catch (e) {
      sock.close();
      throw e;
    }
  }
  const fd = typeof bunFd === "number" && bunFd >= 0 ? sys.fcntl(bunFd, F_DUPFD_CLOEXEC, 0) : -1;
  if (fd < 0) return bunSocket(sock, bunFd, opts.bufferBytes ?? SOCKET_BUFFER_BYTES);
  sock.close(); // Bun stops reading; the socket lives on in our fd
  try {
    setsockopt(fd, ipv6 ? IPPROTO_IPV6 : IPPROTO_IP, ipv6 ? IPV6_RECVERR : IP_RECVERR, 0);
  } catch {}
  setBuffers(fd, opts.bufferBytes ?? SOCKET_BUFFER_BYTES);

  const dest = new Destination(ipv6);
  const src = new Source();
  let slab = new Uint8Array(new ArrayBuffer(SLAB_BYTES));
  let slabAt = ptr(slab) as number;
  let used = 0;
  let closed = false;
  return {
    fd,
    localAddress,
    localPort,
    send(bytes, address, port) {
      if (!dest.set(address, port)) return `cannot send to ${address} from an IPv${ipv6 ? 6 : 4} socket`;
      if (sys.sendto(fd, bytes, bytes.length, 0, dest.sockaddr, dest.length) >= 0) return undefined;
      const e = errno();
      // Interrupted: once more (a signal, nothing to do with the path).
      if (e === Errno.EINTR && sys.sendto(fd, bytes, bytes.length, 0, dest.sockaddr, dest.length) >= 0) return undefined;
      return errnoName(e);
    },
    drain(max) {
      let n = 0;
      while (n < max && !closed) {
        if (SLAB_BYTES - used < MAX_DATAGRAM) {
          // Views of earlier datagrams keep the old slab alive as long as they are held.
          slab = new Uint8Array(new ArrayBuffer(SLAB_BYTES));
          slabAt = ptr(slab) as number;
          used = 0;
        }
        src.length[0] = SOCKADDR_BYTES;
        const len = sys.recvfrom(fd, (slabAt + used) as Pointer, MAX_DATAGRAM, 0, src.sockaddr, src.length);
        if (len < 0) {
          const e = errno();
          if (e === Errno.EINTR) continue;
          break; // EAGAIN: nothing more; anything else: the next poll tells
        }
        const bytes = slab.subarray(used, used + len);
        used += (len + 7) & ~7;
        src.update();
        n++;
        onDatagram(bytes, src.address, src.port);
      }
      return n;
    },
    close() {
      if (closed) return;
      closed = true;
      sys.close(fd);
    },
  };
}

interface BunUdp {
  readonly address: { address: string; port: number };
  send(bytes: Uint8Array, port: number, address: string): boolean;
  close(): void;
}

/** Bun's own socket, when its fd cannot be taken over. */
function bunSocket(sock: BunUdp, fd: number | undefined, bufferBytes: number): LinkSocket {
  if (typeof fd === "number" && fd >= 0) setBuffers(fd, bufferBytes);
  return {
    fd: -1,
    localAddress: sock.address.address,
    localPort: sock.address.port,
    send(bytes, address, port) {
      try {
        return sock.send(bytes, port, address) ? undefined : "EAGAIN";
      } catch (e) {
        return (e as { code?: string }).code ?? (e as Error).message;
      }
    },
    drain: () => 0,
    close() {
      sock.close();
    },
  };
}
