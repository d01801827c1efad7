/**
 * The composition root: from a validated Config, opens the tun device and one UDP socket per
 * link, builds the sans-I/O Tunnel and wires them with one timer, the status-script runner and
 * the signals. Everything protocol-related happens in src/core; this file only moves bytes and
 * events between the core and the operating system.
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { CliOptions } from "./cli.ts";
import type { Config } from "./config/schema.ts";
import { handshakeSecrets } from "./core/handshake.ts";
import { STATUS_TEXT } from "./core/link.ts";
import { DEFAULT_SCRIPT_MTU } from "./config/schema.ts";
import { tunnelMtu } from "./core/mtu.ts";
import { type PeerAddress, Tunnel, type TunnelEvent } from "./core/tunnel.ts";
import { passwordKey } from "./crypto/primitives.ts";
import { type ControlServer, ControlStartError, listenersOf, startControl } from "./io/control.ts";
import { HookRunner } from "./io/hooks.ts";
import { startTunReader, type TunReader } from "./io/tun-reader.ts";
import { openTun, type TunDevice } from "./io/tun.ts";
import { type LinkSocket, openLinkSocket } from "./io/udp.ts";
import type { Logger } from "./log.ts";
import type { StatusDocument } from "./status/contract.ts";
import { buildStatus, statusJson } from "./status/document.ts";
import { buildMetrics } from "./status/metrics.ts";
import { statusPageHtml } from "./status/page.ts";
import { VERSION } from "./version.ts";
import { LABEL_PASSWORD_SALT } from "./wire/layout.ts";

/** Send errors that mean the link's path is gone (interface down, address removed). */
const LINK_GONE = new Set(["ENETUNREACH", "EHOSTUNREACH", "ENETDOWN", "EADDRNOTAVAIL", "EPERM"]);
/** The status scripts get this long to finish at shutdown. */
const SHUTDOWN_HOOKS_MS = 35_000;

const now = () => performance.now();

export class StartError extends Error {}

