/**
 * Per-link state: status (MLVPN's five states), sessions (keyring), health measurements and
 * counters. The protocol flow that changes them lives in tunnel.ts; this file owns the data and
 * the small rules about it (which session a packet belongs to, how keys rotate).
 */
import type { LinkConfig } from "../config/schema.ts";
import type { InitSent } from "./handshake.ts";
import { AckState } from "./ackstate.ts";
import { LinkSender } from "./linksender.ts";
import { LossMeter } from "./loss.ts";
import { RttEstimator } from "./rtt.ts";
import type { Session } from "./session.ts";

/** MLVPN's link states (reference §4.1); the strings are those of its /status JSON. */
export const LinkStatus = {
  Disconnected: 0,
  AuthSent: 1,
  AuthOk: 2,
  Lossy: 3,
  HighLatency: 4,
} as const;
export type LinkStatus = (typeof LinkStatus)[keyof typeof LinkStatus];
export const STATUS_TEXT: Record<LinkStatus, string> = ["disconnected", "waiting peer", "connected", "lossy link", "slow link"];

export interface PeerAddress {
  address: string;
  port: number;
}

export interface LinkCounters {
  sentPackets: number;
  sentBytes: number;
  recvPackets: number;
  recvBytes: number;
  disconnects: number;
}

export class Link {
  status: LinkStatus = LinkStatus.Disconnected;
  /** Where we send: the resolved remotehost (client) or the last authenticated source (server). */
  peer: PeerAddress | undefined;

  /** Sending uses `current`; `previous` still opens late packets after a rekey. */
  current: Session | undefined;
  previous: Session | undefined;
  /** Responder only: answered INIT, waiting for the peer's first packet under the new keys. */
  next: Session | undefined;
  /** Initiator only: INIT sent, waiting for RESP. */
  initSent: InitSent | undefined;
  /** Initiator: send an INIT at the next health tick even if the session looks fine. */
  handshakeWanted = false;

  lastRecvMs = Number.NEGATIVE_INFINITY;
  /** Wall of the last state change, for status output. */
  statusSinceMs = 0;
  readonly rtt = new RttEstimator();
  readonly loss = new LossMeter();
  /** Loss the peer reports for what we send on this link, percent (undefined: not reported). */
  peerLossPercent: number | undefined;
  /** Last peer keepalive timestamp and when it arrived, echoed in our next keepalive. */
  echoTs: number | undefined;
  echoRecvMs = 0;

  readonly counters: LinkCounters = { sentPackets: 0, sentBytes: 0, recvPackets: 0, recvBytes: 0, disconnects: 0 };

  /** Sending: queue, pacer, in-flight record, capacity estimate. */
  readonly sender: LinkSender;
  /** Receiving: what to acknowledge to the peer. */
  readonly acks = new AckState();
  /** No acknowledgement for a while although packets are in flight: not used until it answers. */
  stalled = false;
  stalledSinceMs = 0;
  nextProbeMs = 0;
  /** Removed by a reload: its index is never used again. */
  retired = false;

  constructor(
    readonly index: number,
    /** Replaced by a reload that changes settings in place (tolerances, timeout, bandwidth…). */
    public config: LinkConfig,
    maxPacket: number,
    nowMs: number,
  ) {
    this.sender = new LinkSender(maxPacket, config.bandwidth_upload, nowMs);
  }

  get name(): string {
    return this.config.name;
  }

  get isUp(): boolean {
    return this.status >= LinkStatus.AuthOk;
  }

  /** The session a transport packet with this receiver index belongs to. */
  sessionFor(receiverIndex: number): Session | undefined {
    if (this.current?.localIndex === receiverIndex) return this.current;
    if (this.next?.localIndex === receiverIndex) return this.next;
    if (this.previous?.localIndex === receiverIndex) return this.previous;
    return undefined;
  }

  /** Makes `s` the sending session; the old one stays for packets still in flight. */
  install(s: Session): void {
    if (this.current) this.previous = this.current;
    this.current = s;
    if (this.next === s) this.next = undefined;
    this.loss.onNewSession();
    // Counters restart in the new session; acknowledgements of the old one are ignored.
    this.sender.resetFlight(s.peerInstance);
  }

  clearSessions(): void {
    this.current = undefined;
    this.previous = undefined;
    this.next = undefined;
    // A handshake in progress holds a secret scalar: zeroed, not just dropped.
    if (this.initSent?.phase === "init") this.initSent.state.scalar.fill(0);
    this.initSent = undefined;
  }

  /** Worst of what we measure inbound and what the peer reports for our outbound, percent. */
  lossPercent(): number {
    return Math.max(this.loss.percent() ?? 0, this.peerLossPercent ?? 0);
  }
}
