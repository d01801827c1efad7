/**
 * `struct epoll_event` for bun:ffi. Its layout is not the same on every 64-bit Linux: the kernel
 * declares it packed on x86-64 (`__EPOLL_PACKED`: u32 events, then the u64 data at offset 4, 12
 * bytes), naturally aligned elsewhere, arm64 included (data at offset 8, 16 bytes). An array of
 * them filled by epoll_wait() uses the same stride, so a wrong layout would read every event
 * after the first from the wrong place.
 *
 * The data word carries an fd here: written as a u64 (high half 0), read back as its low u32
 * (both targets are little-endian).
 */
import { EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, Errno, errno, libc, SysError } from "./libc.ts";

export interface EpollEventLayout {
  /** Bytes per struct (the stride of an array). */
  size: number;
  /** Offset of the 64-bit data field. */
  dataOffset: number;
}

/** The layout for `arch` (process.arch's names). */
export function epollEventLayout(arch: string = process.arch): EpollEventLayout {
  return arch === "x64" ? { size: 12, dataOffset: 4 } : { size: 16, dataOffset: 8 };
}

/** Writes event `i` of an array: `events` and an fd as its data. */
export function writeEpollEvent(view: DataView, i: number, layout: EpollEventLayout, events: number, fd: number): void {
  const at = i * layout.size;
  view.setUint32(at, events >>> 0, true);
  view.setUint32(at + layout.dataOffset, fd >>> 0, true);
  view.setUint32(at + layout.dataOffset + 4, 0, true);
}

/** Event `i`'s bits. */
export function epollEvents(view: DataView, i: number, layout: EpollEventLayout): number {
  return view.getUint32(i * layout.size, true);
}

/** Event `i`'s data, as the fd it was written with. */
export function epollFd(view: DataView, i: number, layout: EpollEventLayout): number {
  return view.getInt32(i * layout.size + layout.dataOffset, true);
}

/**
 * One epoll_ctl() with a preallocated event (no allocation per call). ADD of an fd already there
 * becomes MOD; DEL of one no longer there (closed: the kernel drops it by itself) is not an error.
 */
export class EpollControl {
  private readonly layout = epollEventLayout();
  private readonly ev = new Uint8Array(new ArrayBuffer(16));
  private readonly view = new DataView(this.ev.buffer);

  constructor(readonly epfd: number) {}

  /** Returns 0, or -errno for a MOD (the caller decides: a closed fd is not fatal on the hot path). */
  ctl(op: number, fd: number, events: number): number {
    writeEpollEvent(this.view, 0, this.layout, events, fd);
    if (libc().epoll_ctl(this.epfd, op, fd, this.ev) === 0) return 0;
    const e = errno();
    if (op === EPOLL_CTL_ADD && e === Errno.EEXIST) return this.ctl(EPOLL_CTL_MOD, fd, events);
    if (op === EPOLL_CTL_DEL && (e === Errno.ENOENT || e === Errno.EBADF)) return 0;
    if (op === EPOLL_CTL_MOD) return -e;
    throw new SysError("epoll_ctl", e, `fd ${fd}`);
  }
}
