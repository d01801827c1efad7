/**
 * The daemon's event loop around the sans-I/O core (src/core/tunnel.ts): it reads the tun device
 * and the links' sockets in batches (tun-reader.ts polls them all), hands each packet and
 * datagram to the core, and after each batch does what the core's input left to do:
 *
 * - send failures met while the core was sending are reported to it now, after its input, so
 *   that the core is never re-entered from its own output;
 * - a change of the links' states is told to the service manager once per batch;
 * - the one timer is set to the core's next deadline, and moved whenever that deadline moves:
 *   when idle, the process sleeps until the core has something to do.
 *
 * Everything it touches in the operating system comes through ports (Clock, Timer, TunFactory,
 * SocketFactory), so that tests run two daemons in one process on a fake tun and real UDP
 * (test/integration/two-daemons.test.ts). Nothing here allocates per packet: one source address
 * object per link, callbacks made once per socket, failures in preallocated arrays.
 */
import type { PeerAddress, Tunnel, TunnelEvent, TunnelOutput } from "../core/tunnel.ts";
import { startTunReader, type TunReader } from "./tun-reader.ts";
import { openTun, type TunDevice, type TunOptions } from "./tun.ts";
import { type LinkSocket, openLinkSocket, type OpenOptions } from "./udp.ts";

/** The core's clock: milliseconds, monotonic (performance.now() in the daemon). */
export interface Clock {
  now(): number;
  /** The epoch time (ms) of the clock's 0, to show core times as dates. */
  readonly originEpochMs: number;
}

/** One-shot timers (setTimeout in the daemon). */
export interface Timer {
  set(callback: () => void, delayMs: number): unknown;
  clear(handle: unknown): void;
}

/** Opens the tun/tap device (openTun in the daemon; a socket-backed fake in tests). */
export interface TunFactory {
  open(options: TunOptions): TunDevice;
}

/** Opens a link's UDP socket (openLinkSocket in the daemon). */
export interface SocketFactory {
  open(options: OpenOptions): Promise<LinkSocket>;
}

/** Everything the daemon needs from the operating system, besides DNS, hooks and control. */
export interface Ports {
  clock: Clock;
  timer: Timer;
  tun: TunFactory;
  sockets: SocketFactory;
}

export const systemPorts: Ports = {
  clock: { now: () => performance.now(), originEpochMs: performance.timeOrigin },
  timer: {
    set: (callback, delayMs) => setTimeout(callback, delayMs),
    clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  },
  tun: { open: openTun },
  sockets: { open: openLinkSocket },
};

/** Send errors that mean the link's path is gone (interface down, address removed). */
const LINK_GONE = new Set(["ENETUNREACH", "EHOSTUNREACH", "ENETDOWN", "EADDRNOTAVAIL", "EPERM", "ENODEV", "ENXIO", "EINVAL"]);

/** What the driver tells its owner (the daemon). */
export interface DriverHandlers {
  /** A core event (hooks, logs); called from within the core's input. */
  event(e: TunnelEvent): void;
  log: TunnelOutput["log"];
  /** A send on `link` failed with `error` (an errno name); called at once or, for a socket that batches, when it flushes (at the latest before the failures reach the core). */
  sendError(link: number, error: string): void;
  /** Some link changed state during the last batch. */
  linksChanged(): void;
  /** Reading the tun device failed: the reader has stopped. */
  failed(e: Error): void;
}

/** Another fd polled beside the links' sockets (the address watch, src/io/addrwatch.ts). */
export interface Source {
  readonly fd: number;
  /** Reads what it has, at most `max` items; returns how many. */
  drain(max: number): number;
  close(): void;
}

/** The sockets' receive callbacks of one link, made once when its socket opens. */
type Receiver = Pick<OpenOptions, "onDatagram" | "afterDatagrams" | "onSendError">;

export class Driver {
  /** The core's output: give it to the Tunnel, then attach() the Tunnel. */
  readonly output: TunnelOutput;
  /** Packets the tun device refused (queue full, interface down). */
  tunWriteDrops = 0;
  private tunnel: Tunnel | undefined;
  private readonly sockets: Array<LinkSocket | undefined> = [];
  private readonly fds: number[] = [];
  private extra: Source | undefined;
  private reader: TunReader | undefined;
  /** Send failures of the current input, reported after it: links and errors, side by side. */
  private readonly failedLinks: number[] = [];
  private readonly failedErrors: string[] = [];
  /** A send on a link failed (at once, or when its socket flushed): told to the owner, and to the core after the input. */
  private readonly sendFailed: (link: number, err: string) => void;
  private timer: unknown;
  private armedAt = Number.POSITIVE_INFINITY;
  private changed = false;
  private stopped = false;
  private readonly onTimer = (): void => {
    this.armedAt = Number.POSITIVE_INFINITY;
    this.timer = undefined;
    if (this.stopped) return;
    this.core.handleTimeout(this.clock.now());
    this.afterInput();
  };
  /** After a batch of input: bound once, handed to the reader and the sockets. */
  readonly afterInput = (): void => {
    const core = this.core;
    // The datagrams of this input leave now; a failure reported here may make the core send
    // (and fail) again: those are sent and reported too.
    this.flushSockets();
    if (this.tun.flush) this.tunWriteDrops += this.tun.flush(); // the TCP segments it joined (tun-gro.ts)
    for (let k = 0; k < this.failedLinks.length; k++) {
      core.linkSendFailed(this.failedLinks[k]!, this.failedErrors[k]!, this.clock.now());
      this.flushSockets();
    }
    this.failedLinks.length = 0;
    this.failedErrors.length = 0;
    if (this.stopped) return;
    if (this.changed) {
      this.changed = false;
      this.handlers.linksChanged();
    }
    // The timer follows the deadline both ways: one that moved later would wake the process
    // for nothing. Rounded up, so that it never fires before the deadline (and again after it).
    const next = core.nextTimeout();
    if (next === this.armedAt) return;
    if (this.timer !== undefined) this.ports.timer.clear(this.timer);
    this.timer = undefined;
    this.armedAt = next;
    if (next !== Number.POSITIVE_INFINITY) this.timer = this.ports.timer.set(this.onTimer, Math.max(0, Math.ceil(next - this.clock.now())));
  };

