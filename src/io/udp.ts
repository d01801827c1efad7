/**
 * One UDP socket per link (Bun.udpSocket), bound to the link's bindhost/bindport when given, and
 * to its bindinterface with SO_BINDTODEVICE (on the socket's fd, which Bun exposes).
 * Sending never throws: Bun reports ICMP errors as synchronous exceptions from send()
 * (bun-io.md §2, pitfall 3), which we turn into an error code for the caller.
 */
import { Errno, type SysError, setsockopt, SOL_SOCKET } from "./libc.ts";

const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_BINDTODEVICE = 25;
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
  /** Network interface to bind to (SO_BINDTODEVICE); the socket is closed and the error thrown if that fails. */
  device?: string;
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

/**
 * SO_BINDTODEVICE: packets leave through `device` only, with its current address as source (for
 * a socket bound to the wildcard address). Throws an error whose `code` is the errno name
 * (ENODEV: no such interface now).
 */
function bindToDevice(fd: number, device: string): void {
  try {
    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, new TextEncoder().encode(`${device}\0`), `SO_BINDTODEVICE ${device}`);
  } catch (e) {
    const errno = (e as SysError).errno;
    const code = errno === Errno.ENODEV ? "ENODEV" : errno === Errno.EPERM ? "EPERM" : `errno ${errno}`;
    throw Object.assign(new Error(`cannot bind to interface ${device}: ${(e as Error).message}`), { code });
  }
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
  if (typeof fd === "number" && fd >= 0) enlargeBuffers(fd);
  if (opts.device !== undefined) {
    try {
      if (typeof fd !== "number" || fd < 0) throw Object.assign(new Error("this Bun does not expose the UDP socket's fd"), { code: "ENOTSUP" });
      bindToDevice(fd, opts.device);
    } catch (e) {
      sock.close();
      throw e;
    }
  }
  return {
    localAddress: sock.address.address,
    localPort: sock.address.port,
    send(bytes, address, port) {
      try {
        return sock.send(bytes, port, address) ? undefined : "EAGAIN";
      } catch (e) {
        return (e as { code?: string }).code ?? (e as Error).message;
      }
    },
    close() {
      sock.close();
    },
  };
}
