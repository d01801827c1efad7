/**
 * Unix datagram sockets, which Bun has no API for, through libc: mlvpn sends to syslog's
 * `/dev/log` and to systemd's `$NOTIFY_SOCKET` with them. Non-blocking and close-on-exec, so a
 * full receiver never stalls the event loop and status scripts do not inherit the socket.
 */
import { AF_UNIX, bind, close, Errno, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, socket, strerror, tryRecv, trySendTo } from "./libc.ts";

/** sizeof(struct sockaddr_un.sun_path) on Linux. */
const SUN_PATH_MAX = 108;
/** sun_path follows the 2-byte sa_family_t. */
const SUN_PATH_OFFSET = 2;

/**
 * A `struct sockaddr_un` for `path`. A leading `@` names an abstract socket (Linux): the name
 * starts with a NUL byte and has no terminator, as systemd writes `$NOTIFY_SOCKET`.
 */
export function unixAddress(path: string): Uint8Array {
  const abstract = path.startsWith("@");
  const name = new TextEncoder().encode(abstract ? path.slice(1) : path);
  const pathBytes = name.length + 1; // the leading NUL (abstract) or the terminator (path)
  if (path.length === 0 || pathBytes > SUN_PATH_MAX) throw new Error(`invalid unix socket address ${JSON.stringify(path)} (1 to ${SUN_PATH_MAX - 1} bytes)`);
  const addr = new Uint8Array(SUN_PATH_OFFSET + pathBytes);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true); // sa_family_t is host order (little-endian targets)
  addr.set(name, SUN_PATH_OFFSET + (abstract ? 1 : 0));
  return addr;
}

export class UnixDatagramSocket {
  private constructor(private fd: number) {}

  /** An unbound socket, for sending. Throws a SysError if the kernel refuses one. */
  static open(): UnixDatagramSocket {
    return new UnixDatagramSocket(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK));
  }

  /** A socket bound to `path` (a receiver: a syslog daemon, a service manager, a test). */
  static bound(path: string): UnixDatagramSocket {
    const s = UnixDatagramSocket.open();
    try {
      bind(s.fd, unixAddress(path), path);
    } catch (e) {
      s.close();
      throw e;
    }
    return s;
  }

  /** Sends one datagram: 0, or the errno of the failure (never throws; strerror() names it). */
  send(data: Uint8Array, address: Uint8Array): number {
    if (this.fd < 0) return Errno.EBADF;
    const n = trySendTo(this.fd, data, address);
    return n >= 0 ? 0 : -n;
  }

  /** One waiting datagram, or undefined when there is none (non-blocking). */
  receive(max = 65536): Uint8Array | undefined {
    const buf = new Uint8Array(max);
    const n = this.fd < 0 ? -Errno.EBADF : tryRecv(this.fd, buf);
    if (n === -Errno.EAGAIN) return undefined;
    if (n < 0) throw new Error(`recv: ${strerror(-n)}`);
    return buf.subarray(0, n);
  }

  close(): void {
    if (this.fd < 0) return;
    close(this.fd);
    this.fd = -1;
  }
}
