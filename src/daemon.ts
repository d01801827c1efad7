/**
 * The composition root: from a validated Config, opens the tun device and one UDP socket per
 * link, builds the sans-I/O Tunnel and hands both to the driver (src/io/driver.ts: the one
 * timer, the reads, the send failures), with the status scripts, the control server and
 * reloads around them. Everything protocol-related happens in src/core; the operating system is
 * reached through the driver's ports, which tests replace (test/integration/two-daemons.test.ts).
 *
 * Whatever is opened is registered at once in one teardown stack: a failed start and a stop
 * both undo exactly what was done, in reverse order.
 */
import { chownSync } from "node:fs";
import type { Config } from "./config/schema.ts";
import { compileFilterRules } from "./core/filters.ts";
import { compileRedundant } from "./core/redundant.ts";
import { handshakeSecrets } from "./core/handshake.ts";
import { Tunnel } from "./core/tunnel.ts";
import { aeadBackend } from "./crypto/aead.ts";
import { type StatusDocument, startStatusControl } from "./daemon/control.ts";
import { eventHandler, startHooks } from "./daemon/hooks.ts";
import { LinkSockets } from "./daemon/links.ts";
import { Reloads } from "./daemon/reloading.ts";
import { type LinkPlace, linksMtu, resolveLink, StartError, timedHandshakeCrypto } from "./daemon/setup.ts";
import { Driver, type Ports, systemPorts } from "./io/driver.ts";
import { installNativeAead } from "./io/libcrypto.ts";
import { dropPrivileges, type UnixUser, userToDropTo } from "./io/privileges.ts";
import type { ServiceStatus } from "./io/service-status.ts";
import type { TunDevice } from "./io/tun.ts";
import type { Logger } from "./log.ts";

export { StartError };
export type { Ports };

/** The status scripts get this long to finish at shutdown. */
const SHUTDOWN_HOOKS_MS = 35_000;

export interface DaemonOptions {
  /** The instance's name (`--name`), shown in /status. */
  name: string;
  /** Whom to become after start-up when started as root (`--user`). */
  user: string;
  /** Stay root (`--yes-run-as-root`). */
  yesRunAsRoot: boolean;
  /** Starts this program again: the root hook helper is this program in a hidden mode. */
  selfCommand: readonly string[];
  /** The service manager (systemd notify, process title). */
  service?: ServiceStatus;
  /** The operating system as the driver sees it; the real one by default. */
  ports?: Partial<Ports>;
  /** Runs before each key derivation from the password (16 MiB for a moment): see timedHandshakeCrypto. */
  beforeKeyDerivation?: () => void;
}

export interface Daemon {
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

/** Runs `f`; an error it throws becomes a StartError (a one-line reason for the user). */
async function starting<T>(f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw e instanceof StartError ? e : new StartError((e as Error).message);
  }
}

