/**
 * The composition root: from a validated Config, opens the tun device and one UDP socket per
 * link, builds the sans-I/O Tunnel and wires them with one timer, the status-script runner and
 * the signals. Everything protocol-related happens in src/core; this file only moves bytes and
 * events between the core and the operating system.
 */
import { lookup } from "node:dns/promises";
import { chownSync } from "node:fs";
import { isIP } from "node:net";
import { resolve as resolvePath } from "node:path";
import type { CliOptions } from "./cli.ts";
import type { Config, LinkConfig } from "./config/schema.ts";
import { handshakeSecrets, nativeHandshakeCrypto } from "./core/handshake.ts";
import { STATUS_TEXT } from "./core/link.ts";
import { tunnelMtu } from "./core/mtu.ts";
import { type PeerAddress, Tunnel, type TunnelEvent } from "./core/tunnel.ts";
import { aeadBackend } from "./crypto/aead.ts";
import { installNativeAead } from "./io/libcrypto.ts";
import { type ControlServer, ControlStartError, listenersOf, startControl } from "./control/server.ts";
import { HookHelperClient } from "./io/hook-client.ts";
import { HookRunner, hookEnv } from "./io/hooks.ts";
import { dropPrivileges, type UnixUser, userToDropTo } from "./io/privileges.ts";
import type { ServiceStatus } from "./io/service-status.ts";
import { startTunReader, type TunReader } from "./io/tun-reader.ts";
import { openTun, type TunDevice } from "./io/tun.ts";
import { ifNameToIndex } from "./io/libc.ts";
import { type LinkSocket, openLinkSocket } from "./io/udp.ts";
import type { Logger } from "./log.ts";
import { applyReload } from "./reload.ts";
import { compileFilterRules } from "./core/filters.ts";
import type { StatusDocument } from "./control/contract.ts";
import { buildStatus, statusJson } from "./control/document.ts";
import { buildMetrics } from "./control/metrics.ts";
import { statusPageHtml } from "./control/page.ts";
import { VERSION } from "./version.ts";

/** Send errors that mean the link's path is gone (interface down, address removed). */
const LINK_GONE = new Set(["ENETUNREACH", "EHOSTUNREACH", "ENETDOWN", "EADDRNOTAVAIL", "EPERM", "ENODEV", "ENXIO", "EINVAL"]);
/** Send errors that mean the socket's own address or interface is gone: it is opened again. */
const BINDING_GONE = new Set(["EADDRNOTAVAIL", "EINVAL", "ENODEV", "ENXIO"]);
/** Bind errors a client link waits out: its bindhost or bindinterface is not there (yet). */
const NOT_THERE_YET = new Set(["EADDRNOTAVAIL", "ENODEV"]);

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
/** The status scripts get this long to finish at shutdown. */
const SHUTDOWN_HOOKS_MS = 35_000;

const now = () => performance.now();

export class StartError extends Error {}

/** Why a bind failed, with the likely cause when it is a privileged port after the privilege drop. */
function bindFailure(e: Error, port: number): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "EACCES" && port > 0 && port < 1024 && process.getuid?.() !== 0) {
    return `port ${port} is below 1024 and mlvpn no longer runs as root (it dropped its privileges after start-up): use a port ≥ 1024, or restart mlvpn to bind it`;
  }
  return e.message;
}

interface Running {
  stop(): Promise<void>;
  stopped: Promise<void>;
  /**
   * Why the daemon stopped by itself (the tun device failed), or undefined after a requested
   * stop: the process then exits with a failure status, so that a supervisor
   * (systemd Restart=on-failure, procd) starts it again.
   */
  readonly failure: string | undefined;
  /** Applies a validated configuration read again (SIGHUP); reloads run one at a time. */
  reload(next: Config): Promise<void>;
  /** Set once privileges are dropped: the root hook helper reads the configuration file. */
  readConfig?(): Promise<{ text: string; valid: boolean }>;
  /** Counts a reload refused before it reached the daemon (a file with errors). */
  refused(): void;
  /** The /status document now. */
  status(): StatusDocument;
}

/** Picks the local address to bind: bindhost, else the wildcard of the peer's family. */
function bindAddress(bindhost: string | undefined, peerFamily: 4 | 6): string {
  if (bindhost) return bindhost;
  return peerFamily === 6 ? "::" : "0.0.0.0";
}

