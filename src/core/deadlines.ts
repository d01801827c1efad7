/**
 * One table of when the tunnel next needs the timer: the health tick, the reorder buffer's
 * oldest hole, and per link the send path's (pacing, a due acknowledgement, a stall check, a
 * probe) and the initiator's handshake (send again, start over). The tunnel refreshes it at
 * the end of every input, where computing a link's pacing deadline may settle its pacer's
 * tokens; reading it (`next`) changes nothing.
 */
import { inProgress } from "./handshake-state.ts";
import type { Handshakes } from "./handshakes.ts";
import type { Link } from "./link.ts";
import type { SendPath } from "./sendpath.ts";

export class Deadlines {
  /** The next health tick. */
  healthMs: number;
  private reorderMs = Number.POSITIVE_INFINITY;
  /** The links a reload removed that still receive (lifecycle.ts), set after every input. */
  departuresMs = Number.POSITIVE_INFINITY;
  /** Per link in use, in the order of the links: the earliest of its send path's and its handshake's deadlines. */
  private readonly links: number[] = [];

  constructor(nowMs: number) {
    this.healthMs = nowMs;
  }

  /** Recomputes every entry but the health tick (which the tick itself sets). */
  refresh(links: readonly Link[], reorderMs: number, sendPath: SendPath, handshakes: Handshakes, nowMs: number): void {
    this.reorderMs = reorderMs;
    const a = this.links;
    a.length = links.length;
    for (let i = 0; i < links.length; i++) {
      const l = links[i]!;
      const sending = l.isUp && l.current ? sendPath.deadline(l, nowMs) : Number.POSITIVE_INFINITY;
      a[i] = inProgress(l.handshake) ? Math.min(sending, handshakes.deadline(l)) : sending;
    }
  }

  /** The earliest deadline (a pure minimum over the table). */
  next(): number {
    let t = Math.min(this.healthMs, this.reorderMs, this.departuresMs);
    const a = this.links;
    for (let i = 0; i < a.length; i++) if (a[i]! < t) t = a[i]!;
    return t;
  }
}
