/**
 * Deterministic simulation of a client and a server Tunnel joined by simulated links, on a
 * virtual clock: per-direction delay, jitter, loss, blackhole; every datagram can be captured,
 * dropped or injected. `run(untilMs)` jumps from event to event (arrivals and both ends'
 * timeouts), bounded in steps so a livelock fails the test instead of hanging it.
 */
import type { LinkConfig } from "../../src/config/schema.ts";
import { type HandshakeCrypto, type HandshakeSecrets, handshakeSecrets, nativeHandshakeCrypto } from "../../src/core/handshake.ts";
import { passwordKey } from "../../src/crypto/primitives.ts";
import { type PeerAddress, Tunnel, type TunnelEvent, type TunnelOptions } from "../../src/core/tunnel.ts";
import { SeededRandom } from "../helpers/random.ts";

export { SeededRandom };

export interface PathSpec {
  delayMs: number;
  jitterMs?: number;
  loss?: number;
  /** Blackholed: everything sent is dropped. */
  cut?: boolean;
  /** Bottleneck rate (unlimited when absent): datagrams queue behind each other, like a modem. */
  rateMbit?: number;
  /** The bottleneck queue holds at most this much waiting time; more is dropped (default 100 ms). */
  queueMs?: number;
  /**
   * A token bucket of this many bytes in front of the rate, as the lab's htb (test/lab/topology.ts
   * htbBurstBytes): after an idle spell the bottleneck sends this much at once (default 0).
   */
  burstBytes?: number;
}

export interface LinkSpec {
  name?: string;
  up?: PathSpec;
  down?: PathSpec;
  bandwidth_upload?: number;
  fallback_only?: boolean;
  priority?: number;
  timeout?: number;
  loss_tolerence?: number;
  latency_tolerence?: number;
}

export interface SimOptions {
  links: LinkSpec[];
  seed?: number;
  reorderBufferSize?: number;
  cleartextData?: boolean;
  /** The server's cleartext_data when it differs from the client's (`cleartextData`). */
  serverCleartextData?: boolean;
  cipher?: "aes-256-gcm" | "chacha20poly1305";
  /** The server's cipher when it differs from the client's (`cipher`). */
  serverCipher?: "aes-256-gcm" | "chacha20poly1305";
  clientPassword?: string;
  serverPassword?: string;
  /** The real scrypt parameters (slow); by default the simulation stretches with N = 16. */
  realKdf?: boolean;
  maxPacketSize?: number;
  /** rekey_interval of the client, ms (the protocol's 120 s when absent). */
  rekeyMs?: number;
}

export type Side = "client" | "server";

export interface Datagram {
  from: Side;
  link: number;
  bytes: Uint8Array;
  src: PeerAddress;
  atMs: number;
}

interface InFlight extends Datagram {
  arriveMs: number;
  order: number;
}

export class EndRecorder {
  delivered: Uint8Array[] = [];
  /** Virtual time of each delivery, parallel to `delivered`. */
  deliveredAt: number[] = [];
  events: TunnelEvent[] = [];
  logs: string[] = [];
}

const DEFAULT_PASSWORD = "simulated password";

/** Counts of the costly handshake operations per side (X25519 and password stretching). */
export interface CryptoCounts {
  scalarMults: number;
  stretches: number;
}

/** The handshake crypto with counters; cheap scrypt parameters unless `real`. */
export function countingCrypto(counts: CryptoCounts, real = false): HandshakeCrypto {
  return {
    scalarMult(scalar, u) {
      counts.scalarMults++;
      return nativeHandshakeCrypto.scalarMult(scalar, u);
    },
    stretch(password, salt) {
      counts.stretches++;
      return real ? nativeHandshakeCrypto.stretch(password, salt) : passwordKey(password, salt, { N: 16, r: 1, p: 1, maxmem: 1 << 20 });
    },
  };
}

export function clientAddr(link: number): PeerAddress {
  return { address: `192.168.${link + 1}.2`, port: 40000 + link };
}
export function serverAddr(link: number): PeerAddress {
  return { address: `198.51.100.${link + 1}`, port: 5080 + link };
}