async function resolve(host: string, family?: 4 | 6): Promise<{ address: string; family: 4 | 6 }> {
  const literal = isIP(host);
  if (literal) return { address: host, family: literal as 4 | 6 };
  const r = await lookup(host, family ? { family } : {});
  return { address: r.address, family: r.family as 4 | 6 };
}

export async function startDaemon(config: Config, options: CliOptions, log: Logger, service?: ServiceStatus): Promise<Running> {
  if (process.platform !== "linux") throw new StartError(`mlvpn runs on Linux only (this is ${process.platform})`);
  let dropTo: UnixUser | undefined;
  try {
    dropTo = userToDropTo(options, (m) => log.warn("", m));
  } catch (e) {
    throw new StartError((e as Error).message);
  }
  const g = config.general;
  const mode = g.mode;

  // Client links need the server's address family before binding.
  async function resolveLink(l: LinkConfig): Promise<{ family: 4 | 6; peer?: PeerAddress }> {
    const host = mode === "client" ? l.remotehost! : l.bindhost;
    // "::" also receives IPv4 on a dual-stack socket
    if (!host) return { family: mode === "server" ? 6 : 4 };
    try {
      const r = await resolve(host);
      return { family: r.family, peer: mode === "client" ? { address: r.address, port: l.remoteport! } : undefined };
    } catch (e) {
      log.warn("dns", `[${l.name}] cannot resolve ${host} yet (${(e as Error).message}); retrying on every connection attempt`);
      return { family: 4 };
    }
  }
  const families: Array<4 | 6> = [];
  const peers: Array<PeerAddress | undefined> = [];
  for (const l of config.links) {
    const r = await resolveLink(l);
    families.push(r.family);
    peers.push(r.peer);
  }

  const mtu = tunnelMtu({ configured: g.mtu, ipv6Links: families.includes(6) && mode === "client", kind: g.tuntap });
  if (mtu.warning) log.warn("tuntap", mtu.warning);
  // The password is stretched for the server's salt: by the server at start, by the client when
  // it learns the salt (first handshake, and after a server restart).
  const handshakeCrypto = {
    scalarMult: nativeHandshakeCrypto.scalarMult,
    stretch(password: Uint8Array, salt: Uint8Array): Uint8Array {
      const started = now();
      const prs = nativeHandshakeCrypto.stretch(password, salt);
      log.debug("protocol", `key derived from the password for the server's salt in ${Math.round(now() - started)} ms`);
      return prs;
    },
  };
  installNativeAead();
  log.debug("protocol", `${g.cipher} from ${aeadBackend(g.cipher)}`);

  let tun: TunDevice;
  try {
    tun = openTun({ name: g.interface_name, kind: g.tuntap, mtu: mtu.mtu });
  } catch (e) {
    throw new StartError((e as Error).message);
  }
  log.info("tuntap", `${g.tuntap} device ${tun.name} created, MTU ${mtu.mtu}`);

  // Once privileges are dropped, the status scripts run as root in the hook helper, started now;
  // it also reads the (root-only) configuration again on SIGHUP.
  let hookHelper: HookHelperClient | undefined;
  try {
    if (dropTo) hookHelper = await HookHelperClient.start({ configFile: resolvePath(config.file), format: config.format, device: tun.name, tunMtu: mtu.mtu }, log);
  } catch (e) {
    tun.close();
    throw new StartError((e as Error).message);
  }
  const hooks = g.statuscommand && hookHelper ? hookHelper : new HookRunner(g.statuscommand, hookEnv(g, tun.name, mtu.mtu), log);

  const sockets: Array<LinkSocket | undefined> = [];
  /** Reads the tun and the sockets (created once the sockets are bound). */
  let reader: TunReader | undefined;
  const socketFds = () => sockets.flatMap((s) => (s && s.fd >= 0 ? [s.fd] : []));
  const bindings: Array<Binding | undefined> = [];
  const sendFailures: Array<[number, string]> = [];
  let tunnel: Tunnel;
  let tunWriteDrops = 0;
  let linksChanged = false;

  const onEvent = (e: TunnelEvent): void => {
    if (e.type !== "resolve") linksChanged = true; // shown by afterInput, once the core is done
    switch (e.type) {
      case "link-up":
        log.info("protocol", `[${tunnel.nameOf(e.link)}] link up`);
        return hooks.run([tun.name, "rtun_up", tunnel.nameOf(e.link)]);
      case "link-down":
        log.warn("protocol", `[${tunnel.nameOf(e.link)}] link down: ${e.reason}`);
        return hooks.run([tun.name, "rtun_down", tunnel.nameOf(e.link)]);
      case "tunnel-up":
        log.info("tuntap", "tunnel up");
        return hooks.run([tun.name, "tuntap_up"]);
      case "tunnel-down":
        log.warn("tuntap", "tunnel down: no link is up");
        return hooks.run([tun.name, "tuntap_down"]);
      case "link-status":
        return log.debug("protocol", `[${tunnel.nameOf(e.link)}] ${STATUS_TEXT[e.status]}`);
      case "resolve":
        // Every reconnect attempt of a client link: its socket too may need opening again.
        void rebind(e.link);
        return void reResolve(e.link);
    }
  };

  tunnel = new Tunnel({
    mode,
    links: config.links,
    secrets: handshakeSecrets(g.password, g.cipher, handshakeCrypto),
    cleartextData: g.cleartext_data,
    reorderBufferSize: g.reorder_buffer_size,
    maxPacketSize: mtu.maxPacket,
    kind: g.tuntap,
    filters: compileFilterRules(config.filters, g.tuntap),
    random: { fill: (b) => void crypto.getRandomValues(b) },
    nowMs: now(),
    output: {
      transmit(link, datagram, peer) {
        const err = sockets[link]?.send(datagram, peer.address, peer.port);
        // Reported after the current input: the core is not re-entered from its own output.
        if (err && LINK_GONE.has(err)) sendFailures.push([link, err]);
        if (err && BINDING_GONE.has(err) && bindings[link]) bindings[link].stale = true;
      },
      deliver(packet) {
        if (!tun.write(packet)) tunWriteDrops++;
      },
      event: onEvent,
      log: (level, token, message) => log[level](token, message),
    },
  });

  const resolving = new Set<number>();
  async function reResolve(i: number): Promise<void> {
    const l = tunnel.linkAt(i)?.config;
    if (!l || mode !== "client" || resolving.has(i) || isIP(l.remotehost!)) return;
    resolving.add(i);
    try {
      const r = await resolve(l.remotehost!, families[i]);
      tunnel.setPeer(i, { address: r.address, port: l.remoteport! }, now());
      afterInput();
    } catch (e) {
      log.warn("dns", `[${l.name}] cannot resolve ${l.remotehost}: ${(e as Error).message}`);
    } finally {
      resolving.delete(i);
    }
  }

  // ---- the one timer, re-armed only when the core's next deadline moves earlier
  let timer: ReturnType<typeof setTimeout> | undefined;
  let armedAt = Number.POSITIVE_INFINITY;
  let stopping = false;
  const onTimer = (): void => {
    armedAt = Number.POSITIVE_INFINITY;
    timer = undefined;
    tunnel.handleTimeout(now());
    afterInput();
  };
  function afterInput(): void {
    while (sendFailures.length > 0) {
      const [link, err] = sendFailures.shift()!;
      tunnel.linkSendFailed(link, err, now());
    }
    if (stopping) return;
    if (linksChanged) {
      linksChanged = false;
      service?.changed(tunnel.snapshot().links);
    }
    const next = tunnel.nextTimeout();
    if (next >= armedAt) return;
    if (timer) clearTimeout(timer);
    armedAt = next;
    timer = setTimeout(onTimer, Math.max(0, next - now()));
  }

  /** Opens link i's socket on its bindhost (or the wildcard) and bindinterface; throws the bind error. */
  async function openSocket(i: number, l: LinkConfig, family: 4 | 6): Promise<LinkSocket> {
    const ifindex = l.bindinterface ? ifNameToIndex(l.bindinterface) : undefined;
    // The core only reads the source during the call (it copies what it keeps): one object per link.
    const from: PeerAddress = { address: "", port: 0 };
    const socket = await openLinkSocket({
      hostname: bindAddress(l.bindhost, family),
      port: l.bindport ?? 0,
      device: l.bindinterface,
      // Each datagram comes in a buffer of its own, so the core may decrypt in place and keep
      // views into it (held by the reorder buffer).
      onDatagram(bytes, address, srcPort) {
        from.address = address;
        from.port = srcPort;
        tunnel.handleDatagram(i, bytes, from, now());
      },
      // Datagrams read by the poll loop are followed by afterInput at the end of its drain.
      afterDatagrams: afterInput,
    });
    sockets[i] = socket;
    bindings[i] = { ifindex, stale: false, busy: false };
    reader?.watch(socketFds());
    return socket;
  }

  const where = (l: LinkConfig, s: LinkSocket) =>
    `${s.localAddress}:${s.localPort}${l.bindinterface ? ` on ${l.bindinterface}` : ""}${mode === "client" ? ` → ${l.remotehost}:${l.remoteport}` : ""}`;

  /** Why link i's socket cannot be opened, in words. */
  function whyNotBound(l: LinkConfig, e: Error): string {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EADDRNOTAVAIL") return `bindhost ${l.bindhost} is not an address of this machine`;
    if (code === "ENODEV") return `interface ${l.bindinterface} does not exist`;
    return e.message;
  }

  /** Logs once what link i waits for (its address or interface), until it is bound again. */
  function waiting(i: number, l: LinkConfig, why: string): void {
    const b = (bindings[i] ??= { stale: true, busy: false });
    if (b.waiting === undefined) log.warn("net", `[${l.name}] ${why}: waiting for it (tried again on every reconnect attempt)`);
    b.waiting = why;
  }

  /** Binds link i's socket (throws "[name] cannot bind …") and gives the core its peer. */
  async function bindLink(i: number, l: LinkConfig, family: 4 | 6, peer: PeerAddress | undefined): Promise<void> {
    const hostname = bindAddress(l.bindhost, family);
    const port = l.bindport ?? 0;
    try {
      await openSocket(i, l, family);
      log.info("net", `[${l.name}] ${mode === "client" ? where(l, sockets[i]!) : `listening on ${where(l, sockets[i]!)}`}`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A client uplink that is down at start (PPPoE, LTE) comes later: wait for it.
      if (mode === "client" && code && NOT_THERE_YET.has(code)) waiting(i, l, whyNotBound(l, e as Error));
      else throw new Error(`[${l.name}] cannot bind ${hostname}:${port}${l.bindinterface ? ` on ${l.bindinterface}` : ""}: ${bindFailure(e as Error, port)}`);
    }
    if (peer) tunnel.setPeer(i, peer, now());
  }

  /**
   * On a client link's reconnect attempt: opens its socket again if its bindhost or
   * bindinterface went away (a send failed), the interface was made again (a new index), or
   * the first bind is still waiting. A link without either keeps its wildcard socket.
   */
  async function rebind(i: number): Promise<void> {
    const l = tunnel.linkAt(i)?.config;
    const b = bindings[i];
    if (!l || !b || b.busy || stopping || (!l.bindhost && !l.bindinterface)) return;
    const ifindex = l.bindinterface ? ifNameToIndex(l.bindinterface) : undefined;
    if (sockets[i] && !b.stale && ifindex === b.ifindex) return;
    const old = sockets[i];
    sockets[i] = undefined;
    reader?.watch(socketFds()); // out of the poll set before its fd is closed
    old?.close();
    if (l.bindinterface && !ifindex) return waiting(i, l, `interface ${l.bindinterface} is gone`);
    b.busy = true;
    let socket: LinkSocket;
    try {
      socket = await openSocket(i, l, families[i] ?? 4);
    } catch (e) {
      b.busy = false;
      return waiting(i, l, whyNotBound(l, e as Error));
    }
    if (stopping || tunnel.linkAt(i)?.config !== l) {
      // Stopped or reloaded meanwhile: this socket is nobody's.
      if (sockets[i] === socket) sockets[i] = undefined;
      reader?.watch(socketFds());
      socket.close();
      return;
    }
    log.info("net", `[${l.name}] bound again: ${where(l, socket)}`);
  }

  for (let i = 0; i < config.links.length; i++) {
    try {
      await bindLink(i, config.links[i]!, families[i]!, peers[i]);
    } catch (e) {
      for (const s of sockets) s?.close();
      tun.close();
      hookHelper?.close();
      throw new StartError((e as Error).message);
    }
  }

  // Core times are performance.now() values: timeOrigin (the process start) turns them into epoch.
  const startedEpochMs = performance.timeOrigin;
  let lastReloadEpochMs = startedEpochMs; // set by a successful reload
  let running = config; // what is in effect: the start-up configuration, then each reload's
  let reloadsRefused = 0;
  let reloadsApplied = 0;
  let failure: string | undefined;
  const status = (): StatusDocument =>
    buildStatus(
      tunnel.snapshot(),
      running,
      { instance: options.name, version: VERSION, pid: process.pid, startedEpochMs, lastReloadEpochMs, deviceName: tun.name, coreToEpochMs: performance.timeOrigin, shellDrops: { "tun-write": tunWriteDrops }, controlRejected: control.rejected, reloadsRefused, reloadsApplied },
      Date.now(),
    );
  let control: ControlServer;
  try {
    control = await startControl({ ...listenersOf(g), content: { status: () => statusJson(status()), metrics: () => buildMetrics(status()), page: statusPageHtml }, log });
  } catch (e) {
    for (const s of sockets) s?.close();
    tun.close();
    hookHelper?.close();
    throw e instanceof ControlStartError ? new StartError(e.message) : e;
  }

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));

  reader = startTunReader(tun, {
    onPacket(view) {
      tunnel.handleTunPacket(view, now());
    },
    drainOthers(max) {
      let n = 0;
      for (const s of sockets) if (s) n += s.drain(max);
      return n;
    },
    onDrainEnd: afterInput,
    onError(e) {
      log.error("tuntap", `reading ${tun.name} failed: ${e.message}; stopping`);
      failure ??= `reading ${tun.name} failed: ${e.message}`;
      void stop();
    },
  });
  reader.watch(socketFds());
  afterInput();
  // Last step of start-up: everything that needs root (tun, sockets, hook helper) is open.
  if (dropTo) {
    try {
      // The control socket belongs to the user mlvpn runs as (and, with a directory it owns,
      // such as the tmpfiles entry's /run/mlvpn, is removed at exit).
      if (g.control_unix_path) chownSync(g.control_unix_path, dropTo.uid, dropTo.gid);
      dropPrivileges(dropTo);
    } catch (e) {
      await stop();
      throw new StartError((e as Error).message);
    }
    log.info("", `running as ${dropTo.name} (uid ${dropTo.uid}, gid ${dropTo.gid})${hookHelper ? "; status scripts run as root in the hook helper" : ""}`);
  }
  log.info("", `mlvpn ${mode} started with ${config.links.length} link${config.links.length === 1 ? "" : "s"}`);
  service?.ready(tunnel.snapshot().links);

  let reloading = Promise.resolve();
  const reloadTarget = {
    tunnel,
    now,
    async openLink(l: LinkConfig): Promise<number> {
      const i = tunnel.addLink(l, now());
      const r = await resolveLink(l);
      families[i] = r.family;
      try {
        await bindLink(i, l, r.family, r.peer);
      } catch (e) {
        tunnel.removeLink(i, now());
        throw e;
      }
      afterInput();
      return i;
    },
    closeLink(i: number, reason?: string): boolean {
      const disconnected = tunnel.removeLink(i, now(), reason);
      // The DISCONNECT went out synchronously above: the socket can go (out of the poll set first).
      const socket = sockets[i];
      sockets[i] = undefined;
      reader?.watch(socketFds());
      socket?.close();
      bindings[i] = undefined;
      afterInput();
      return disconnected;
    },
  };
  function reload(next: Config): Promise<void> {
    reloading = reloading
      .then(async () => {
        if (stopping) return;
        running = await applyReload(running, next, reloadTarget, log);
        lastReloadEpochMs = Date.now();
        reloadsApplied++;
      })
      .catch((e: Error) => {
        reloadsRefused++;
        log.error("config", `reload failed: ${e.message}; the links not yet changed keep their old settings`);
      });
    return reloading;
  }

  async function stop(): Promise<void> {
    if (stopping) return stopped;
    stopping = true;
    service?.stopping();
    // A reload still binding a socket finishes first, so that the socket is closed below too.
    await reloading;
    if (timer) clearTimeout(timer);
    control.close();
    tunnel.shutdown(now());
    let giveUp: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([hooks.idle(), new Promise<void>((r) => (giveUp = setTimeout(r, SHUTDOWN_HOOKS_MS)))]);
    clearTimeout(giveUp); // a pending timer would keep the process alive
    hookHelper?.close();
    log.debug("", "stopping: status scripts done");
    await reader?.stop();
    log.debug("", "stopping: tun reader stopped");
    for (const s of sockets) s?.close();
    tun.close();
    if (tunWriteDrops > 0) log.info("tuntap", `${tunWriteDrops} packets could not be written to ${tun.name}`);
    resolveStopped();
    return stopped;
  }

  return {
    stop,
    stopped,
    get failure() {
      return failure;
    },
    reload,
    status,
    refused: () => void reloadsRefused++,
    readConfig: hookHelper ? () => hookHelper.reload() : undefined,
  };
}
