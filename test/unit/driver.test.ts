/**
 * The driver (src/io/driver.ts) through its ports, with a stand-in core: the one timer follows
 * the core's deadline both ways and never fires early, send failures reach the core only after
 * its input, link changes are told once per batch, and a datagram's source is one object per
 * link.
 */
import { describe, expect, test } from "bun:test";
import type { PeerAddress, Tunnel, TunnelEvent } from "../../src/core/tunnel.ts";
import { Driver, type DriverHandlers, type Timer } from "../../src/io/driver.ts";
import type { TunDevice } from "../../src/io/tun.ts";
import type { LinkSocket } from "../../src/io/udp.ts";

class FakeTimer implements Timer {
  armed: { callback: () => void; delayMs: number; id: number } | undefined;
  sets = 0;
  private ids = 0;
  set(callback: () => void, delayMs: number): unknown {
    this.sets++;
    this.armed = { callback, delayMs, id: ++this.ids };
    return this.ids;
  }
  clear(handle: unknown): void {
    if (this.armed?.id === handle) this.armed = undefined;
  }
  fire(): void {
    const a = this.armed!;
    this.armed = undefined;
    a.callback();
  }
}

/** The part of the Tunnel the driver calls, recording the calls. */
class FakeCore {
  next = Number.POSITIVE_INFINITY;
  timeouts: number[] = [];
  failures: Array<[number, string]> = [];
  sources: PeerAddress[] = [];
  /** Run inside handleDatagram: what the core's input does (send, raise events). */
  onInput: () => void = () => {};
  nextTimeout = () => this.next;
  handleTimeout = (now: number) => void this.timeouts.push(now);
  linkSendFailed = (link: number, reason: string) => void this.failures.push([link, reason]);
  handleDatagram = (_link: number, _d: Uint8Array, from: PeerAddress) => {
    this.sources.push(from);
    expect(from.address).toBe("192.0.2.1");
    this.onInput();
  };
}

function setup() {
  let now = 1000;
  const timer = new FakeTimer();
  const core = new FakeCore();
  const events: string[] = [];
  const handlers: DriverHandlers = {
    event: (e: TunnelEvent) => void events.push(e.type),
    log() {},
    sendError: (link, error) => void events.push(`send-error ${link} ${error}`),
    linksChanged: () => void events.push("links-changed"),
    failed: (e) => void events.push(`failed ${e.message}`),
  };
  const tun = { write: () => true, flushes: 0, dropsOnFlush: 0 } as unknown as TunDevice & { flushes: number; dropsOnFlush: number };
  tun.flush = () => (tun.flushes++, tun.dropsOnFlush);
  const driver = new Driver({ clock: { now: () => now, originEpochMs: 0 }, timer }, tun, handlers);
  driver.attach(core as unknown as Tunnel);
  return { driver, timer, core, events, tun, setNow: (t: number) => void (now = t) };
}

function socket(error: string | undefined): LinkSocket {
  return { fd: -1, localAddress: "127.0.0.1", localPort: 1, send: () => error, drain: () => 0, close() {} };
}

describe("the driver's timer", () => {
  test("is set to the core's deadline, rounded up, and not set again while the deadline stays", () => {
    const { driver, timer, core } = setup();
    core.next = 1010.2;
    driver.afterInput();
    expect(timer.armed?.delayMs).toBe(11);
    driver.afterInput();
    expect(timer.sets).toBe(1);
  });

  test("follows a deadline that moves later (no wake-up for nothing) and is cleared when there is none", () => {
    const { driver, timer, core } = setup();
    core.next = 1005;
    driver.afterInput();
    core.next = 1900;
    driver.afterInput();
    expect(timer.armed?.delayMs).toBe(900);
    core.next = Number.POSITIVE_INFINITY;
    driver.afterInput();
    expect(timer.armed).toBeUndefined();
  });

  test("firing runs the core's timeout at the clock's time, then arms the next deadline", () => {
    const { driver, timer, core, setNow } = setup();
    core.next = 1050;
    driver.afterInput();
    setNow(1050);
    core.next = 2050;
    timer.fire();
    expect(core.timeouts).toEqual([1050]);
    expect(timer.armed?.delayMs).toBe(1000);
  });

  test("stopped: no timeout runs and no timer is armed", () => {
    const { driver, timer, core } = setup();
    core.next = 1050;
    driver.afterInput();
    driver.stopTimer();
    expect(timer.armed).toBeUndefined();
    driver.afterInput();
    expect(timer.armed).toBeUndefined();
  });
});

