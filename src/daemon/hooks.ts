/**
 * The status scripts: where they run (here, or as root in the hook helper once privileges are
 * dropped), and which tunnel events run them, with the C MLVPN's arguments (docs/c-mlvpn.md, "Hooks"; see
 * src/io/hooks.ts).
 */
import { resolve as resolvePath } from "node:path";
import type { Config } from "../config/schema.ts";
import { LinkStatus, STATUS_TEXT } from "../core/link.ts";
import type { TunnelEvent } from "../core/tunnel.ts";
import { HookHelperClient } from "../io/hook-client.ts";
import { HookRunner, hookEnv } from "../io/hooks.ts";
import type { Logger } from "../log.ts";

/** Runs status scripts in order, never blocking the caller. */
export interface Hooks {
  run(args: string[]): void;
  /** Resolves when every script queued so far has finished. */
  idle(): Promise<void>;
}

export interface StartedHooks {
  hooks: Hooks;
  /** The root helper, when started: it also reads the configuration again on SIGHUP. */
  helper: HookHelperClient | undefined;
}

/**
 * Once privileges are dropped (`dropping`), the status scripts run as root in the hook helper,
 * started now by `helperCommand` (this program); it also reads the (root-only) configuration
 * again on SIGHUP. Throws a one-line Error when the helper does not start.
 */
export async function startHooks(config: Config, device: string, tunMtu: number, dropping: boolean, helperCommand: readonly string[], log: Logger): Promise<StartedHooks> {
  const g = config.general;
  const helper = dropping ? await HookHelperClient.start(helperCommand, { configFile: resolvePath(config.file), format: config.format, device, tunMtu }, log) : undefined;
  const hooks = g.statuscommand && helper ? helper : new HookRunner(g.statuscommand, hookEnv(g, device, tunMtu), log);
  return { hooks, helper };
}

/** What the events need besides the hooks. */
export interface EventContext {
  device: string;
  nameOf(link: number): string;
  /** A client link's reconnect attempt. */
  reconnecting(link: number): void;
  /** A removed link no longer receives: its socket can be closed. */
  gone(link: number): void;
}

/**
 * A link made lossy or slow by its tolerances, or back (MLVPN runs no script for these): the
 * line that says so, or undefined for other changes. The text is the same each time for a
 * link and a change, so that a link that keeps crossing a tolerance collapses into one line and
 * a count (log.ts); the measured loss and RTT are in `/status`.
 */
export function toleranceChange(e: Extract<TunnelEvent, { type: "link-status" }>): string | undefined {
  const loss = `loss_tolerence (${e.lossTolerancePercent === undefined ? "off" : `${e.lossTolerancePercent} %`})`;
  const latency = `latency_tolerence (${e.latencyToleranceMs === undefined ? "off" : `${e.latencyToleranceMs} ms`})`;
  const unused = "no data goes on it while a healthy link is up";
  if (e.status === LinkStatus.Lossy) return `${STATUS_TEXT[e.status]}: the measured loss reached ${loss}; ${unused}`;
  if (e.status === LinkStatus.HighLatency) return `${STATUS_TEXT[e.status]}: the smoothed RTT reached ${latency}; ${unused}`;
  if (e.status !== LinkStatus.AuthOk) return undefined;
  if (e.previous === LinkStatus.Lossy) return `loss below ${loss} again: in use`;
  if (e.previous === LinkStatus.HighLatency) return `smoothed RTT below ${latency} again: in use`;
  return undefined;
}

/** Maps the core's events to logs and status scripts. */
export function eventHandler(hooks: Hooks, ctx: EventContext, log: Logger): (e: TunnelEvent) => void {
  const { device, nameOf } = ctx;
  return (e) => {
    switch (e.type) {
      case "link-up":
        log.info("protocol", `[${nameOf(e.link)}] link up`);
        return hooks.run([device, "rtun_up", nameOf(e.link)]);
      case "link-down":
        log.warn("protocol", `[${nameOf(e.link)}] link down: ${e.reason}`);
        return hooks.run([device, "rtun_down", nameOf(e.link)]);
      case "tunnel-up":
        log.info("tuntap", "tunnel up");
        return hooks.run([device, "tuntap_up"]);
      case "tunnel-down":
        log.warn("tuntap", "tunnel down: no link is up");
        return hooks.run([device, "tuntap_down"]);
      case "link-status": {
        const change = toleranceChange(e);
        if (change) return log.warn("protocol", `[${nameOf(e.link)}] ${change}`);
        return log.debug("protocol", `[${nameOf(e.link)}] ${STATUS_TEXT[e.status]}`);
      }
      case "link-gone":
        return ctx.gone(e.link);
      case "resolve":
        // Every reconnect attempt of a client link: its socket too may need opening again.
        return ctx.reconnecting(e.link);
    }
  };
}