export async function startDaemon(config: Config, options: DaemonOptions, log: Logger): Promise<Daemon> {
  if (process.platform !== "linux") throw new StartError(`mlvpn runs on Linux only (this is ${process.platform})`);
  const ports: Ports = { ...systemPorts, ...options.ports };
  const { clock } = ports;
  const service = options.service;
  const dropTo: UnixUser | undefined = await starting(() => userToDropTo(options, (m) => log.warn("", m)));
  const g = config.general;
  const mode = g.mode;
  const places: LinkPlace[] = [];
  for (const l of config.links) places.push(await resolveLink(mode, l, log));
  const mtu = linksMtu(config, places.map((p) => p.family), log);
  installNativeAead();
  log.debug("protocol", `${g.cipher} from ${aeadBackend(g.cipher)}`);

  const teardown = new AsyncDisposableStack();
  /** A start step failed: what is open is closed, and the error goes on (a StartError when `asStart`). */
  const undo = (asStart: boolean) => async (e: unknown): Promise<never> => {
    await teardown.disposeAsync();
    throw asStart && !(e instanceof StartError) ? new StartError((e as Error).message) : e;
  };
  const tun: TunDevice = await starting(() => ports.tun.open({ name: g.interface_name, kind: g.tuntap, mtu: mtu.mtu }));
  teardown.defer(() => tun.close());
  log.info("tuntap", `${g.tuntap} device ${tun.name} created, MTU ${mtu.mtu}`);

  const { hooks, helper } = await startHooks(config, tun.name, mtu.mtu, dropTo !== undefined, options.selfCommand, log).catch(undo(true));
  teardown.defer(async () => {
    let giveUp: unknown;
    await Promise.race([hooks.idle(), new Promise<void>((r) => (giveUp = ports.timer.set(r, SHUTDOWN_HOOKS_MS)))]);
    ports.timer.clear(giveUp); // a pending timer would keep the process alive
    helper?.close();
    log.debug("", "stopping: status scripts done");
  });

  let failure: string | undefined;
  let tunnel!: Tunnel;
  const driver = new Driver(ports, tun, {
    event: (e) => onEvent(e),
    log: (level, token, message) => log[level](token, message),
    sendError: (link, error) => links.sendError(link, error),
    linksChanged: () => service?.changed(tunnel.snapshot().links),
    failed(e) {
      log.error("tuntap", `reading ${tun.name} failed: ${e.message}; stopping`);
      failure ??= `reading ${tun.name} failed: ${e.message}`;
      void stop();
    },
  });
  teardown.defer(() => {
    if (driver.tunWriteDrops > 0) log.info("tuntap", `${driver.tunWriteDrops} packets could not be written to ${tun.name}`);
  });
  const links = new LinkSockets(mode, () => tunnel, driver, ports.sockets, clock, log);
  const onEvent = eventHandler(hooks, { device: tun.name, nameOf: (i) => tunnel.nameOf(i), reconnecting: (i) => links.reconnecting(i, driver.afterInput), gone: (i) => reloads.gone(i) }, log);
  tunnel = new Tunnel({
    mode,
    links: config.links,
    secrets: handshakeSecrets(g.password, g.cipher, timedHandshakeCrypto(clock, log, undefined, options.beforeKeyDerivation), g.rekey_interval !== undefined ? g.rekey_interval * 1000 : undefined),
    cleartextData: g.cleartext_data,
    reorderBufferSize: g.reorder_buffer_size,
    maxPacketSize: mtu.maxPacket,
    kind: g.tuntap,
    filters: compileFilterRules(config.filters, g.tuntap),
    redundant: compileRedundant(g),
    random: { fill: (b) => void crypto.getRandomValues(b) },
    nowMs: clock.now(),
    output: driver.output,
  });
  driver.attach(tunnel);
  teardown.defer(() => driver.closeSockets());
  for (let i = 0; i < config.links.length; i++) await links.bind(i, config.links[i]!, places[i]!.family, places[i]!.peer).catch(undo(true));

  // Core times are clock times: originEpochMs (the process start) turns them into epoch.
  const startedEpochMs = performance.timeOrigin;
  const reloads = new Reloads(config, startedEpochMs, tunnel, links, clock, driver.afterInput, log);
  const control = await startStatusControl(config, {
    snapshot: () => tunnel.snapshot(),
    running: () => reloads.running,
    facts: () => ({
      instance: options.name, startedEpochMs, lastReloadEpochMs: reloads.lastEpochMs, deviceName: tun.name, coreToEpochMs: clock.originEpochMs,
      shellDrops: { "tun-write": driver.tunWriteDrops }, reloadsRefused: reloads.refused, reloadsApplied: reloads.applied,
    }),
  }, log).catch(undo(false));
  teardown.defer(() => control.close());

  driver.start();
  teardown.defer(async () => {
    await driver.stopReading();
    log.debug("", "stopping: tun reader stopped");
  });
  // Clean stop: DISCONNECT on every up link, then every link down (hooks run).
  teardown.defer(() => tunnel.shutdown(clock.now()));
  teardown.defer(async () => {
    links.stopping = true;
    driver.stopTimer();
    service?.stopping();
    // A reload still binding a socket finishes first, so that the socket is closed too.
    await reloads.stop();
  });

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let stopping: Promise<void> | undefined;
  function stop(): Promise<void> {
    stopping ??= teardown
      .disposeAsync()
      .catch((e: Error) => log.error("", `stopping: ${e.message}`))
      .then(resolveStopped);
    return stopped;
  }

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
    log.info("", `running as ${dropTo.name} (uid ${dropTo.uid}, gid ${dropTo.gid})${helper ? "; status scripts run as root in the hook helper" : ""}`);
  }
  log.info("", `mlvpn ${mode} started with ${config.links.length} link${config.links.length === 1 ? "" : "s"}`);
  service?.ready(tunnel.snapshot().links);

  return {
    stop,
    stopped,
    get failure() {
      return failure;
    },
    reload: (next) => reloads.reload(next),
    status: control.status,
    refused: () => void reloads.refused++,
    readConfig: helper ? () => helper.reload() : undefined,
  };
}
