/**
 * A link's life: up when a session's keys are proven, its status moved by the health rules
 * (health.ts) on each tick, down on silence, a send failure, the peer's DISCONNECT or a reload;
 * the tunnel up while one link is. Every change is reported as an event (hooks, process title)
 * and makes the link table choose its carriers again.
 */
import type { LinkConfig } from "../config/schema.ts";
import { HEALTH_TICK_MS } from "./constants.ts";
import type { Deadlines } from "./deadlines.ts";
import { acknowledgesDisconnect, type Departure, departureDeadline, newDeparture } from "./departure.ts";
import { describeSender, describeSilence } from "./describe.ts";
import { keepaliveDue, leaderSilentAtMs, needsHandshake, sessionExpired, silenceMs, silentPastTimeout, toleranceStatus } from "./health.ts";
import { type Link, LinkStatus } from "./link.ts";
import type { LinkTable } from "./linktable.ts";
import type { PeerIdentity } from "./peers.ts";
import { reorderHoldMs } from "./policy.ts";
import type { TunnelOutput } from "./ports.ts";
import type { ReorderBuffer } from "./reorder.ts";
import type { Equaliser } from "./equaliser.ts";
import type { SendPath } from "./sendpath.ts";
import type { Session } from "./session.ts";
import type { Transmitter } from "./transmit.ts";

export interface LifecycleParts {
  readonly mode: "client" | "server";
  readonly out: TunnelOutput;
  readonly table: LinkTable;
  readonly sendPath: SendPath;
  readonly tx: Transmitter;
  readonly reorder: ReorderBuffer | undefined;
  readonly equaliser: Equaliser;
  readonly peers: PeerIdentity;
  readonly deadlines: Deadlines;
  now(): number;
  /** Client: start a handshake on the link unless one is in progress (handshakes.ts). */
  initiate(link: Link): void;
}

export class Lifecycle {
  private linksUp = 0;
  /** Links a reload removed that still receive (departure.ts). */
  private readonly departures: Departure[] = [];

  constructor(private readonly p: LifecycleParts) {}

  /** Once per HEALTH_TICK_MS: every link's health, then the reorder hold and the carriers. */
  healthTick(): void {
    const { table, out, reorder, deadlines } = this.p;
    const now = this.p.now();
    deadlines.healthMs = now + HEALTH_TICK_MS;
    for (const link of table.links) this.checkHealth(link, now);
    for (const l of table.links) if (l.isUp) out.log("debug", "wrr", describeSender(l));
    if (reorder) reorder.holdMs = reorderHoldMs(table.links) ?? reorder.holdMs;
    table.chooseCarriers(now);
  }

  private checkHealth(link: Link, now: number): void {
    link.loss.rotate();
    // Silent this long is an outage (the client handshakes again): not counted as loss.
    if (now - link.lastRecvMs > silenceMs(link)) link.restartLossAtNextPacket();
    if (this.p.mode === "client" && needsHandshake(link, now)) this.sendInit(link);
    if (!link.isUp) return;
    const silent = silentPastTimeout(link, now);
    if (silent !== undefined) return this.linkDown(link, describeSilence(link, silent));
    const s = link.current;
    if (s && sessionExpired(s, now)) link.expireCurrent();
    else if (s && keepaliveDue(link, now, this.p.mode === "server")) this.p.tx.keepalive(link, false, now);
    if (this.p.mode === "server" && now >= leaderSilentAtMs(link)) this.p.sendPath.stallNow(link, now);
    this.checkTolerances(link);
  }

  /** A reload's new settings: the status they imply is checked at once. */
  reconfigure(link: Link, config: LinkConfig): void {
    link.reconfigure(config);
    if (link.isUp) this.checkTolerances(link);
    this.p.table.chooseCarriers(this.p.now());
  }

  /** Lossy or slow, and back. */
  private checkTolerances(link: Link): void {
    const status = toleranceStatus(link);
    if (status !== undefined) this.setStatus(link, status);
  }

  private sendInit(link: Link): void {
    if (!link.isUp) {
      // Every reconnect attempt re-resolves the server's name (it may have moved).
      this.p.out.event({ type: "resolve", link: link.index });
      if (link.status !== LinkStatus.AuthSent) this.setStatus(link, LinkStatus.AuthSent);
    }
    this.p.initiate(link);
  }

  /** A session's keys are proven (initiator: RESP checked; responder: the peer's first packet). */
  established(link: Link, s: Session): void {
    const { peers, table, out, deadlines } = this.p;
    const now = this.p.now();
    const change = peers.note(s.peerInstance, link, table.links);
    // A new peer instance: its sequence numbers start again.
    if (change !== "same") this.p.equaliser.reset(); // and the reorder buffer
    if (change === "restarted") {
      out.log("info", "protocol", `[${link.name}] the peer restarted; resynchronising every link`);
      // Links whose sessions died with the old instance renegotiate at once.
      deadlines.healthMs = now;
    }
    const rekey = link.isUp && link.current !== undefined;
    link.install(s);
    if (rekey) out.log("debug", "protocol", `[${link.name}] new keys; transport counters ${s.messagesSent === 0 && s.sendCounter > 0 ? `go on from ${s.sendCounter}` : "start from 0"}`);
    if (!link.isUp) this.linkUp(link);
    this.p.sendPath.measure(link);
    table.chooseCarriers(now);
  }

