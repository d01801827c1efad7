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

export function createServiceStatus(opts: { name: string; title: boolean; log: Logger }): ServiceStatus {
  const { log } = opts;
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
      report("READY=1", notifyReady(statusText(links)));
    },
    changed(links) {
      show(links);
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
