/**
 * One UDP socket per link, bound to the link's bindhost/bindport when given, and to its
 * bindinterface with SO_BINDTODEVICE (on the socket's fd, which Bun exposes).
 *
 * Bun.udpSocket binds it (name resolution, dual stack, the error messages users see); then we
 * take the socket over: a duplicate of its fd stays with us and Bun's handle is closed, so Bun
 * no longer reads it. Datagrams are read with FFI recvmmsg() (many per call) when the shell's
 * poll loop (tun-reader.ts) finds the socket readable, straight into large receive slabs (no
 * allocation but one view per datagram, the source address decoded only when it changes), and
 * queued during a batch of input then sent together with FFI sendmmsg() (src/io/mmsg.ts), to
 * socket addresses built once per peer; send() sends one at once with sendto(). Bun's
 * per-datagram callback and its send() (which parses the address string every time) cost
 * ~1.5 µs and ~1 µs more per packet (docs/performance.md). Where the fd is not available, Bun's
 * own receive and send are used; without sendmmsg/recvmmsg, sendto() and recvfrom().
 *
 * Sending never throws: errors come back as an error code for the caller. (Bun enables
 * IP_RECVERR, which makes ICMP errors throw from its send() (docs/bun-runtime.md, "UDP sockets"); on the
 * socket we keep it is turned off, so that an unread error queue cannot keep poll() awake.)
 */
import { ptr } from "bun:ffi";
import { AF_INET, AF_INET6, errnoName, Errno, F_DUPFD_CLOEXEC, IPPROTO_IP, IPPROTO_IPV6, libc, setsockopt, SOL_SOCKET, type SysError } from "./libc.ts";
import { SendBatch, SOCKADDR_BYTES, type Syscalls, systemSyscalls } from "./mmsg.ts";
import { RecvBatch } from "./mmsg-recv.ts";

const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_BINDTODEVICE = 25;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
const IP_RECVERR = 11;
const SOL_UDP = 17;
const UDP_SEGMENT = 103;
const IPV6_RECVERR = 25;
/** Without larger buffers the receiver dropped ~7 % at full rate (docs/bun-runtime.md, "UDP sockets"). */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

export interface LinkSocket {
  /** Sends a datagram; returns undefined on success, else an error code (ENETUNREACH, EAGAIN…). */
  send(bytes: Uint8Array, address: string, port: number): string | undefined;
  /**
   * Queues a datagram to be sent with the others at the next flush() (or before the event loop
   * waits); returns an error code at once only when the address cannot be used. Failures of the
   * send itself go to onSendError. Absent: send() at once.
   */
  queue?(bytes: Uint8Array, address: string, port: number): string | undefined;
  /** Sends what is queued (in order); each failure goes to onSendError. */
  flush?(): void;
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
  /** A queued datagram could not be sent: the errno name (ENETUNREACH, EAGAIN…), as send() returns it. */
  onSendError?(error: string): void;
  /** Tests: the system calls (a stand-in that fails on purpose); libc's by default. */
  syscalls?: { sys: Syscalls; batching: boolean; segmentation?: boolean };
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

/**
 * Whether runs of equal datagrams may share one send (UDP_SEGMENT, Linux ≥ 4.18): the option is
 * known when setting it to 0 (no default segment size) succeeds. MLVPN_GSO=off turns it off.
 */
function segmentationOffload(fd: number): boolean {
  if (process.env.MLVPN_GSO === "off") return false;
  try {
    setsockopt(fd, SOL_UDP, UDP_SEGMENT, 0);
    return true;
  } catch {
    return false;
  }
}

/** A `struct sockaddr_in`/`sockaddr_in6` for the socket's family, kept for the last peer sent to. */
class Destination {
  private address = "";
  private port = -1;
  /** Bytes of the sockaddr, or 0 when the last address could not be converted. */
  length = 0;
  /** Changes with the sockaddr. */
  generation = 0;
  readonly sockaddr = new Uint8Array(new ArrayBuffer(SOCKADDR_BYTES));
  private readonly raw = new Uint8Array(new ArrayBuffer(16));

  constructor(private readonly ipv6: boolean) {}

  /** Points at (address, port); false when it cannot be expressed for this socket. */
  set(address: string, port: number): boolean {
    if (address === this.address && port === this.port) return this.length > 0;
    this.address = address;
    this.port = port;
    this.generation++;
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

const encoder = new TextEncoder();

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
  const destAt = ptr(dest.sockaddr) as number;
  const { sys: calls, batching } = opts.syscalls ?? systemSyscalls();
  const onSendError = opts.onSendError ?? (() => {});
  const out = new SendBatch(fd, calls, onSendError, batching, batching && (opts.syscalls?.segmentation ?? true) && segmentationOffload(fd));
  const input = new RecvBatch(fd, calls, onDatagram, batching);
  const unusable = (address: string) => `cannot send to ${address} from an IPv${ipv6 ? 6 : 4} socket`;
  const socket: LinkSocket = {
    fd,
    localAddress,
    localPort,
    send(bytes, address, port) {
      out.flush(); // what was queued leaves first
      if (!dest.set(address, port)) return unusable(address);
      const at = ptr(bytes) as number;
      if (calls.sendto(fd, at, bytes.length, 0, destAt, dest.length) >= 0) return undefined;
      const e = calls.errno();
      // Interrupted: once more (a signal, nothing to do with the path).
      if (e === Errno.EINTR && calls.sendto(fd, at, bytes.length, 0, destAt, dest.length) >= 0) return undefined;
      return errnoName(e);
    },
    drain: (max) => input.drain(max),
    close() {
      if (out.closed) return;
      out.flush(); // queued datagrams leave as they would have with one sendto() each
      out.closed = true;
      input.closed = true;
      sys.close(fd);
    },
  };
  if (batching) {
    socket.queue = (bytes, address, port) => {
      if (!dest.set(address, port)) return unusable(address);
      out.queue(bytes, dest);
      return undefined;
    };
    socket.flush = () => out.flush();
  }
  return socket;
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
