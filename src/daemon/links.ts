/**
 * The links' sockets: bound at start and on reload, opened again when a client link's bindhost
 * or bindinterface went away and came back, and the server's name resolved again on each
 * reconnect attempt. The sockets themselves live in the driver (src/io/driver.ts), which polls
 * them and sends on them.
 *
 * A client link bound to an address or an interface sends only while that address, or an
 * address of the peer's family on that interface, is there (src/io/addrwatch.ts): when it goes,
 * the link's socket is closed and the link taken down at once (what it had in flight goes to the
 * other links), and when it is back the socket is opened again and the link's handshake, already
 * retrying, brings it up. Otherwise the kernel sends its datagrams from another interface's
 * address and the server, following its authenticated client, moves the link there, and back
 * only once that address has been silent a while (RELIABILITY.md, link flaps).
 */
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import type { LinkConfig } from "../config/schema.ts";
import type { PeerAddress, Tunnel } from "../core/tunnel.ts";
import type { Clock, Driver, SocketFactory } from "../io/driver.ts";
import { openAddressWatch, sourceGone } from "../io/addrwatch.ts";
import { ifNameToIndex } from "../io/libc.ts";
import type { LinkSocket } from "../io/udp.ts";
import type { Logger } from "../log.ts";
import { bindAddress, type Mode, resolveHost } from "./setup.ts";

/** Send errors that mean the socket's own address or interface is gone: it is opened again. */
const BINDING_GONE = new Set(["EADDRNOTAVAIL", "EINVAL", "ENODEV", "ENXIO"]);
/** Bind errors a client link waits out: its bindhost or bindinterface is not there (yet). */
const NOT_THERE_YET = new Set(["EADDRNOTAVAIL", "ENODEV"]);

/**
 * A socket closed a moment ago keeps its port until the poll thread (src/io/tun-poll-worker.ts)
 * returns from the poll() that holds it: woken at once, it lets go within milliseconds, but a
 * bind right after the close (a reload that re-opens a link on its port) finds the port in use.
 * Within this long after a close of ours, EADDRINUSE is tried again every PORT_RETRY_MS; later,
 * it is somebody else's port and fails at once.
 */
const PORT_RELEASE_MS = 1000;
const PORT_RETRY_MS = 10;

/** How a link's socket is bound, for opening it again when its address or interface changes. */
interface Binding {
  /** bindinterface's index when the socket was bound to it (a new index: the interface was made again). */
  ifindex?: number;
  /** A send failed because the address or the interface is gone. */
  stale: boolean;
  /** What the link is waiting for, logged once until it is bound again. */
  waiting?: string;
  /** An open is in flight. */
  busy: boolean;
}

/** Why a bind failed, with the likely cause when it is a privileged port after the privilege drop. */
function bindFailure(e: Error, port: number): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "EACCES" && port > 0 && port < 1024 && process.getuid?.() !== 0) {
    return `port ${port} is below 1024 and mlvpn no longer runs as root (it dropped its privileges after start-up): use a port ≥ 1024, or restart mlvpn to bind it`;
  }
  return e.message;
}

/** Why link i's socket cannot be opened, in words. */
function whyNotBound(l: LinkConfig, e: Error): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "EADDRNOTAVAIL") return `bindhost ${l.bindhost} is not an address of this machine`;
  if (code === "ENODEV") return `interface ${l.bindinterface} does not exist`;
  return e.message;
}

export class LinkSockets {
  /** Each link's address family (of its peer, or of its bindhost). */
  readonly families: Array<4 | 6> = [];
  private readonly bindings: Array<Binding | undefined> = [];
  private readonly resolving = new Set<number>();
  /** Set at shutdown: no socket is opened any more. */
  stopping = false;
  /** When we last closed a socket (clock ms): its port may be held a moment longer (PORT_RELEASE_MS). */
  private closedMs = Number.NEGATIVE_INFINITY;
  /** The address watch: opened with the first client link bound to an address or interface. */
  private watching: "no" | "yes" | "failed" = "no";

