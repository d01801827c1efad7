/**
 * SIGHUP: read the configuration file again and apply what changed to the running tunnel.
 *
 * Unlike the C MLVPN (README "Reload"; docs/c-mlvpn.md, "Weaknesses" #15): a file that does not validate is refused as a
 * whole and the tunnel keeps running as it was; links whose settings did not change are not
 * touched; a changed address or port really gets a new socket and a new handshake; timeout is
 * reloaded too. Keys read only at start-up are named in one "needs restart" warning.
 */
import { diffConfig, IN_PLACE_LINK_KEYS, type LinkChange } from "./config/diff.ts";
import { formatDiagnostic, shown } from "./config/diagnostics.ts";
import { type ConfigFormat, loadConfig } from "./config/load.ts";
import type { Config, GeneralConfig, LinkConfig } from "./config/schema.ts";
import { compileFilterRules, type FilterRules } from "./core/filters.ts";
import { compileRedundant, type RedundantRules } from "./core/redundant.ts";
import type { Tunnel } from "./core/tunnel.ts";
import { FilterError } from "./filter/index.ts";
import type { Logger } from "./log.ts";

/** What the daemon lends a reload: the core, and link set-up/tear-down with their sockets. */
export interface ReloadTarget {
  readonly tunnel: Tunnel;
  /** A new link in the core with its socket bound and peer set; throws a one-line reason (nothing is left behind). */
  openLink(config: LinkConfig): Promise<number>;
  /**
   * DISCONNECT, link down (hooks run), socket closed once the link is gone (at once, or once the
   * peer has seen the DISCONNECT: src/core/departure.ts); returns whether a DISCONNECT went out.
   */
  closeLink(index: number, reason?: string): boolean;
  /** Resolves once a closed link's socket is closed (at once when unknown or already closed). */
  gone?(index: number): Promise<void>;
  /** The daemon's clock, as given to the core. */
  now(): number;
}

const IN_PLACE: ReadonlySet<string> = new Set(IN_PLACE_LINK_KEYS);
const indexOf = (tunnel: Tunnel, name: string): number | undefined => tunnel.links.find((l) => l.name === name)?.index;

/** Whether a link's new socket may want its old one's local port (an unset or 0 bindport takes any free one). */
const samePort = (before: LinkConfig, after: LinkConfig): boolean => (after.bindport ?? 0) !== 0 && after.bindport === before.bindport;

const describeChange = (c: LinkChange): string =>
  c.keys.map((k) => `${k} ${shown(k, c.before[k as keyof LinkConfig] ?? "(unset)")} → ${shown(k, c.after[k as keyof LinkConfig] ?? "(unset)")}`).join(", ");

/**
 * Applies `next` over `running`; returns the configuration now in effect: `next`, except for
 * start-only keys (still the old values) and links whose socket could not be bound (absent, so
 * the next reload tries them again).
 */
export async function applyReload(running: Config, next: Config, target: ReloadTarget, log: Logger): Promise<Config> {
  const d = diffConfig(running, next);
  // Start-only keys keep their running values, so the next reload still reports them.
  const general: Record<string, unknown> = { ...next.general };
  for (const k of d.needsRestart) general[k] = running.general[k as keyof GeneralConfig];
  if (d.needsRestart.length > 0) log.warn("config", `needs restart: ${d.needsRestart.join(", ")} (changed in the file, not applied until mlvpn restarts)`);
  if (d.needsRestart.includes("mode")) {
    log.warn("config", "the mode changed: no link change is applied until mlvpn restarts");
    return running;
  }

  const { tunnel } = target;
  const failed = new Set<string>();
  const open = async (l: LinkConfig, what: string): Promise<void> => {
    try {
      await target.openLink(l);
      log.info("config", `[${l.name}] ${what}`);
    } catch (e) {
      failed.add(l.name);
      log.error("config", `[${l.name}] not started: ${(e as Error).message}; fix the configuration and reload again`);
    }
  };

  for (const l of d.removed) {
    const i = indexOf(tunnel, l.name);
    const disconnected = i !== undefined && target.closeLink(i);
    log.info("config", `[${l.name}] removed${disconnected ? ": DISCONNECT sent to the peer" : ""}`);
  }
  for (const c of d.updated) {
    const i = indexOf(tunnel, c.name);
    if (i !== undefined) tunnel.updateLink(i, c.after, target.now());
    log.info("config", `[${c.name}] ${describeChange(c)} (applied, the link stays up)`);
  }
  for (const c of d.rebound) {
    const i = indexOf(tunnel, c.name);
    if (i !== undefined) {
      target.closeLink(i, `${c.keys.filter((k) => !IN_PLACE.has(k)).join(", ")} changed: new socket`);
      // The old socket still receives until the peer has seen the DISCONNECT; on the same local
      // port the new one waits for it to go (bounded: src/core/departure.ts).
      if (samePort(c.before, c.after)) await target.gone?.(i);
    }
    await open(c.after, `${describeChange(c)}: new socket, new handshake`);
  }
  for (const l of d.added) await open(l, "added");

  const links = next.links.filter((l) => !failed.has(l.name));
  tunnel.orderLinks(links.map((l) => indexOf(tunnel, l.name)).filter((i): i is number => i !== undefined));
  const filters = applyFilters(running, next, tunnel, log);
  const redundant = applyRedundant(running, next, tunnel, log);
  const changes = d.added.length + d.removed.length + d.updated.length + d.rebound.length;
  log.info("config", changes === 0 ? "reloaded: no link changed" : `reloaded: ${d.added.length} added, ${d.removed.length} removed, ${d.updated.length} changed in place, ${d.rebound.length} with a new socket${failed.size > 0 ? `, ${failed.size} failed` : ""}`);
  return { ...next, general: { ...(general as GeneralConfig), ...redundant }, links, filters };
}

