/**
 * Two real daemons (startDaemon, src/daemon.ts) in this process, a client and a server with two
 * links each over real UDP on 127.0.0.1, each on a fake tun (test/helpers/fake-tun.ts), so no
 * root is needed: the real event loop (src/io/driver.ts, the poll worker) carries traffic both
 * ways, a rekey (the client's clock jumps past the session's age limit), a reload of the
 * client's configuration (a shorter timeout) and the loss of one link (blackholed on the
 * client): the tunnel goes on over the other link.
 *
 * Every wait is on a signal (a packet written to a tun, a link state reported to the service
 * port, a datagram sent) and bounded in time.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { REKEY_AFTER_MS } from "../../src/core/constants.ts";
import { type Daemon, startDaemon } from "../../src/daemon.ts";
import type { Clock, Ports, SocketFactory } from "../../src/io/driver.ts";
import type { LinkState, ServiceStatus } from "../../src/io/service-status.ts";
import type { TunOptions } from "../../src/io/tun.ts";
import { type LinkSocket, openLinkSocket } from "../../src/io/udp.ts";
import { createLogger } from "../../src/log.ts";
import { MSG_RESP } from "../../src/wire/layout.ts";
import { FakeTun } from "../helpers/fake-tun.ts";
import { ipv4, udp } from "../helpers/packets.ts";
import { tempDir, writeConfig } from "../helpers/run.ts";
import { Signal } from "../helpers/signal.ts";

const signal = new Signal();
const { dir, cleanup } = tempDir("mlvpn-two-daemons-");
const PASSWORD = "two daemons, one process";

/** performance.now(), plus what the test adds to jump ahead. */
class TestClock implements Clock {
  offset = 0;
  now(): number {
    return performance.now() + this.offset;
  }
  get originEpochMs(): number {
    return performance.timeOrigin - this.offset;
  }
}

/** One daemon and what the test sees of it. */
interface Side {
  name: string;
  daemon: Daemon;
  clock: TestClock;
  tun: FakeTun;
  /** The links as last reported to the service port. */
  links: readonly LinkState[];
  /** Datagrams sent, by first byte (the message type, src/wire/layout.ts). */
  sentByType: number[];
  /** Peer ports whose traffic is dropped both ways (a link lost). */
  blackholed: Set<number>;
  openedSockets: number;
  closedSockets: number;
  lines: string[];
}

/** Real UDP sockets, counted and with a blackhole per peer port. */
function observedSockets(side: Omit<Side, "daemon">): SocketFactory {
  return {
    async open(o) {
      const real = await openLinkSocket({
        ...o,
        onDatagram(bytes, address, port) {
          if (!side.blackholed.has(port)) o.onDatagram(bytes, address, port);
        },
      });
      side.openedSockets++;
      const socket: LinkSocket = {
        get fd() {
          return real.fd;
        },
        localAddress: real.localAddress,
        localPort: real.localPort,
        drain: (max) => real.drain(max),
        close() {
          side.closedSockets++;
          real.close();
        },
        send(bytes, address, port) {
          side.sentByType[bytes[0]!] = (side.sentByType[bytes[0]!] ?? 0) + 1;
          signal.poke();
          return side.blackholed.has(port) ? undefined : real.send(bytes, address, port);
        },
      };
      return socket;
    },
  };
}

function load(file: string): Config {
  const loaded = loadConfig(file);
  if (!loaded.config) throw new Error(`${file}: ${loaded.diagnostics.map((d) => d.message).join("; ")}`);
  return loaded.config;
}

/** Starts a daemon on `file`; `side` gets what it opens as it opens it (also when the start fails). */
async function start(name: string, file: string, into: Partial<Side> = {}): Promise<Side> {
  const clock = new TestClock();
  const partial = Object.assign(into, { name, clock, links: [], sentByType: [], blackholed: new Set(), openedSockets: 0, closedSockets: 0, lines: [] }) as Omit<Side, "daemon" | "tun"> & { tun?: FakeTun };
  const ports: Partial<Ports> = {
    clock,
    tun: {
      open(options: TunOptions) {
        partial.tun = new FakeTun(options, signal);
        return partial.tun;
      },
    },
    sockets: observedSockets(partial as Side),
  };
  const links = (l: readonly LinkState[]) => {
    partial.links = l.map((s) => ({ name: s.name, status: s.status }));
    signal.poke();
  };
  const service: ServiceStatus = { ready: links, changed: links, stopping() {}, reloading() {}, reloaded() {} };
  const log = createLogger({ verbosity: 3, debugTokens: [], write: (line) => void partial.lines.push(`${name}: ${line}`), repeatWindowMs: 0 });
  const side = partial as Side;
  side.daemon = await startDaemon(load(file), { name, user: "nobody", yesRunAsRoot: true, selfCommand: [], service, ports }, log);
  return side;
}

