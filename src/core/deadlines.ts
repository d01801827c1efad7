/**
 * One table of when the tunnel next needs the timer: the health tick, the reorder buffer's
 * oldest hole, the earliest keepalive due (health.ts keepaliveAtMs: the server's, when the
 * client's stop coming, falls between ticks), and per link the send path's (pacing, a due acknowledgement, a stall check, a
 * probe) and the initiator's handshake (send again, start over). The tunnel refreshes it at
 * the end of every input, where computing a link's pacing deadline may settle its pacer's
 * tokens; reading it (`next`) changes nothing.
 */
import { HEALTH_TICK_MS } from "./constants.ts";
import { inProgress } from "./handshake-state.ts";
import { keepaliveAtMs, leaderSilentAtMs } from "./health.ts";
import type { Handshakes } from "./handshakes.ts";
import type { Link } from "./link.ts";
import type { SendPath } from "./sendpath.ts";

export class Deadlines {
  /** The next health tick. */
  healthMs: number;
  /** The earliest keepalive due on a link that is up with keys (follower: or its leader gone silent, health.ts leaderSilentAtMs). */
  keepaliveMs = Number.POSITIVE_INFINITY;
  private reorderMs = Number.POSITIVE_INFINITY;
  /** The links a reload removed that still receive (lifecycle.ts), set after every input. */
  departuresMs = Number.POSITIVE_INFINITY;
  /** Per link in use, in the order of the links: the earliest of its send path's and its handshake's deadlines. */
  private readonly links: number[] = [];

  /** `follower`: the server's keepalives follow the client's (health.ts keepaliveAtMs). */
  constructor(
    nowMs: number,
    private readonly follower: boolean,
  ) {
    this.healthMs = nowMs;
  }

  /** Recomputes every entry but the health tick (which the tick itself sets). */
  refresh(links: readonly Link[], reorderMs: number, sendPath: SendPath, handshakes: Handshakes, nowMs: number): void {
    this.reorderMs = reorderMs;
    const a = this.links;
    a.length = links.length;
    let keepalive = Number.POSITIVE_INFINITY;
    for (let i = 0; i < links.length; i++) {
      const l = links[i]!;
      const keyed = l.isUp && l.current !== undefined;
      if (keyed) keepalive = Math.min(keepalive, keepaliveAtMs(l, this.follower), this.follower ? leaderSilentAtMs(l) : Number.POSITIVE_INFINITY);
      const sending = keyed ? sendPath.deadline(l, nowMs) : Number.POSITIVE_INFINITY;
      a[i] = inProgress(l.handshake) ? Math.min(sending, handshakes.deadline(l)) : sending;
    }
    this.keepaliveMs = keepalive;
  }

  /**
   * Follower: a keepalive of the leader just arrived. The health tick runs with it, so that an
   * idle server wakes once per tick (for the client's keepalives) instead of also at a phase of
   * its own: due within half a tick, it runs now (true); else (it ran less than half a tick ago)
   * it moves to a tick after this keepalive. With several links the first keepalive of each
   * tick runs it; the others, a few ms later, only move it, and the next tick's first runs it.
   */
  followKeepalive(nowMs: number): boolean {
    if (this.healthMs - nowMs <= HEALTH_TICK_MS / 2) return true;
    this.healthMs = nowMs + HEALTH_TICK_MS;
    return false;
  }

  /** Whether the health tick runs now: its time, or a keepalive due off it (the tick then keeps to the keepalives' phase). */
  tickDue(nowMs: number): boolean {
    return nowMs >= this.healthMs || nowMs >= this.keepaliveMs;
  }

  /** The earliest deadline (a pure minimum over the table). */
  next(): number {
    let t = Math.min(this.healthMs, this.reorderMs, this.departuresMs, this.keepaliveMs);
    const a = this.links;
    for (let i = 0; i < a.length; i++) if (a[i]! < t) t = a[i]!;
    return t;
  }
}
