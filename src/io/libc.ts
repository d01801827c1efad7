/**
 * The few libc calls mlvpn needs that Bun has no API for (tun devices, ioctls, poll), through
 * `bun:ffi`. libc is loaded lazily on first use so that merely importing this module never fails
 * (e.g. on a platform without a Linux libc, where only the TUN layer is unusable).
 *
 * Wrappers throw a {@link SysError} whose message names the call and the errno text
 * (`open /dev/net/tun: No such file or directory`). The hot-path calls (`tryRead`/`tryWrite`) do
 * not throw: they return `-errno`, because EAGAIN ends every drain and exceptions are costly.
 *
 * Memory that native code keeps a pointer to beyond one call must be ArrayBuffer-backed
 * (`new Uint8Array(new ArrayBuffer(n))`): small `new Uint8Array(n)` storage lives in the GC heap
 * and can be relocated (docs/bun-runtime.md, "Memory shared with native code"). Pointers passed for the duration of a call are safe.
 */
import { dlopen, FFIType, read as peek, type Pointer } from "bun:ffi";

// Values shared by Linux x86-64 and arm64 (asm-generic); not valid for other OSes.
export const O_RDWR = 0o2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const F_DUPFD_CLOEXEC = 1030;
export const POLLIN = 0x1;
export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;
// epoll (tun-poll-worker.ts); the event bits match poll's.
export const EPOLL_CLOEXEC = 0o2000000;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EPOLLIN = 0x1;
export const EPOLLERR = 0x8;
export const EPOLLHUP = 0x10;
export const EPOLLONESHOT = 1 << 30;
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const CLOCK_MONOTONIC = 1;
export const SOL_SOCKET = 1;
export const IPPROTO_IP = 0;
export const IPPROTO_IPV6 = 41;

export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ERANGE: 34,
  ENOSYS: 38,
  EBADFD: 77,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EOPNOTSUPP: 95,
  EMSGSIZE: 90,
  EAFNOSUPPORT: 97,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ENOBUFS: 105,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
} as const;

const ERRNO_NAMES = new Map<number, string>(Object.entries(Errno).map(([name, code]) => [code, name]));
/** "ENETUNREACH" for 101…; "errno N" for a number not in Errno. */
export function errnoName(code: number): string {
  return ERRNO_NAMES.get(code) ?? `errno ${code}`;
}

/*
 * Signatures. `ioctl`/`fcntl`/`open` are variadic in C; calling them with a fixed signature is fine
 * on x86-64 and arm64 Linux because variadic integer/pointer arguments use the same registers.
 * size_t parameters are declared u64 (a 32-bit argument would leave the register's upper half
 * undefined); ssize_t results are read as i32, which is exact for values in ±2^31 (the callee
 * sets the whole register, we only read its low half) and avoids BigInt on the hot path.
 */