/** A free UDP port on 127.0.0.1 (the server's links need fixed ports: bindport = 0 is refused). */
async function freePort(): Promise<number> {
  const s = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
  const port = s.port;
  s.close();
  return port;
}

/** An IPv4/UDP packet numbered `id` (in its payload). */
function packet(id: number, src = "10.70.0.1", dst = "10.70.0.2"): Uint8Array {
  const p = new Uint8Array(ipv4(src, dst, 17, udp(40000, 9, 64)));
  new DataView(p.buffer).setUint32(28, id);
  return p;
}
const idOf = (p: Uint8Array): number => new DataView(p.buffer, p.byteOffset).getUint32(28);

let nextId = 1;
/** Injects `n` packets into `from`'s tun; resolves when all came out of `to`'s tun, intact. */
async function passes(from: Side, to: Side, n: number, what: string): Promise<void> {
  const ids = new Set<number>();
  const sent = new Map<number, Uint8Array>();
  for (let k = 0; k < n; k++) {
    const p = packet(nextId++);
    ids.add(idOf(p));
    sent.set(idOf(p), p);
    from.tun.inject(p);
  }
  const seen = new Set<number>();
  let scanned = 0;
  const counts = () => `${seen.size} came out; ${from.name} drops ${JSON.stringify(from.daemon.status().drops ?? {})}, ${to.name} drops ${JSON.stringify(to.daemon.status().drops ?? {})}`;
  await within(`${what}: ${n} packets from ${from.name} out of ${to.name}'s tun`, counts, () => {
    for (; scanned < to.tun.written.length; scanned++) {
      const p = to.tun.written[scanned]!;
      const id = p.length >= 32 ? idOf(p) : -1;
      if (ids.has(id)) {
        expect(p).toEqual(sent.get(id)!);
        seen.add(id);
      }
    }
    return seen.size === n;
  }, 10_000);
}

let client: Side | undefined;
let server: Side | undefined;
let clientFile = "";
const ports: number[] = [];

/** Waits for `done` (bounded); on failure the error carries both daemons' last log lines. */
async function within(what: string, done: () => boolean, ms: number): Promise<void>;
async function within(what: string, state: () => string, done: () => boolean, ms: number): Promise<void>;
async function within(what: string, ...rest: [() => boolean, number] | [() => string, () => boolean, number]): Promise<void> {
  const [state, done, ms] = rest.length === 3 ? rest : [() => "", ...rest];
  try {
    await signal.until(what, done, ms);
  } catch (e) {
    const tail = [...(server?.lines ?? []), ...(client?.lines ?? [])].slice(-40).join("\n");
    throw new Error(`${(e as Error).message}: ${state()}\n${tail}`);
  }
}

const allUp = (s: Side) => s.links.length === 2 && s.links.every((l) => l.status === "connected");
const statusOf = (s: Side, link: string) => s.daemon.status().tunnels.find((t) => t.name === link)!;

function clientConfig(timeout: number): string {
  return `[general]\nmode = "client"\npassword = "${PASSWORD}"\ntimeout = ${timeout}\n` + ports.map((p, i) => `\n[link${i + 1}]\nbindhost = "127.0.0.1"\nremotehost = "127.0.0.1"\nremoteport = ${p}\n`).join("");
}

afterAll(cleanup);