  constructor(
    private readonly mode: Mode,
    private readonly tunnel: () => Tunnel,
    private readonly driver: Driver,
    private readonly factory: SocketFactory,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** From the driver: a send on link i failed with `error`. */
  sendError(i: number, error: string): void {
    const b = this.bindings[i];
    if (b && BINDING_GONE.has(error)) b.stale = true;
  }

  private where(l: LinkConfig, s: LinkSocket): string {
    return `${s.localAddress}:${s.localPort}${l.bindinterface ? ` on ${l.bindinterface}` : ""}${this.mode === "client" ? ` → ${l.remotehost}:${l.remoteport}` : ""}`;
  }

  /** Opens link i's socket on its bindhost (or the wildcard) and bindinterface; throws the bind error. */
  private async open(i: number, l: LinkConfig, family: 4 | 6): Promise<LinkSocket> {
    const ifindex = l.bindinterface ? ifNameToIndex(l.bindinterface) : undefined;
    const options = { hostname: bindAddress(l.bindhost, family), port: l.bindport ?? 0, device: l.bindinterface, bufferBytes: l.socket_buffer, ...this.driver.receiver(i) };
    let socket: LinkSocket;
    for (;;) {
      try {
        socket = await this.factory.open(options);
        break;
      } catch (e) {
        const released = (e as NodeJS.ErrnoException).code === "EADDRINUSE" && this.clock.now() - this.closedMs < PORT_RELEASE_MS;
        if (!released || this.stopping) throw e;
        await new Promise((resolve) => setTimeout(resolve, PORT_RETRY_MS));
      }
    }
    this.driver.setSocket(i, socket);
    this.bindings[i] = { ifindex, stale: false, busy: false };
    return socket;
  }

  /** Logs once what link i waits for (its address or interface), until it is bound again. */
  private waiting(i: number, l: LinkConfig, why: string): void {
    const b = (this.bindings[i] ??= { stale: true, busy: false });
    if (b.waiting === undefined) this.log.warn("net", `[${l.name}] ${why}: waiting for it (tried again on every reconnect attempt)`);
    b.waiting = why;
  }

  /** A client link bound to an address or an interface: whether it has none to send from now (why). */
  private sourceGone(i: number, l: LinkConfig): string | undefined {
    if (this.mode !== "client" || (!l.bindhost && !l.bindinterface)) return undefined;
    if (l.bindinterface && !ifNameToIndex(l.bindinterface)) return `interface ${l.bindinterface} is gone`;
    return sourceGone(l, this.families[i] ?? 4, networkInterfaces());
  }

  /** Client: from the first link bound to an address or an interface on, address changes are watched. */
  private watchAddresses(l: LinkConfig): void {
    if (this.mode !== "client" || this.watching !== "no" || (!l.bindhost && !l.bindinterface)) return;
    try {
      this.driver.watchSource(openAddressWatch(() => this.addressesChanged()));
      this.watching = "yes";
    } catch (e) {
      this.watching = "failed";
      this.log.warn("net", `cannot watch this machine's addresses (${(e as Error).message}): a link whose bindhost or bindinterface loses its address is noticed on its next reconnect attempt only`);
    }
  }

  /**
   * The machine's addresses or interfaces changed: a link that lost its source address stops
   * sending and goes down now, one that has it again is opened again now. Called from the
   * driver's drain, outside the core.
   */
  private addressesChanged(): void {
    if (this.stopping) return;
    const links = this.tunnel().links;
    for (const link of links) {
      const i = link.index;
      const l = link.config;
      const b = this.bindings[i];
      if (!b || (!l.bindhost && !l.bindinterface)) continue;
      const gone = this.sourceGone(i, l);
      if (gone === undefined) {
        if (!this.driver.socket(i) || b.stale) void this.rebind(i);
      } else if (this.driver.socket(i)) {
        this.closeSocket(i);
        b.stale = true;
        this.waiting(i, l, gone);
        this.tunnel().linkSendFailed(i, `no source address: ${gone}`, this.clock.now());
      }
    }
  }

  /** Binds link i's socket (throws "[name] cannot bind …") and gives the core its peer. */
  async bind(i: number, l: LinkConfig, family: 4 | 6, peer: PeerAddress | undefined): Promise<void> {
    this.families[i] = family;
    const port = l.bindport ?? 0;
    this.watchAddresses(l);
    const gone = this.sourceGone(i, l);
    if (gone !== undefined) {
      // Bound to the wildcard address on an interface without one, it would send from another's.
      this.waiting(i, l, gone);
      if (peer) this.tunnel().setPeer(i, peer, this.clock.now());
      return;
    }
    try {
      const s = await this.open(i, l, family);
      this.log.info("net", `[${l.name}] ${this.mode === "client" ? this.where(l, s) : `listening on ${this.where(l, s)}`}`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A client uplink that is down at start (PPPoE, LTE) comes later: wait for it.
      if (this.mode === "client" && code && NOT_THERE_YET.has(code)) this.waiting(i, l, whyNotBound(l, e as Error));
      else throw new Error(`[${l.name}] cannot bind ${bindAddress(l.bindhost, family)}:${port}${l.bindinterface ? ` on ${l.bindinterface}` : ""}: ${bindFailure(e as Error, port)}`);
    }
    if (peer) this.tunnel().setPeer(i, peer, this.clock.now());
  }

  /** Link i is gone (removed, or rebound): its socket is closed. */
  close(i: number): void {
    this.closeSocket(i);
    this.bindings[i] = undefined;
  }

  private closeSocket(i: number): void {
    if (this.driver.socket(i)) this.closedMs = this.clock.now();
    this.driver.closeSocket(i);
  }

  /** A client link's reconnect attempt: a new socket if needed, and its server's name again. */
  reconnecting(i: number, afterInput: () => void): void {
    void this.rebind(i);
    void this.reResolve(i, afterInput);
  }

  /**
   * On a client link's reconnect attempt: opens its socket again if its bindhost or
   * bindinterface went away (a send failed), the interface was made again (a new index), or
   * the first bind is still waiting. A link without either keeps its wildcard socket.
   */
  private async rebind(i: number): Promise<void> {
    const l = this.tunnel().linkAt(i)?.config;
    const b = this.bindings[i];
    if (!l || !b || b.busy || this.stopping || (!l.bindhost && !l.bindinterface)) return;
    const ifindex = l.bindinterface ? ifNameToIndex(l.bindinterface) : undefined;
    // Called from within the core (its reconnect attempt): the link is down already, only its
    // socket is closed here when its source address is gone.
    const gone = this.sourceGone(i, l);
    if (gone === undefined && this.driver.socket(i) && !b.stale && ifindex === b.ifindex) return;
    this.closeSocket(i); // out of the poll set before its fd is closed
    if (gone !== undefined) {
      b.stale = true;
      return this.waiting(i, l, gone);
    }
    b.busy = true;
    let socket: LinkSocket;
    try {
      socket = await this.open(i, l, this.families[i] ?? 4);
    } catch (e) {
      b.busy = false;
      return this.waiting(i, l, whyNotBound(l, e as Error));
    }
    if (this.stopping || this.tunnel().linkAt(i)?.config !== l) {
      // Stopped or reloaded meanwhile: this socket is nobody's.
      if (this.driver.socket(i) === socket) this.closeSocket(i);
      else socket.close();
      return;
    }
    const lost = this.sourceGone(i, l);
    if (lost !== undefined) {
      // Gone again while the socket was being opened.
      this.closeSocket(i);
      this.bindings[i]!.stale = true;
      return this.waiting(i, l, lost);
    }
    this.log.info("net", `[${l.name}] bound again: ${this.where(l, socket)}`);
  }

  private async reResolve(i: number, afterInput: () => void): Promise<void> {
    const l = this.tunnel().linkAt(i)?.config;
    if (!l || this.mode !== "client" || this.resolving.has(i) || isIP(l.remotehost!)) return;
    this.resolving.add(i);
    try {
      const r = await resolveHost(l.remotehost!, this.families[i]);
      this.tunnel().setPeer(i, { address: r.address, port: l.remoteport! }, this.clock.now());
      afterInput();
    } catch (e) {
      this.log.warn("dns", `[${l.name}] cannot resolve ${l.remotehost}: ${(e as Error).message}`);
    } finally {
      this.resolving.delete(i);
    }
  }
}
