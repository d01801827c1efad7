/**
 * Reloads of a running daemon (SIGHUP): one at a time, applied by src/reload.ts through the link
 * set-up and tear-down lent here, and counted for /status.
 */
import type { Config, LinkConfig } from "../config/schema.ts";
import type { Tunnel } from "../core/tunnel.ts";
import type { Clock } from "../io/driver.ts";
import type { Logger } from "../log.ts";
import { applyReload, type ReloadTarget } from "../reload.ts";
import type { LinkSockets } from "./links.ts";
import { type Mode, resolveLink } from "./setup.ts";

export class Reloads {
  /** What is in effect: the start-up configuration, then each reload's. */
  running: Config;
  /** When the last reload was applied (epoch ms); the start until then. */
  lastEpochMs: number;
  applied = 0;
  refused = 0;
  private queue = Promise.resolve();
  private stopping = false;
  /** Reloads queued or under way. */
  private pending = 0;
  /** A link was closed since the last collection. */
  private closed = false;
  /** Removed links whose sockets are still open (they receive until the peer has seen their DISCONNECT: src/core/departure.ts), by index. */
  private readonly leaving = new Map<number, { gone: Promise<void>; resolve: () => void }>();
  private readonly target: ReloadTarget;

  /**
   * `collect` runs once the queued reloads are done when one of them closed a link: a closed
   * link's buffers (its packet store and its socket's receive slab, MBs, src/core/linksender.ts,
   * src/io/udp.ts) are garbage then, but an idle daemon allocates little, so the heap's own pace
   * left them for tens of seconds; a burst of reloads each giving a link a new socket held ~0.6 MB
   * of RSS per reload meanwhile (RELIABILITY.md, config section). A full collection takes a few ms.
   */
  constructor(config: Config, startedEpochMs: number, tunnel: Tunnel, private readonly links: LinkSockets, clock: Clock, afterInput: () => void, private readonly log: Logger, private readonly collect: () => void = () => Bun.gc(true)) {
    this.running = config;
    this.lastEpochMs = startedEpochMs;
    const mode: Mode = config.general.mode;
    const now = () => clock.now();
    this.target = {
      tunnel,
      now,
      async openLink(l: LinkConfig): Promise<number> {
        const i = tunnel.addLink(l, now());
        const r = await resolveLink(mode, l, log);
        try {
          await links.bind(i, l, r.family, r.peer);
        } catch (e) {
          tunnel.removeLink(i, now());
          throw e;
        }
        afterInput();
        return i;
      },
      closeLink: (i: number, reason?: string): boolean => {
        let resolve!: () => void;
        const gone = new Promise<void>((r) => (resolve = r));
        this.leaving.set(i, { gone, resolve });
        // The socket is closed on the core's link-gone event (gone() below): at once without a
        // DISCONNECT, else once the peer has seen it (what it sends until then still arrives).
        const disconnected = tunnel.removeLink(i, now(), reason);
        afterInput();
        return disconnected;
      },
      gone: (i: number): Promise<void> => this.leaving.get(i)?.gone ?? Promise.resolve(),
    };
  }

  /** Applies a validated configuration after the reloads before it; resolves when done (a failure is logged and counted). */
  reload(next: Config): Promise<void> {
    this.pending++;
    this.queue = this.queue
      .then(async () => {
        if (this.stopping) return;
        this.running = await applyReload(this.running, next, this.target, this.log);
        this.lastEpochMs = Date.now();
        this.applied++;
      })
      .catch((e: Error) => {
        this.refused++;
        this.log.error("config", `reload failed: ${e.message}; the links not yet changed keep their old settings`);
      })
      .then(() => {
        this.pending--;
        this.collectIfIdle();
      });
    return this.queue;
  }

  /** The core's link-gone event: a removed link no longer receives, its socket is closed. */
  gone(i: number): void {
    this.links.close(i);
    this.leaving.get(i)?.resolve();
    this.leaving.delete(i);
    this.closed = true;
    // Outside the core's input, which this event came from.
    if (this.pending === 0) queueMicrotask(() => this.collectIfIdle());
  }

  private collectIfIdle(): void {
    if (this.pending > 0 || !this.closed) return;
    this.closed = false;
    this.collect();
  }

  /** No reload from now on; resolves when the one under way (binding a socket, maybe) is done. */
  stop(): Promise<void> {
    this.stopping = true;
    // A rebind waiting for its old socket goes on (the sockets are all closed at the end anyway).
    for (const l of this.leaving.values()) l.resolve();
    return this.queue;
  }
}
