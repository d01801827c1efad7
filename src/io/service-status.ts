/**
 * What the running daemon shows outside itself: the process title (unless `--natural-title`)
 * and, under systemd, READY=1 / STATUS= / STOPPING=1. daemon.ts reports readiness, each change
 * of a link's state, and the start of shutdown; this file turns them into both.
 */
import type { Logger } from "../log.ts";
import { ProcessTitle, titleText, type LinkState } from "./proctitle.ts";
import { notifyReady, notifyReloading, notifyStatus, notifyStopping, sdNotify } from "./sdnotify.ts";

export type { LinkState };

export interface ServiceStatus {
  /** The tun device exists and every link socket is bound. */
  ready(links: readonly LinkState[]): void;
  /** A link changed state. */
  changed(links: readonly LinkState[]): void;
  stopping(): void;
  /** A SIGHUP reload starts / is over (applied or rejected: either way the service is ready). */
  reloading(): void;
  reloaded(): void;
}

/** "1/2 links up: adsl connected, lte waiting peer", for `systemctl status`. */
export function statusText(links: readonly LinkState[]): string {
  const up = links.filter((l) => l.status !== "disconnected" && l.status !== "waiting peer").length;
  return `${up}/${links.length} links up: ${links.map((l) => `${l.name} ${l.status}`).join(", ")}`;
}

/** Every link past its first handshake ("up", or lossy). */
const allUp = (links: readonly LinkState[]) => links.length > 0 && links.every((l) => l.status !== "disconnected" && l.status !== "waiting peer");

/**
 * `coldPages`: the first time every link is up, start-up is over — the code that only ran for it
 * (config, key derivation, first handshakes) is unmapped (cold-pages.ts). Only for a process of
 * its own (not tests running daemons in-process).
 */
export function createServiceStatus(opts: { name: string; title: boolean; log: Logger; coldPages?: () => { mappings: number; kib: number } }): ServiceStatus {
  const { log } = opts;
  let coldPages = opts.coldPages;
  const startedUp = (links: readonly LinkState[]) => {
    if (!coldPages || !allUp(links)) return;
    const release = coldPages;
    coldPages = undefined;
    // After the handler that saw the last link come up has returned.
    setTimeout(() => {
      const r = release();
      log.debug("", `start-up over: ${Math.round(r.kib / 1024)} MiB of code pages unmapped (${r.mappings} mappings)`);
    }, 0);
  };
  let title: ProcessTitle | undefined;
  if (opts.title) {
    const t = ProcessTitle.open();
    if (typeof t === "string") log.info("", `process title left unchanged: ${t}`);
    else title = t;
  }
  let shown = "";
  const report = (what: string, why: string | undefined) => {
    if (why) log.warn("systemd", `cannot notify systemd (${what}): ${why}`);
    else if (process.env.NOTIFY_SOCKET) log.debug("systemd", `notified ${what}`);
  };
  const show = (links: readonly LinkState[]) => {
    const text = titleText(opts.name, links);
    if (!title || text === shown) return;
    shown = text;
    title.set(text);
  };
  return {
    ready(links) {
      show(links);
      startedUp(links);
      report("READY=1", notifyReady(statusText(links)));
    },
    changed(links) {
      show(links);
      startedUp(links);
      report("STATUS", notifyStatus(statusText(links)));
    },
    stopping() {
      report("STOPPING=1", notifyStopping());
    },
    reloading() {
      report("RELOADING=1", notifyReloading());
    },
    reloaded() {
      report("READY=1", sdNotify("READY=1"));
    },
  };
}
