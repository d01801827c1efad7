/**
 * A link's life: up when a session's keys are proven, its status moved by the health rules
 * (health.ts) on each tick, down on silence, a send failure, the peer's DISCONNECT or a reload;
 * the tunnel up while one link is. Every change is reported as an event (hooks, process title)
 * and makes the link table choose its carriers again.
 */
import type { LinkConfig } from "../config/schema.ts";
import { HEALTH_TICK_MS } from "./constants.ts";
import type { Deadlines } from "./deadlines.ts";
import { describeSender, describeSilence } from "./describe.ts";
import { keepaliveDue, needsHandshake, sessionExpired, silentPastTimeout, toleranceStatus } from "./health.ts";
import { type Link, LinkStatus } from "./link.ts";
import type { LinkTable } from "./linktable.ts";
import type { PeerIdentity } from "./peers.ts";
import { reorderHoldMs } from "./policy.ts";
import type { TunnelOutput } from "./ports.ts";
import type { ReorderBuffer } from "./reorder.ts";
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
  readonly peers: PeerIdentity;
  readonly deadlines: Deadlines;
  now(): number;
  /** Client: start a handshake on the link unless one is in progress (handshakes.ts). */
  initiate(link: Link): void;
}

export class Lifecycle {
  private linksUp = 0;

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
    if (this.p.mode === "client" && needsHandshake(link, now)) this.sendInit(link);
    if (!link.isUp) return;
    const silent = silentPastTimeout(link, now);
    if (silent !== undefined) return this.linkDown(link, describeSilence(link, silent));
    const s = link.current;
    if (s && sessionExpired(s, now)) link.expireCurrent();
    else if (s && keepaliveDue(link, now)) this.p.tx.keepalive(link, false, now);
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
    const { peers, reorder, table, out, deadlines } = this.p;
    const now = this.p.now();
    const change = peers.note(s.peerInstance, link, table.links);
    // A new peer instance: its sequence numbers start again.
    if (change !== "same") reorder?.reset();
    if (change === "restarted") {
      out.log("info", "protocol", `[${link.name}] the peer restarted; resynchronising every link`);
      // Links whose sessions died with the old instance renegotiate at once.
      deadlines.healthMs = now;
    }
    const rekey = link.isUp && link.current !== undefined;
    link.install(s);
    if (rekey) out.log("debug", "protocol", `[${link.name}] new keys; transport counters ${s.messagesSent === 0 && s.sendCounter > 0 ? `go on from ${s.sendCounter}` : "start from 0"}`);
    if (!link.isUp) this.linkUp(link);
    table.chooseCarriers(now);
  }

  private setStatus(link: Link, status: LinkStatus): void {
    const now = this.p.now();
    link.setStatus(status, now);
    this.p.out.event({ type: "link-status", link: link.index, status });
    this.p.table.chooseCarriers(now);
  }

  private linkUp(link: Link): void {
    link.clearStall();
    this.setStatus(link, LinkStatus.AuthOk);
    this.p.out.event({ type: "link-up", link: link.index });
    if (this.linksUp++ === 0) {
      this.p.reorder?.reset();
      this.p.out.event({ type: "tunnel-up" });
    }
  }

  /**
   * A reload takes the link out for good: DISCONNECT to the peer, out of scheduling (so that
   * nothing it held is sent back to it), down if it was up, retired. Whether a DISCONNECT went.
   */
  remove(link: Link, reason: string): boolean {
    const { tx, table } = this.p;
    const now = this.p.now();
    const disconnect = tx.disconnect(link, now);
    table.remove(link);
    if (link.isUp) this.linkDown(link, reason);
    link.retire();
    table.chooseCarriers(now);
    return disconnect;
  }

  linkDown(link: Link, reason: string): void {
    const { sendPath, out, reorder } = this.p;
    link.countDisconnect();
    link.clearSessions();
    this.setStatus(link, LinkStatus.Disconnected);
    // What waited or was in flight on it goes to the links still up.
    sendPath.evacuate(link, this.p.now());
    out.event({ type: "link-down", link: link.index, reason });
    // What was in flight on the dead link will not come: stop waiting for it.
    reorder?.flush();
    if (--this.linksUp === 0) out.event({ type: "tunnel-down" });
  }
}