describe("the driver's input", () => {
  test("a send failure reaches the core after its input, not from within it; a passing error (EAGAIN) does not", () => {
    const { driver, core, events } = setup();
    driver.setSocket(0, socket("ENETUNREACH"));
    driver.setSocket(1, socket("EAGAIN"));
    const peer = { address: "192.0.2.9", port: 5080 };
    core.onInput = () => {
      driver.output.transmit(0, new Uint8Array(8), peer);
      driver.output.transmit(1, new Uint8Array(8), peer);
      expect(core.failures).toEqual([]);
    };
    driver.receiver(0).onDatagram(new Uint8Array(8), "192.0.2.1", 5080);
    expect(events).toEqual(["send-error 0 ENETUNREACH", "send-error 1 EAGAIN"]);
    driver.afterInput();
    expect(core.failures).toEqual([[0, "ENETUNREACH"]]);
    driver.afterInput();
    expect(core.failures).toHaveLength(1);
  });

  test("link changes are told once per batch; a resolve request is not a change", () => {
    const { driver, core, events } = setup();
    core.onInput = () => {
      driver.output.event({ type: "link-up", link: 0 });
      driver.output.event({ type: "tunnel-up" });
    };
    const r = driver.receiver(0);
    r.onDatagram(new Uint8Array(8), "192.0.2.1", 1);
    r.onDatagram(new Uint8Array(8), "192.0.2.1", 1);
    driver.afterInput();
    expect(events.filter((e) => e === "links-changed")).toHaveLength(1);
    core.onInput = () => driver.output.event({ type: "resolve", link: 0 });
    r.onDatagram(new Uint8Array(8), "192.0.2.1", 1);
    driver.afterInput();
    expect(events.filter((e) => e === "links-changed")).toHaveLength(1);
  });

  test("one source object per link, filled for each datagram", () => {
    const { driver, core } = setup();
    const r = driver.receiver(3);
    r.onDatagram(new Uint8Array(8), "192.0.2.1", 1);
    r.onDatagram(new Uint8Array(8), "192.0.2.1", 2);
    expect(core.sources[0]).toBe(core.sources[1]!);
    expect(core.sources[1]!.port).toBe(2);
  });
});

describe("the driver's batched output", () => {
  /** A socket that queues: flush() sends, reporting `failing` through the link's onSendError. */
  function batching(onSendError: (e: string) => void, failing: string[]) {
    const sent: number[] = [];
    const queued: number[] = [];
    const s: LinkSocket = {
      fd: -1,
      localAddress: "127.0.0.1",
      localPort: 1,
      // As udp.ts: what is queued leaves first.
      send(bytes) {
        s.flush!();
        sent.push(bytes[0]!);
        return undefined;
      },
      queue: (bytes) => void queued.push(bytes[0]!),
      flush() {
        for (const b of queued.splice(0)) {
          const e = failing.shift();
          if (e) onSendError(e);
          else sent.push(b);
        }
      },
      drain: () => 0,
      close() {},
    };
    return { s, sent, queued };
  }

  test("datagrams are queued during the input and flushed after it; a failure found then reaches the core in the same batch", () => {
    const { driver, core, events } = setup();
    const failing = ["ENETUNREACH"];
    const out = batching(driver.receiver(0).onSendError!, failing);
    driver.setSocket(0, out.s);
    const peer = { address: "192.0.2.9", port: 5080 };
    core.onInput = () => {
      driver.output.transmit(0, Uint8Array.of(1), peer);
      driver.output.transmit(0, Uint8Array.of(2), peer);
      expect(out.sent).toEqual([]);
    };
    driver.receiver(0).onDatagram(new Uint8Array(8), "192.0.2.1", 5080);
    expect(out.queued).toEqual([1, 2]);
    expect(events).toEqual([]);
    driver.afterInput();
    expect(out.sent).toEqual([2]);
    expect(events).toEqual(["send-error 0 ENETUNREACH"]);
    expect(core.failures).toEqual([[0, "ENETUNREACH"]]);
  });

  test("an urgent datagram (a redundant copy) leaves at once, behind what was queued before it, not at the end of the input", () => {
    const { driver, core } = setup();
    const out = batching(driver.receiver(0).onSendError!, []);
    driver.setSocket(0, out.s);
    const peer = { address: "192.0.2.9", port: 5080 };
    core.onInput = () => {
      driver.output.transmit(0, Uint8Array.of(1), peer);
      driver.output.transmit(0, Uint8Array.of(2), peer, true);
      expect(out.sent).toEqual([1, 2]);
      driver.output.transmit(0, Uint8Array.of(3), peer);
    };
    driver.receiver(0).onDatagram(new Uint8Array(8), "192.0.2.1", 5080);
    expect(out.sent).toEqual([1, 2]);
    driver.afterInput();
    expect(out.sent).toEqual([1, 2, 3]);
  });

  test("what the core sends when told of a failure is flushed too; the tun's joined writes are flushed and their drops counted", () => {
    const { driver, core, tun } = setup();
    const out = batching(driver.receiver(0).onSendError!, ["EHOSTUNREACH"]);
    driver.setSocket(0, out.s);
    const peer = { address: "192.0.2.9", port: 5080 };
    core.linkSendFailed = (link: number, reason: string) => {
      core.failures.push([link, reason]);
      driver.output.transmit(0, Uint8Array.of(9), peer); // e.g. a probe on another path
    };
    driver.output.transmit(0, Uint8Array.of(1), peer);
    tun.dropsOnFlush = 3;
    driver.afterInput();
    expect(core.failures).toEqual([[0, "EHOSTUNREACH"]]);
    expect(out.sent).toEqual([9]);
    expect(out.queued).toEqual([]);
    expect(tun.flushes).toBe(1);
    expect(driver.tunWriteDrops).toBe(3);
  });
});