const SYMBOLS = {
  open: { args: [FFIType.ptr, FFIType.i32, FFIType.u32], returns: FFIType.i32 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  read: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
  write: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
  // A tun with a virtio_net_hdr in front of each packet (tun.ts).
  readv: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  writev: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
  fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.u64], returns: FFIType.i32 },
  poll: { args: [FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
  // The tun poll worker's wake-up (tun-reader.ts): poll() sleeps without a timeout.
  eventfd: { args: [FFIType.u32, FFIType.i32], returns: FFIType.i32 },
  // The tun poll worker's wait (one-shot registrations: one wake-up per readable event).
  epoll_create1: { args: [FFIType.i32], returns: FFIType.i32 },
  epoll_ctl: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  epoll_wait: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
  recvfrom: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  inet_pton: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  inet_ntop: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr, FFIType.u32], returns: FFIType.ptr },
  clock_gettime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  strerror: { args: [FFIType.i32], returns: FFIType.cstring },
  // Privilege drop (privileges.ts). uid_t and gid_t are 32-bit on Linux.
  getpwnam_r: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
  setgroups: { args: [FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
  setgid: { args: [FFIType.u32], returns: FFIType.i32 },
  setuid: { args: [FFIType.u32], returns: FFIType.i32 },
  getuid: { args: [], returns: FFIType.u32 },
  geteuid: { args: [], returns: FFIType.u32 },
  getgid: { args: [], returns: FFIType.u32 },
  getegid: { args: [], returns: FFIType.u32 },
  // Code pages left over from start-up are unmapped (cold-pages.ts). Addresses as u64.
  madvise: { args: [FFIType.u64, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
  // Start-up only: the runtime's settings are read from the environment before any code runs (runtime-env.ts).
  execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  // A link's bindinterface: its index tells that the interface is there, or was made again.
  if_nametoindex: { args: [FFIType.ptr], returns: FFIType.u32 },
  // errno is thread-local; glibc and musl both export this accessor.
  __errno_location: { args: [], returns: FFIType.ptr },
} as const;

type Lib = ReturnType<typeof dlopen<typeof SYMBOLS>>;
export type LibcSymbols = Lib["symbols"];

/** The C libraries tried, in order (MLVPN_LIBC overrides). */
export const LIBC_NAMES = ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"];

let lib: Lib | undefined;
let errnoPtr: Pointer | undefined;

/** Loads libc once per thread (each Worker has its own module instance and errno location). */
export function libc(): LibcSymbols {
  if (lib) return lib.symbols;
  const override = process.env.MLVPN_LIBC;
  const names = override ? [override] : LIBC_NAMES;
  const failures: string[] = [];
  for (const name of names) {
    try {
      lib = dlopen(name, SYMBOLS);
      break;
    } catch (e) {
      failures.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (!lib) {
    const hint = override ? "check MLVPN_LIBC" : "set MLVPN_LIBC to the path of the C library";
    throw new Error(`cannot load the C library (${failures.join("; ")}); ${hint}`);
  }
  const p = lib.symbols.__errno_location();
  if (typeof p !== "number") throw new Error("libc: __errno_location() returned no pointer");
  errnoPtr = p;
  return lib.symbols;
}

/** errno of the calling thread; read it right after the failing call. */
export function errno(): number {
  libc();
  return peek.i32(errnoPtr as Pointer, 0);
}

export function strerror(code: number): string {
  return libc().strerror(code) ?? `errno ${code}`;
}

/** A failed libc call: `call` and `subject` name what failed, `errno` is the C error number. */
export class SysError extends Error {
  readonly call: string;
  readonly errno: number;
  constructor(call: string, code: number, subject?: string, hint?: string) {
    super(`${call}${subject ? ` ${subject}` : ""}: ${strerror(code)}${hint ? ` (${hint})` : ""}`);
    this.name = "SysError";
    this.call = call;
    this.errno = code;
  }
}

/** A NUL-terminated copy of `s` for a `const char *` argument. */
function cstr(s: string): Uint8Array {
  return new TextEncoder().encode(`${s}\0`);
}

export function open(path: string, flags: number, mode = 0): number {
  const fd = libc().open(cstr(path), flags, mode);
  if (fd < 0) throw new SysError("open", errno(), path);
  return fd;
}

export function close(fd: number): void {
  if (libc().close(fd) < 0) throw new SysError("close", errno());
}

/** `ioctl(fd, request, arg)`; `what` names the request and object in the error message. */
export function ioctl(fd: number, request: number, arg: Uint8Array, what: string): number {
  const r = libc().ioctl(fd, request, arg);
  if (r < 0) throw new SysError("ioctl", errno(), what);
  return r;
}

export function fcntl(fd: number, cmd: number, arg = 0): number {
  const r = libc().fcntl(fd, cmd, arg);
  if (r < 0) throw new SysError("fcntl", errno());
  return r;
}

/** `poll()` on `nfds` 8-byte `struct pollfd`s; an interrupted call counts as a timeout (0). */
export function poll(fds: Uint8Array, nfds: number, timeoutMs: number): number {
  const r = libc().poll(fds, nfds, timeoutMs);
  if (r >= 0) return r;
  const e = errno();
  if (e === Errno.EINTR) return 0;
  throw new SysError("poll", e);
}

export function socket(domain: number, type: number, protocol = 0): number {
  const fd = libc().socket(domain, type, protocol);
  if (fd < 0) throw new SysError("socket", errno());
  return fd;
}

/** `setsockopt`; a number value is passed as a C `int`. */
export function setsockopt(fd: number, level: number, name: number, value: Uint8Array | number, what = `option ${name}`): void {
  const v = typeof value === "number" ? new Uint8Array(new Int32Array([value]).buffer) : value;
  if (libc().setsockopt(fd, level, name, v, v.length) < 0) throw new SysError("setsockopt", errno(), what);
}

/** The interface's index in this network namespace, or 0 when there is no such interface. */
export function ifNameToIndex(name: string): number {
  return libc().if_nametoindex(cstr(name));
}

/** `read()` without throwing: bytes read (≥ 0), or `-errno`. */
export function tryRead(fd: number, buf: Uint8Array, len = buf.length): number {
  const n = libc().read(fd, buf, len);
  return n >= 0 ? n : -errno();
}

/** `write()` without throwing: bytes written (≥ 0), or `-errno`. */
export function tryWrite(fd: number, buf: Uint8Array, len = buf.length): number {
  const n = libc().write(fd, buf, len);
  return n >= 0 ? n : -errno();
}

/** `bind()` to a raw socket address (e.g. a `struct sockaddr_un`). */
export function bind(fd: number, address: Uint8Array, what: string): void {
  if (libc().bind(fd, address, address.length) < 0) throw new SysError("bind", errno(), what);
}

/** `sendto()` without throwing: bytes sent (≥ 0), or `-errno`. */
export function trySendTo(fd: number, buf: Uint8Array, address: Uint8Array): number {
  const n = libc().sendto(fd, buf, buf.length, 0, address, address.length);
  return n >= 0 ? n : -errno();
}

/** `recv()` without throwing: bytes received (≥ 0), or `-errno`. */
export function tryRecv(fd: number, buf: Uint8Array): number {
  const n = libc().recv(fd, buf, buf.length, 0);
  return n >= 0 ? n : -errno();
}

/** CLOCK_MONOTONIC in microseconds: the clock systemd's MONOTONIC_USEC refers to. */
export function monotonicMicros(): bigint {
  const ts = new BigInt64Array(2); // struct timespec on 64-bit Linux: tv_sec, tv_nsec
  if (libc().clock_gettime(CLOCK_MONOTONIC, new Uint8Array(ts.buffer)) < 0) throw new SysError("clock_gettime", errno());
  return ts[0]! * 1_000_000n + ts[1]! / 1000n;
}