  constructor(
    private readonly ports: Pick<Ports, "clock" | "timer">,
    private readonly tun: TunDevice,
    private readonly handlers: DriverHandlers,
  ) {
    const { sockets, failedLinks, failedErrors, tun: device } = this;
    const sendFailed = (this.sendFailed = (link: number, err: string): void => {
      handlers.sendError(link, err);
      if (LINK_GONE.has(err)) {
        failedLinks.push(link);
        failedErrors.push(err);
      }
    });
    this.output = {
      transmit(link, datagram, peer, urgent) {
        const s = sockets[link];
        if (s === undefined) return;
        // Queued when the socket batches (sent at the end of the input: flushSockets()); an
        // urgent one leaves now, behind what the socket queued (send() flushes first).
        const err = s.queue !== undefined && !urgent ? s.queue(datagram, peer.address, peer.port) : s.send(datagram, peer.address, peer.port);
        if (err !== undefined) sendFailed(link, err);
      },
      deliver: (packet) => {
        if (!device.write(packet)) this.tunWriteDrops++;
      },
      event: (e) => {
        if (e.type !== "resolve") this.changed = true; // told once the batch is done
        handlers.event(e);
      },
      log: handlers.log,
    };
  }

  /** Sends what the sockets queued (sendmmsg), in order, per socket. */
  private flushSockets(): void {
    const sockets = this.sockets;
    for (let i = 0; i < sockets.length; i++) sockets[i]?.flush?.();
  }

  private get clock(): Clock {
    return this.ports.clock;
  }

  private get core(): Tunnel {
    if (!this.tunnel) throw new Error("the driver has no tunnel attached");
    return this.tunnel;
  }

  attach(tunnel: Tunnel): void {
    this.tunnel = tunnel;
  }

  /**
   * The receive callbacks for link `index`'s socket. The core only reads the source during the
   * call (it copies what it keeps): one address object per link, filled for each datagram.
   */
  receiver(index: number): Receiver {
    const from: PeerAddress = { address: "", port: 0 };
    return {
      // Each datagram comes in a buffer of its own, so the core may decrypt in place and keep
      // views into it (held by the reorder buffer).
      onDatagram: (bytes, address, port) => {
        from.address = address;
        from.port = port;
        this.core.handleDatagram(index, bytes, from, this.clock.now());
      },
      // Bun's own receive (a socket without an fd to poll) delivers one datagram at a time.
      afterDatagrams: this.afterInput,
      onSendError: (error) => this.sendFailed(index, error),
    };
  }

  socket(index: number): LinkSocket | undefined {
    return this.sockets[index];
  }

  /** Link `index` now sends and receives on `socket` (polled from now on). */
  setSocket(index: number, socket: LinkSocket): void {
    this.sockets[index] = socket;
    this.watchSockets();
  }

  /** Takes link `index`'s socket out of the poll set, then closes it. */
  closeSocket(index: number): void {
    const socket = this.sockets[index];
    if (!socket) return;
    this.sockets[index] = undefined;
    this.watchSockets();
    socket.close();
  }

  /** `source` is polled and drained with the sockets from now on, and closed with them. */
  watchSource(source: Source): void {
    this.extra = source;
    this.watchSockets();
  }

  private watchSockets(): void {
    this.fds.length = 0;
    for (const s of this.sockets) if (s && s.fd >= 0) this.fds.push(s.fd);
    if (this.extra) this.fds.push(this.extra.fd);
    this.reader?.watch(this.fds);
  }

  /** Starts reading the tun device and the sockets, and sets the timer. */
  start(): void {
    const { core, clock, sockets } = this;
    this.reader = startTunReader(this.tun, {
      onPacket: (view) => core.handleTunPacket(view, clock.now()),
      drainOthers: (max) => {
        let n = this.extra?.drain(max) ?? 0;
        for (let i = 0; i < sockets.length; i++) n += sockets[i]?.drain(max) ?? 0;
        return n;
      },
      onDrainEnd: this.afterInput,
      onError: (e) => this.handlers.failed(e),
    });
    this.watchSockets();
    this.afterInput();
  }

  /** No timer from now on; input still reaches the core until stopReading(). */
  stopTimer(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.ports.timer.clear(this.timer);
    this.timer = undefined;
  }

  /** Stops the reader; resolves once its poll worker has exited. */
  async stopReading(): Promise<void> {
    await this.reader?.stop();
  }

  closeSockets(): void {
    for (let i = 0; i < this.sockets.length; i++) this.closeSocket(i);
    const extra = this.extra;
    this.extra = undefined;
    this.watchSockets();
    extra?.close();
  }
}