export class SimPair {
  now = 0;
  client!: Tunnel;
  server!: Tunnel;
  readonly rec: Record<Side, EndRecorder> = { client: new EndRecorder(), server: new EndRecorder() };
  /** Costly handshake operations done by each side so far (across restarts). */
  readonly crypto: Record<Side, CryptoCounts> = { client: { scalarMults: 0, stretches: 0 }, server: { scalarMults: 0, stretches: 0 } };
  /** Every datagram put on the network, in order. */
  readonly captured: Datagram[] = [];
  /** Return false to drop a datagram before it enters the network. */
  filter: ((d: Datagram) => boolean) | undefined;
  readonly rand: SeededRandom;
  private queue: InFlight[] = [];
  private order = 0;
  /** Per link and direction: when the bottleneck finishes sending what it already has. */
  private readonly busyUntil = new Map<string, number>();
  readonly links: LinkSpec[];
  /**
   * A model outside the tunnels (a TCP flow: tcpflow.ts) that run() drives with them: it acts
   * after every step, at that step's time, and is woken at its own deadline.
   */
  outside: { nextTimeout(): number; handleTimeout(nowMs: number): void } | undefined;

  constructor(readonly opts: SimOptions) {
    this.rand = new SeededRandom(opts.seed ?? 1);
    this.links = opts.links;
    this.client = this.makeEnd("client");
    this.server = this.makeEnd("server");
    for (let i = 0; i < opts.links.length; i++) this.client.setPeer(i, serverAddr(i), this.now);
  }

  linkConfigs(): LinkConfig[] {
    return this.links.map((l, i) => linkConfig(l, i));
  }

  /** A reload adding a link on both ends (it takes the next index on both); returns that index. */
  addLink(spec: LinkSpec): number {
    const index = this.links.push(spec) - 1;
    const config = linkConfig(spec, index);
    if (this.server.addLink(config, this.now) !== index || this.client.addLink(config, this.now) !== index) throw new Error("link indices differ between the ends");
    this.client.setPeer(index, serverAddr(index), this.now);
    return index;
  }

  secrets(side: Side): HandshakeSecrets {
    const password = (side === "client" ? this.opts.clientPassword : this.opts.serverPassword) ?? DEFAULT_PASSWORD;
    const cipher = (side === "server" ? this.opts.serverCipher : undefined) ?? this.opts.cipher ?? "aes-256-gcm";
    return handshakeSecrets(password, cipher, countingCrypto(this.crypto[side], this.opts.realKdf), side === "client" ? this.opts.rekeyMs : undefined);
  }

  /** A fresh Tunnel for one side (also used to simulate a restart). */
  makeEnd(side: Side, seed?: number): Tunnel {
    const rec = (this.rec[side] = this.rec[side] ?? new EndRecorder());
    const options: TunnelOptions = {
      mode: side,
      links: this.linkConfigs(),
      secrets: this.secrets(side),
      cleartextData: (side === "server" ? this.opts.serverCleartextData : undefined) ?? this.opts.cleartextData ?? false,
      reorderBufferSize: this.opts.reorderBufferSize ?? 0,
      maxPacketSize: this.opts.maxPacketSize ?? 1432,
      kind: "tun",
      random: new SeededRandom(seed ?? (side === "client" ? 11 : 22) + (this.opts.seed ?? 1) * 1000),
      nowMs: this.now,
      output: {
        transmit: (link, datagram, peer) => this.transmit(side, link, datagram, peer),
        deliver: (p) => {
          rec.delivered.push(p.slice());
          rec.deliveredAt.push(this.now);
        },
        event: (e) => rec.events.push(e),
        log: (level, token, message) => rec.logs.push(`${level}/${token}: ${message}`),
      },
    };
    return new Tunnel(options);
  }

  restart(side: Side, seed: number): void {
    this.rec[side] = new EndRecorder();
    const t = this.makeEnd(side, seed);
    if (side === "client") {
      this.client = t;
      for (let i = 0; i < this.links.length; i++) t.setPeer(i, serverAddr(i), this.now);
    } else {
      this.server = t;
    }
  }