describe("two daemons in one process (fake tun, real UDP, no root)", () => {
  beforeAll(async () => {
    ports.push(await freePort(), await freePort());
    const serverFile = writeConfig(dir, "server.conf", `[general]\nmode = "server"\npassword = "${PASSWORD}"\n` + ports.map((p, i) => `\n[link${i + 1}]\nbindhost = "127.0.0.1"\nbindport = ${p}\n`).join(""));
    // A timeout longer than the clock jump of the rekey test: the links must stay up through it.
    clientFile = writeConfig(dir, "client.conf", clientConfig(Math.ceil((REKEY_AFTER_MS * 2) / 1000)));
    server = await start("server", serverFile);
    client = await start("client", clientFile);
  }, 30_000);

  afterAll(async () => {
    await client?.daemon.stop();
    await server?.daemon.stop();
  }, 60_000);

  test("both links come up on both ends", async () => {
    await within("both links connected on both ends", () => allUp(client!) && allUp(server!), 15_000);
  }, 20_000);

  test("packets written into one tun come out of the other, both ways", async () => {
    // Right after the links came up, before every link has an RTT sample: the core must take a
    // burst each way (test/sim/firstburst.sim.test.ts holds the deterministic case).
    await passes(client!, server!, 100, "upstream");
    await passes(server!, client!, 100, "downstream");
  }, 30_000);

  test("a rekey: the client's session outlives REKEY_AFTER_MS; both links get new keys and stay up", async () => {
    const c = client!;
    const s = server!;
    const responses = s.sentByType[MSG_RESP] ?? 0;
    c.clock.offset += REKEY_AFTER_MS + 1000;
    // One handshake response per link, sent by the server.
    await within("the server answers two new handshakes", () => (s.sentByType[MSG_RESP] ?? 0) >= responses + 2, 10_000);
    await passes(c, s, 100, "after the rekey");
    expect(allUp(c) && allUp(s)).toBe(true);
    for (const link of ["link1", "link2"]) expect(statusOf(c, link).disconnects).toBe(0);
  }, 30_000);

  test("a reload applies the changed configuration (timeout 240 s → 2 s) without touching the links", async () => {
    const c = client!;
    expect(statusOf(c, "link1").timeout).toBeGreaterThan(2);
    writeConfig(dir, "client.conf", clientConfig(2));
    await c.daemon.reload(load(clientFile));
    expect(c.daemon.status().reloads_applied).toBe(1);
    for (const link of ["link1", "link2"]) expect(statusOf(c, link).timeout).toBe(2);
    expect(allUp(c)).toBe(true);
    await passes(c, server!, 50, "after the reload");
  }, 30_000);

  test("a link lost: it goes down after its (reloaded) timeout, and traffic goes on over the other", async () => {
    const c = client!;
    c.blackholed.add(ports[0]!);
    const link1 = () => c.links.find((l) => l.name === "link1")?.status;
    await within("link1 down on the client", () => link1() === "disconnected" || link1() === "waiting peer", 10_000);
    // (On a machine too busy to send a keepalive within the 2 s timeout, link2 may go down and
    // come back: the tunnel must then be carried by it again.)
    await within("link2 connected on the client", () => c.links.find((l) => l.name === "link2")?.status === "connected", 10_000);
    const before = statusOf(c, "link2").sentpackets;
    await passes(c, server!, 100, "over link2 alone");
    expect(statusOf(c, "link2").sentpackets).toBeGreaterThanOrEqual(before + 100);
  }, 30_000);

  test("stop: both daemons end, their tun devices closed", async () => {
    await client!.daemon.stop();
    await server!.daemon.stop();
    expect(client!.tun.fd).toBe(-1);
    expect(server!.tun.fd).toBe(-1);
  }, 60_000);
});

describe("a start that fails", () => {
  test("closes what it opened, in one teardown: the sockets bound so far and the tun device", async () => {
    const taken = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
    try {
      const file = writeConfig(dir, "busy.conf", `[general]\nmode = "server"\npassword = "${PASSWORD}"\n\n[free]\nbindhost = "127.0.0.1"\nbindport = ${await freePort()}\n\n[busy]\nbindhost = "127.0.0.1"\nbindport = ${taken.port}\n`);
      const side: Partial<Side> = {};
      const error = await start("busy", file, side).then(() => undefined, (e: Error) => e);
      expect(error?.constructor.name).toBe("StartError");
      expect(error?.message).toContain(`[busy] cannot bind 127.0.0.1:${taken.port}`);
      expect(side.openedSockets).toBe(1);
      expect(side.closedSockets).toBe(1);
      expect(side.tun?.fd).toBe(-1);
    } finally {
      taken.close();
    }
  }, 20_000);
});