  private setStatus(link: Link, status: LinkStatus): void {
    const now = this.p.now();
    const previous = link.status;
    link.setStatus(status, now);
    const { lossTolerancePercent, latencyToleranceMs } = link.settings;
    this.p.out.event({ type: "link-status", link: link.index, status, previous, lossTolerancePercent, latencyToleranceMs });
    this.p.table.chooseCarriers(now);
  }

  private linkUp(link: Link): void {
    link.clearStall();
    link.restartLossAtNextPacket();
    this.setStatus(link, LinkStatus.AuthOk);
    this.p.out.event({ type: "link-up", link: link.index });
    if (this.linksUp++ === 0) {
      this.p.equaliser.reset();
      this.p.out.event({ type: "tunnel-up" });
    }
  }

  /**
   * A reload takes the link out for good: DISCONNECT to the peer, out of scheduling (so that
   * nothing it held is sent back to it), down if it was up. With a DISCONNECT sent it leaves
   * (departure.ts): it still receives until the peer has seen it; otherwise it is gone at once.
   * Whether a DISCONNECT went.
   */
  remove(link: Link, reason: string): boolean {
    const { tx, table } = this.p;
    const now = this.p.now();
    const counter = link.current?.sendCounter;
    const disconnect = tx.disconnect(link, now);
    const leaving = disconnect && counter !== undefined;
    table.remove(link, leaving);
    if (link.isUp) this.linkDown(link, reason, leaving);
    if (leaving) this.departures.push(newDeparture(link, counter, now));
    else this.gone(link);
    table.chooseCarriers(now);
    return disconnect;
  }

  /** The peer's DISCONNECT (acknowledged at once by receive.ts): down, or gone if it was leaving. */
  peerDisconnected(link: Link): void {
    const d = this.departureOf(link);
    if (d) return this.depart(d, "the peer disconnected it too");
    if (link.isUp) this.linkDown(link, "the peer disconnected");
    link.clearSessions();
  }

  /**
   * A FEEDBACK on a link: whether it was for a leaving link (which sends no data any more),
   * then gone if it acknowledges the DISCONNECT.
   */
  leavingFeedback(link: Link, highestLow32: number): boolean {
    const d = this.departureOf(link);
    if (!d) return false;
    if (acknowledgesDisconnect(d, highestLow32)) this.depart(d, `the peer acknowledged its DISCONNECT after ${Math.round(this.p.now() - d.sinceMs)} ms`);
    return true;
  }

  /** The leaving links' acknowledgements due, DISCONNECTs sent again, bounds passed. */
  departuresTick(): void {
    const { tx } = this.p;
    const now = this.p.now();
    for (const d of [...this.departures]) {
      if (d.link.acks.dueMs <= now) tx.feedback(d.link, now);
      if (now >= d.untilMs) this.depart(d, `no acknowledgement of its DISCONNECT within ${Math.round(now - d.sinceMs)} ms`);
      else if (now >= d.resendMs) {
        tx.disconnect(d.link, now);
        d.rtoMs *= 2;
        d.resendMs = now + d.rtoMs;
      }
    }
  }

  /** When a leaving link next needs the timer. */
  nextDeparture(): number {
    let t = Number.POSITIVE_INFINITY;
    for (const d of this.departures) t = Math.min(t, departureDeadline(d));
    return t;
  }

  /** Called for every FEEDBACK: a plain loop over what is nearly always an empty list. */
  private departureOf(link: Link): Departure | undefined {
    for (const d of this.departures) if (d.link === link) return d;
    return undefined;
  }

  private depart(d: Departure, why: string): void {
    this.departures.splice(this.departures.indexOf(d), 1);
    this.p.out.log("info", "protocol", `[${d.link.name}] gone: ${why}`);
    // What was in flight on it will not come now.
    this.p.equaliser.flush(this.p.now());
    this.gone(d.link);
  }

  /** Retired, let go by the table, and the shell told to close its socket. */
  private gone(link: Link): void {
    link.retire();
    this.p.table.gone(link);
    this.p.out.event({ type: "link-gone", link: link.index });
  }

  /** Down; a leaving link keeps its sessions (it still receives) and the reorder buffer waits for it. */
  linkDown(link: Link, reason: string, leaving = false): void {
    const { sendPath, out } = this.p;
    link.countDisconnect();
    if (!leaving) link.clearSessions();
    this.setStatus(link, LinkStatus.Disconnected);
    // What waited or was in flight on it goes to the links still up.
    sendPath.evacuate(link, this.p.now());
    out.event({ type: "link-down", link: link.index, reason });
    // What was in flight on the dead link will not come: stop waiting for it.
    if (!leaving) this.p.equaliser.flush(this.p.now());
    if (--this.linksUp === 0) out.event({ type: "tunnel-down" });
  }
}