  private transmit(side: Side, link: number, datagram: Uint8Array, peer: PeerAddress): void {
    const src = side === "client" ? clientAddr(link) : serverAddr(link);
    const d: Datagram = { from: side, link, bytes: datagram.slice(), src, atMs: this.now };
    this.captured.push(d);
    if (this.filter && !this.filter(d)) return;
    // The server may only send to the address it learned; a wrong one is simply lost.
    const expected = side === "client" ? serverAddr(link) : clientAddr(link);
    if (peer.address !== expected.address || peer.port !== expected.port) return;
    const spec = this.links[link]!;
    const path = (side === "client" ? spec.up : spec.down) ?? { delayMs: 10 };
    if (path.cut) return;
    let departMs = this.now;
    if (path.rateMbit) {
      const key = `${side}${link}`;
      // Credit the bucket has earned while idle lets a datagram start that much "earlier".
      const credit = ((path.burstBytes ?? 0) * 8) / (path.rateMbit * 1000);
      const start = Math.max(this.now - credit, this.busyUntil.get(key) ?? Number.NEGATIVE_INFINITY);
      if (start - this.now > (path.queueMs ?? 100)) return; // the modem's queue is full
      this.busyUntil.set(key, start + (datagram.length * 8) / (path.rateMbit * 1000));
      departMs = Math.max(this.now, start + (datagram.length * 8) / (path.rateMbit * 1000));
    }
    if (path.loss && this.rand.float() < path.loss) return;
    const jitter = path.jitterMs ? this.rand.float() * path.jitterMs : 0;
    this.queue.push({ ...d, arriveMs: departMs + path.delayMs + jitter, order: this.order++ });
  }

  /** Delivers a datagram to one side now, as if it arrived from `src`. */
  inject(to: Side, link: number, bytes: Uint8Array, src: PeerAddress): void {
    // A copy, as the socket's fresh buffer: the receiver decrypts in place (and may keep views).
    (to === "client" ? this.client : this.server).handleDatagram(link, bytes.slice(), src, this.now);
  }

  /** Runs until `untilMs` (virtual), processing arrivals and timeouts in time order. */
  run(untilMs: number, maxSteps = 5_000_000): void {
    for (let step = 0; step < maxSteps; step++) {
      this.queue.sort((a, b) => a.arriveMs - b.arriveMs || a.order - b.order);
      const arrival = this.queue[0]?.arriveMs ?? Number.POSITIVE_INFINITY;
      const t = Math.min(arrival, this.client.nextTimeout(), this.server.nextTimeout(), this.outside?.nextTimeout() ?? Number.POSITIVE_INFINITY);
      if (t > untilMs) {
        this.now = untilMs;
        return;
      }
      this.now = Math.max(this.now, t);
      if (arrival <= this.now) {
        const d = this.queue.shift()!;
        const to = d.from === "client" ? this.server : this.client;
        to.handleDatagram(d.link, d.bytes.slice(), d.src, this.now);
      } else {
        if (this.client.nextTimeout() <= this.now) this.client.handleTimeout(this.now);
        if (this.server.nextTimeout() <= this.now) this.server.handleTimeout(this.now);
      }
      this.outside?.handleTimeout(this.now);
    }
    throw new Error(`simulation did not reach ${untilMs} ms within ${maxSteps} steps (livelock?)`);
  }

  /** Sends `count` numbered packets from one side's tun, `gapMs` apart, while running the sim. */
  sendStream(from: Side, count: number, gapMs: number, size = 1000, startId = 0): void {
    for (let i = 0; i < count; i++) {
      const tunnel = from === "client" ? this.client : this.server;
      tunnel.handleTunPacket(numberedPacket(startId + i, size), this.now);
      this.run(this.now + gapMs);
    }
  }
}

export function linkConfig(l: LinkSpec, index: number): LinkConfig {
  return {
    name: l.name ?? `link${index}`,
    // The server's port for the link, as both ends configure it (it names the link in the handshake).
    bindport: serverAddr(index).port,
    remoteport: serverAddr(index).port,
    bindfib: 0,
    bandwidth_upload: l.bandwidth_upload ?? 0,
    timeout: l.timeout ?? 30,
    loss_tolerence: l.loss_tolerence ?? 100,
    latency_tolerence: l.latency_tolerence ?? 1000,
    fallback_only: l.fallback_only ?? false,
    priority: l.priority ?? 0,
  };
}

/** A fake IPv4 packet carrying a 32-bit id at bytes 20..23 (the tunnel does not parse it). */
export function numberedPacket(id: number, size = 1000): Uint8Array {
  const p = new Uint8Array(size);
  p[0] = 0x45;
  p[2] = size >> 8;
  p[3] = size & 0xff;
  p[9] = 17;
  p[20] = id >>> 24;
  p[21] = id >>> 16;
  p[22] = id >>> 8;
  p[23] = id;
  return p;
}

export function packetId(p: Uint8Array): number {
  return ((p[20]! << 24) | (p[21]! << 16) | (p[22]! << 8) | p[23]!) >>> 0;
}