/**
 * `redundant` and `redundant_copies`, replaced together between two packets. The file was
 * validated, so the expression compiles; if the tun/tap kind changed (applied only at restart)
 * and it does not fit the running kind, the old rule stays. Returns the keys in effect.
 */
function applyRedundant(running: Config, next: Config, tunnel: Tunnel, log: Logger): Pick<GeneralConfig, "redundant" | "redundant_copies"> {
  const was = { redundant: running.general.redundant, redundant_copies: running.general.redundant_copies };
  const now = { redundant: next.general.redundant, redundant_copies: next.general.redundant_copies };
  if (was.redundant === now.redundant && was.redundant_copies === now.redundant_copies) return was;
  let rules: RedundantRules;
  try {
    rules = compileRedundant({ ...now, tuntap: running.general.tuntap });
  } catch (e) {
    if (!(e instanceof FilterError)) throw e;
    log.error("config", `redundant not changed: ${e.describe()} for a ${running.general.tuntap} device; the running expression stays`);
    return was;
  }
  tunnel.redundancy.setRules(rules);
  log.info("config", now.redundant ? `redundant: ${JSON.stringify(now.redundant)} on ${now.redundant_copies} links` : "redundant: off");
  return now;
}

const sameFilters = (a: Config["filters"], b: Config["filters"]): boolean =>
  a.length === b.length && a.every((f, i) => f.link === b[i]!.link && f.expression === b[i]!.expression);

/**
 * `[filters]` are replaced as a whole, between two packets. The file was validated, so they
 * compile; if the tun/tap kind changed (applied only at restart) and an entry does not fit the
 * running kind, the old set stays, entirely. Returns the set in effect.
 */
function applyFilters(running: Config, next: Config, tunnel: Tunnel, log: Logger): Config["filters"] {
  if (sameFilters(running.filters, next.filters)) return running.filters;
  let rules: FilterRules;
  try {
    rules = compileFilterRules(next.filters, running.general.tuntap);
  } catch (e) {
    if (!(e instanceof FilterError)) throw e;
    log.error("config", `[filters] not changed: ${e.describe()} for a ${running.general.tuntap} device; the ${running.filters.length} running entries stay`);
    return running.filters;
  }
  tunnel.setFilters(rules);
  log.info("config", `[filters] replaced: ${next.filters.length} entr${next.filters.length === 1 ? "y" : "ies"} (was ${running.filters.length})`);
  return next.filters;
}

/** Something that can reload: the running daemon. */
export interface Reloadable {
  reload(next: Config): Promise<void>;
  /** After a privilege drop the file is read by the root hook helper. */
  readConfig?(): Promise<{ text: string; valid: boolean }>;
  /** Counts a reload refused here (shown in /status as reloads_refused). */
  refused?(): void;
}

/**
 * Reads `file` again (the path given at start-up) and hands it to the daemon; a file with any
 * error is refused with every diagnostic logged, and nothing changes.
 */
export async function reloadFromFile(file: string, format: ConfigFormat | undefined, daemon: Reloadable, log: Logger): Promise<boolean> {
  log.info("config", `SIGHUP: reading ${file} again`);
  let read: { text: string; valid: boolean } | undefined;
  if (daemon.readConfig) {
    try {
      read = await daemon.readConfig();
    } catch (e) {
      log.error("config", `${(e as Error).message}; reload rejected, keeping the running configuration`);
      daemon.refused?.();
      return false;
    }
  }
  const loaded = loadConfig(file, { format, text: read?.text });
  for (const diag of loaded.diagnostics) {
    if (diag.severity === "error") log.error("config", formatDiagnostic(diag));
    else log.warn("config", formatDiagnostic(diag));
  }
  // The helper also checked the status script, which only root may be able to see.
  if (loaded.config && read && !read.valid) log.error("config", "the root hook helper found an error in the file (logged above)");
  if (!loaded.config || (read && !read.valid)) {
    log.error("config", "reload rejected, keeping the running configuration");
    daemon.refused?.();
    return false;
  }
  await daemon.reload(loaded.config);
  return true;
}
