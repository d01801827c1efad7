/**
 * The systemd notify protocol against a unix datagram socket this test binds (as systemd would):
 * the exact datagrams, abstract socket names, and what happens without or with a bad
 * $NOTIFY_SOCKET.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { monotonicMicros } from "../../src/io/libc.ts";
import { notifyReady, notifyReloading, notifyStatus, notifyStopping, sdNotify } from "../../src/io/sdnotify.ts";
import { UnixDatagramSocket, unixAddress } from "../../src/io/unix-dgram.ts";
import { tempDir } from "../helpers/run.ts";

const { dir, cleanup } = tempDir("mlvpn-notify-");
const path = join(dir, "notify");
let manager: UnixDatagramSocket;
const saved = process.env.NOTIFY_SOCKET;

beforeAll(() => {
  manager = UnixDatagramSocket.bound(path);
});
afterAll(() => {
  manager.close();
  cleanup();
});
afterEach(() => {
  if (saved === undefined) delete process.env.NOTIFY_SOCKET;
  else process.env.NOTIFY_SOCKET = saved;
});

/** Every datagram waiting on `s` (unix datagrams are queued by the time sendto returns). */
function drain(s: UnixDatagramSocket): string[] {
  const got: string[] = [];
  for (let i = 0; i < 100; i++) {
    const d = s.receive();
    if (!d) break;
    got.push(new TextDecoder().decode(d));
  }
  return got;
}

describe("sd_notify", () => {
  test("READY, STATUS, RELOADING and STOPPING arrive as the exact datagrams systemd parses", () => {
    process.env.NOTIFY_SOCKET = path;
    expect(notifyReady("1/2 links up: adsl connected, lte disconnected")).toBeUndefined();
    expect(notifyStatus("2/2 links up\nbut not two lines")).toBeUndefined();
    const before = monotonicMicros();
    expect(notifyReloading()).toBeUndefined();
    const after = monotonicMicros();
    expect(notifyReady("reloaded")).toBeUndefined();
    expect(notifyStopping()).toBeUndefined();
    const got = drain(manager);
    expect(got).toHaveLength(5);
    expect(got[0]).toBe("READY=1\nSTATUS=1/2 links up: adsl connected, lte disconnected");
    expect(got[1]).toBe("STATUS=2/2 links up but not two lines");
    const reloading = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(got[2]!);
    expect(reloading).not.toBeNull();
    const usec = BigInt(reloading![1]!);
    expect(usec >= before && usec <= after).toBe(true);
    expect(got[3]).toBe("READY=1\nSTATUS=reloaded");
    expect(got[4]).toBe("STOPPING=1");
  });

  test("an abstract socket (@name) is reached too", () => {
    const name = `@mlvpn-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const abstract = UnixDatagramSocket.bound(name);
    try {
      expect(sdNotify("READY=1", { NOTIFY_SOCKET: name })).toBeUndefined();
      expect(drain(abstract)).toEqual(["READY=1"]);
    } finally {
      abstract.close();
    }
  });

  test("without NOTIFY_SOCKET nothing is sent and nothing fails", () => {
    delete process.env.NOTIFY_SOCKET;
    expect(notifyReady("x")).toBeUndefined();
    expect(notifyStopping()).toBeUndefined();
    expect(drain(manager)).toEqual([]);
  });

  test("an unusable NOTIFY_SOCKET gives a one-line reason", () => {
    expect(sdNotify("READY=1", { NOTIFY_SOCKET: join(dir, "nobody-here") })).toBe(`NOTIFY_SOCKET=${join(dir, "nobody-here")}: No such file or directory`);
    expect(sdNotify("READY=1", { NOTIFY_SOCKET: "vsock:2:1234" })).toBe("NOTIFY_SOCKET=vsock:2:1234: only unix socket paths and @abstract names are supported");
    expect(sdNotify("READY=1", { NOTIFY_SOCKET: `/${"x".repeat(200)}` })).toContain("invalid unix socket address");
  });
});

describe("unixAddress", () => {
  test("a path is NUL-terminated; an abstract name starts with NUL and has no terminator", () => {
    expect([...unixAddress("/run/x")]).toEqual([1, 0, ...new TextEncoder().encode("/run/x"), 0]);
    expect([...unixAddress("@x")]).toEqual([1, 0, 0, 120]);
  });
});
