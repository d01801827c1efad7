/**
 * struct epoll_event as the kernel lays it out: packed on x86-64 (12 bytes, data at 4), naturally
 * aligned on arm64 (16 bytes, data at 8). Checked for both targets whatever the host, since the
 * binaries for both are built here; the array stride is what epoll_wait() fills.
 */
import { expect, test } from "bun:test";
import { epollEventLayout, epollEvents, epollFd, writeEpollEvent } from "../../src/io/epoll.ts";

test("x86-64: 12-byte packed events, data at offset 4", () => {
  const l = epollEventLayout("x64");
  expect(l).toEqual({ size: 12, dataOffset: 4 });
  const buf = new Uint8Array(3 * l.size);
  const view = new DataView(buf.buffer);
  writeEpollEvent(view, 0, l, 0x1, 7);
  writeEpollEvent(view, 1, l, 0x40000001, 300);
  writeEpollEvent(view, 2, l, 0x18, 5);
  // Byte for byte: events (u32 LE), then the u64 data right after, no padding.
  expect([...buf.subarray(12, 24)]).toEqual([0x01, 0, 0, 0x40, 0x2c, 0x01, 0, 0, 0, 0, 0, 0]);
  expect([0, 1, 2].map((i) => [epollEvents(view, i, l), epollFd(view, i, l)])).toEqual([
    [0x1, 7],
    [0x40000001, 300],
    [0x18, 5],
  ]);
});

test("arm64: 16-byte events, data at offset 8 after 4 bytes of padding", () => {
  const l = epollEventLayout("arm64");
  expect(l).toEqual({ size: 16, dataOffset: 8 });
  const buf = new Uint8Array(2 * l.size).fill(0xee);
  const view = new DataView(buf.buffer);
  writeEpollEvent(view, 0, l, 0x1, 9);
  writeEpollEvent(view, 1, l, 0x10, 1023);
  expect([...buf.subarray(16, 32)]).toEqual([0x10, 0, 0, 0, 0xee, 0xee, 0xee, 0xee, 0xff, 0x03, 0, 0, 0, 0, 0, 0]);
  expect([epollFd(view, 0, l), epollEvents(view, 1, l), epollFd(view, 1, l)]).toEqual([9, 0x10, 1023]);
});

test("the host's layout is the one the kernel uses: epoll_wait() reports the fd written with epoll_ctl()", async () => {
  const { EpollControl } = await import("../../src/io/epoll.ts");
  const { close, EFD_CLOEXEC, EFD_NONBLOCK, EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLLIN, libc } = await import("../../src/io/libc.ts");
  const c = libc();
  const epfd = c.epoll_create1(EPOLL_CLOEXEC);
  const fds = [c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)];
  try {
    const ep = new EpollControl(epfd);
    for (const fd of fds) ep.ctl(EPOLL_CTL_ADD, fd, EPOLLIN);
    for (const fd of fds) c.write(fd, new BigUint64Array([1n]), 8);
    const l = epollEventLayout();
    const buf = new Uint8Array(new ArrayBuffer(4 * l.size));
    const n = c.epoll_wait(epfd, buf, 4, 0);
    expect(n).toBe(3);
    const view = new DataView(buf.buffer);
    const got = [0, 1, 2].map((i) => [epollFd(view, i, l), epollEvents(view, i, l)] as const);
    expect(got.map(([fd]) => fd).sort((a, b) => a - b)).toEqual([...fds].sort((a, b) => a - b));
    expect(got.every(([, ev]) => ev === EPOLLIN)).toBe(true);
  } finally {
    for (const fd of fds) close(fd);
    close(epfd);
  }
});
