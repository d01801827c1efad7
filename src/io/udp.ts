/**
 * One UDP socket per link (Bun.udpSocket), bound to the link's bindhost/bindport when given.
 * Bun receives; we send with FFI sendto() on the socket's fd, to a socket address built once per
 * peer: Bun's send() parses the address string on every datagram and costs ~1 µs more per packet
 * (docs/performance.md). Where the fd or the address cannot be used that way (no fd, a scoped
 * IPv6 address) Bun's send() does it. Sending never throws: errors (ICMP ones included, which Bun
 * turns into exceptions: bun-io.md §2, pitfall 3) come back as an error code for the caller.
 */
import { AF_INET, AF_INET6, errno, errnoName, Errno, libc, setsockopt, SOL_SOCKET } from "./libc.ts";

const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
/** Without larger buffers the receiver dropped ~7 % at full rate (bun-io.md §4). */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

export interface LinkSocket {
  /** Sends a datagram; returns undefined on success, else an error code (ENETUNREACH, EAGAIN…). */
  send(bytes: Uint8Array, address: string, port: number): string | undefined;
  readonly localAddress: string;
  readonly localPort: number;
  close(): void;
}

export interface OpenOptions {
  hostname: string;
  port: number;
  onDatagram(bytes: Uint8Array, address: string, port: number): void;
}

function enlargeBuffers(fd: number): void {
  for (const [force, plain] of [
    [SO_RCVBUFFORCE, SO_RCVBUF],
    [SO_SNDBUFFORCE, SO_SNDBUF],
  ] as const) {
    try {
      setsockopt(fd, SOL_SOCKET, force, SOCKET_BUFFER_BYTES);
    } catch {
      // Not root (or no CAP_NET_ADMIN): the plain option is capped by net.core.*mem_max.
      try {
        setsockopt(fd, SOL_SOCKET, plain, SOCKET_BUFFER_BYTES);
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
  readonly sockaddr = new Uint8Array(new ArrayBuffer(28));
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

function cstr(s: string): Uint8Array {
  return new TextEncoder().encode(`${s}\0`);
}

export async function openLinkSocket(opts: OpenOptions): Promise<LinkSocket> {
  const onDatagram = opts.onDatagram;
  const sock = await Bun.udpSocket({
    hostname: opts.hostname,
    port: opts.port,
    binaryType: "uint8array",
    socket: {
      data(_s, data, port, address) {
        onDatagram(data, address, port);
      },
      // ICMP errors also arrive here; send() reports them to the caller as well.
      error() {},
    },
  });
  const fd = (sock as unknown as { fd?: number }).fd;
  const hasFd = typeof fd === "number" && fd >= 0;
  if (hasFd) enlargeBuffers(fd);
  const sys = libc();
  const dest = new Destination(sock.address.family === "IPv6");
  const bunSend = (bytes: Uint8Array, address: string, port: number): string | undefined => {
    try {
      return sock.send(bytes, port, address) ? undefined : "EAGAIN";
    } catch (e) {
      return (e as { code?: string }).code ?? (e as Error).message;
    }
  };
  return {
    localAddress: sock.address.address,
    localPort: sock.address.port,
    send(bytes, address, port) {
      if (!hasFd || !dest.set(address, port)) return bunSend(bytes, address, port);
      if (sys.sendto(fd, bytes, bytes.length, 0, dest.sockaddr, dest.length) >= 0) return undefined;
      const e = errno();
      return e === Errno.EINTR ? bunSend(bytes, address, port) : errnoName(e);
    },
    close() {
      sock.close();
    },
  };
}