interface Running {
  stop(): Promise<void>;
  stopped: Promise<void>;
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

export async function startDaemon(config: Config, options: CliOptions, log: Logger): Promise<Running> {
  if (process.platform !== "linux") throw new StartError(`mlvpn runs on Linux only (this is ${process.platform})`);
  if (process.getuid?.() === 0 && !options.yesRunAsRoot) {
    throw new StartError("running as root: dropping privileges to --user is not implemented yet; start with --yes-run-as-root to keep root");
  }
  const g = config.general;
  const mode = g.mode;

  // Client links need the server's address family before binding.
  const families: Array<4 | 6> = [];
  const peers: Array<PeerAddress | undefined> = [];
  for (const l of config.links) {
    const host = mode === "client" ? l.remotehost! : l.bindhost;
    let family: 4 | 6 = 4;
    let peer: PeerAddress | undefined;
    if (host) {
      try {
        const r = await resolve(host);
        family = r.family;
        if (mode === "client") peer = { address: r.address, port: l.remoteport! };
      } catch (e) {
        log.warn("dns", `[${l.name}] cannot resolve ${host} yet (${(e as Error).message}); retrying on every connection attempt`);
      }
    } else if (mode === "server") {
      family = 6; // "::" also receives IPv4 on a dual-stack socket
    }
    families.push(family);
    peers.push(peer);
  }

  const mtu = tunnelMtu({ configured: g.mtu, ipv6Links: families.includes(6) && mode === "client", kind: g.tuntap });
  if (mtu.warning) log.warn("tuntap", mtu.warning);
  const started = now();
  const psk = passwordKey(g.password, new TextEncoder().encode(LABEL_PASSWORD_SALT));
  log.debug("protocol", `key derived from the password in ${Math.round(now() - started)} ms`);

  let tun: TunDevice;
  try {
    tun = openTun({ name: g.interface_name, kind: g.tuntap, mtu: mtu.mtu });
  } catch (e) {
    throw new StartError((e as Error).message);
  }
  log.info("tuntap", `${g.tuntap} device ${tun.name} created, MTU ${mtu.mtu}`);

  const hooks = new HookRunner(
    g.statuscommand,
    {
      IP4: g.ip4 ?? "",
      IP6: g.ip6 ?? "",
      IP4_GATEWAY: g.ip4_gateway ?? "",
      IP6_GATEWAY: g.ip6_gateway ?? "",
      IP4_ROUTES: g.ip4_routes ?? "",
      IP6_ROUTES: g.ip6_routes ?? "",
      DEVICE: tun.name,
      MTU: String(g.mtu ?? (mtu.mtu || DEFAULT_SCRIPT_MTU)),
    },
    log,
  );

  const sockets: Array<LinkSocket | undefined> = [];
  const sendFailures: Array<[number, string]> = [];
  let tunnel: Tunnel;
  let tunWriteDrops = 0;

  const onEvent = (e: TunnelEvent): void => {
    switch (e.type) {
      case "link-up":
        log.info("protocol", `[${config.links[e.link]!.name}] link up`);
        return hooks.run([tun.name, "rtun_up", config.links[e.link]!.name]);
      case "link-down":
        log.warn("protocol", `[${config.links[e.link]!.name}] link down: ${e.reason}`);
        return hooks.run([tun.name, "rtun_down", config.links[e.link]!.name]);
      case "tunnel-up":
        log.info("tuntap", "tunnel up");
        return hooks.run([tun.name, "tuntap_up"]);
      case "tunnel-down":
        log.warn("tuntap", "tunnel down: no link is up");
        return hooks.run([tun.name, "tuntap_down"]);
      case "link-status":
        return log.debug("protocol", `[${config.links[e.link]!.name}] ${STATUS_TEXT[e.status]}`);
      case "resolve":
        return void reResolve(e.link);
    }
  };

  tunnel = new Tunnel({
    mode,
    links: config.links,
    secrets: handshakeSecrets(psk, g.cipher),
    cleartextData: g.cleartext_data,
    reorderBufferSize: g.reorder_buffer_size,
    maxPacketSize: mtu.maxPacket,
    kind: g.tuntap,
    random: { fill: (b) => void crypto.getRandomValues(b) },
    nowMs: now(),
    output: {
      transmit(link, datagram, peer) {
        const err = sockets[link]?.send(datagram, peer.address, peer.port);
        // Reported after the current input: the core is not re-entered from its own output.
        if (err && LINK_GONE.has(err)) sendFailures.push([link, err]);
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
    const l = config.links[i]!;
    if (mode !== "client" || resolving.has(i) || isIP(l.remotehost!)) return;
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
    const next = tunnel.nextTimeout();
    if (next >= armedAt) return;
    if (timer) clearTimeout(timer);
    armedAt = next;
    timer = setTimeout(onTimer, Math.max(0, next - now()));
  }

  for (let i = 0; i < config.links.length; i++) {
    const l = config.links[i]!;
    const hostname = bindAddress(l.bindhost, families[i]!);
    const port = l.bindport ?? 0;
    try {
      sockets[i] = await openLinkSocket({
        hostname,
        port,
        // Bun hands each datagram over in a fresh buffer, so the core may keep views into it
        // (held by the reorder buffer in cleartext_data mode).
        onDatagram(bytes, address, srcPort) {
          tunnel.handleDatagram(i, bytes, { address, port: srcPort }, now());
          afterInput();
        },
      });
    } catch (e) {
      for (const s of sockets) s?.close();
      tun.close();
      throw new StartError(`[${l.name}] cannot bind ${hostname}:${port}: ${(e as Error).message}`);
    }
    log.info("net", `[${l.name}] ${mode === "client" ? `${sockets[i]!.localAddress}:${sockets[i]!.localPort} → ${l.remotehost}:${l.remoteport}` : `listening on ${sockets[i]!.localAddress}:${sockets[i]!.localPort}`}`);
    const peer = peers[i];
    if (peer) tunnel.setPeer(i, peer, now());
  }

  // Core times are performance.now() values: timeOrigin (the process start) turns them into epoch.
  const startedEpochMs = performance.timeOrigin;
  let lastReloadEpochMs = startedEpochMs; // set by a successful reload
  const status = (): StatusDocument =>
    buildStatus(
      tunnel.snapshot(),
      config,
      { instance: options.name, version: VERSION, pid: process.pid, startedEpochMs, lastReloadEpochMs, deviceName: tun.name, coreToEpochMs: performance.timeOrigin, shellDrops: { "tun-write": tunWriteDrops } },
      Date.now(),
    );
  let control: ControlServer;
  try {
    control = await startControl({ ...listenersOf(g), content: { status: () => statusJson(status()), metrics: () => buildMetrics(status()), page: statusPageHtml }, log });
  } catch (e) {
    for (const s of sockets) s?.close();
    tun.close();
    throw e instanceof ControlStartError ? new StartError(e.message) : e;
  }

  let reader: TunReader | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));

  reader = startTunReader(tun, {
    onPacket(view) {
      tunnel.handleTunPacket(view, now());
    },
    onDrainEnd: afterInput,
    onError(e) {
      log.error("tuntap", `reading ${tun.name} failed: ${e.message}`);
      void stop();
    },
  });
  afterInput();
  log.info("", `mlvpn ${mode} started with ${config.links.length} link${config.links.length === 1 ? "" : "s"}`);

  async function stop(): Promise<void> {
    if (stopping) return stopped;
    stopping = true;
    if (timer) clearTimeout(timer);
    control.close();
    tunnel.shutdown(now());
    let giveUp: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([hooks.idle(), new Promise<void>((r) => (giveUp = setTimeout(r, SHUTDOWN_HOOKS_MS)))]);
    clearTimeout(giveUp); // a pending timer would keep the process alive
    log.debug("", "stopping: status scripts done");
    await reader?.stop();
    log.debug("", "stopping: tun reader stopped");
    for (const s of sockets) s?.close();
    tun.close();
    if (tunWriteDrops > 0) log.info("tuntap", `${tunWriteDrops} packets could not be written to ${tun.name}`);
    resolveStopped();
    return stopped;
  }

  return { stop, stopped, status };
}
