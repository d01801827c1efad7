/**
 * Per-link state: status (MLVPN's five states), sessions (keyring), the initiator's handshake,
 * health measurements and counters. The protocol flow that changes them lives in the tunnel's
 * modules (tunnel.ts, receive.ts, health.ts, handshakes.ts, sendpath.ts); they change a link
 * through its methods, and this file owns the small rules about it (which session a packet
 * belongs to, how keys rotate, what a stall or a keepalive changes).
 */
import type { LinkConfig } from "../config/schema.ts";
import type { Keepalive } from "../wire/inner.ts";
import { AckState } from "./ackstate.ts";
import { DEFAULT_OWD_MS, HEALTH_TICK_MS, MAX_ECHO_HOLD_MS, MAX_RTT_SAMPLE_MS } from "./constants.ts";
import { abandon, type HandshakeState, IDLE } from "./handshake-state.ts";
import { LinkSender } from "./linksender.ts";
import { REORDER_THRESHOLD, reorderWindowMs } from "./lossrules.ts";
import { LossMeter } from "./loss.ts";
import { RttEstimator } from "./rtt.ts";
import type { Session } from "./session.ts";
import { type LinkCounters, LinkStatus, type PeerAddress } from "./link-types.ts";
import { type LinkSettings, linkSettings } from "./settings.ts";

export { LinkStatus, STATUS_TEXT } from "./link-types.ts";
export type { LinkCounters, PeerAddress } from "./link-types.ts";

export class Link {
  private _status: LinkStatus = LinkStatus.Disconnected;
  private _statusSinceMs = 0;
  private _peer: PeerAddress | undefined;
  /** When an authenticated packet (a duplicate included) last came from `_peer`. */
  private _peerHeardMs = Number.NEGATIVE_INFINITY;
  private _current: Session | undefined;
  private _previous: Session | undefined;
  /** `_previous` sent with the counters `_current` continues: its acknowledgements count. */
  private _previousAcked = false;
  private _next: Session | undefined;
  /** Initiator: the handshake in progress on this link. */
  handshake: HandshakeState = IDLE;

  private _lastRecvMs = Number.NEGATIVE_INFINITY;
  readonly rtt = new RttEstimator();
  readonly loss = new LossMeter();
  private _peerLossPercent: number | undefined;
  private lossRestartPending = false; // restartLossAtNextPacket
  /** Last peer keepalive clock and when it arrived, echoed in our next keepalive. */
  private echoClock: number | undefined;
  private echoRecvMs = 0;
  /** Else the peer's last FEEDBACK: its clock (0.1 ms) and when, on ours, that clock was (its arrival less its ack delay). */
  private ackClock: number | undefined;
  private ackClockAtMs = 0;
  /** When we last sent this link a keepalive of our own (not a probe): health.ts keepaliveDue. */
  keepaliveSentMs = Number.NEGATIVE_INFINITY;
  /** When the peer's last keepalive (not a probe) arrived: health.ts keepaliveAtMs. */
  peerKeepaliveMs = Number.NEGATIVE_INFINITY;
  /** How far the peer's keepalives arrive from a tick apart, smoothed (ms; undefined before two): health.ts keepaliveAtMs. */
  peerKeepaliveJitterMs: number | undefined;
  /** The receive loss our last keepalive reported, percent: health.ts keepaliveDue. */
  lossReportedPercent: number | undefined;
  /** Traffic, not keepalives (sendpath.ts isSilent): when the peer's data last came, when we last sent data, when its acks last came. */
  dataHeardMs = Number.NEGATIVE_INFINITY;
  dataSentMs = Number.NEGATIVE_INFINITY;
  feedbackHeardMs = Number.NEGATIVE_INFINITY;

  readonly counters: LinkCounters = { sentPackets: 0, sentBytes: 0, recvPackets: 0, recvBytes: 0, disconnects: 0 };

  /** Sending: queue, pacer, in-flight record, capacity estimate. */
  readonly sender: LinkSender;
  /** Receiving: what to acknowledge to the peer. */
  readonly acks = new AckState();
  private _stalled = false;
  private stalledSinceMs = 0;
  /** The first transport counter sent since the stall (sendpath.ts answersSinceStall). */
  resumeFromCounter = 0;
  private _nextProbeMs = 0;
  /** Removed by a reload: its index is never used again. */
  private _retired = false;
  private _settings: LinkSettings;

  constructor(
    readonly index: number,
    /** The section this link was made from, kept for the I/O shell (addresses, binding); the core reads `settings`. */
    private _config: LinkConfig,
    maxPacket: number,
    nowMs: number,
  ) {
    this._settings = linkSettings(_config);
    this.sender = new LinkSender(maxPacket, this._settings.uploadLimitBytesPerSec, nowMs);
  }

  get config(): LinkConfig {
    return this._config;
  }

  get settings(): LinkSettings {
    return this._settings;
  }

  /** A reload's new settings for this link (those that need no new handshake). */
  reconfigure(config: LinkConfig): void {
    const next = linkSettings(config);
    if (next.uploadLimitBytesPerSec !== this._settings.uploadLimitBytesPerSec) this.sender.estimator.setUploadLimit(next.uploadLimitBytesPerSec);
    this._config = config;
    this._settings = next;
  }

  get name(): string {
    return this._settings.name;
  }

  get status(): LinkStatus {
    return this._status;
  }

  /** When the status last changed (core clock), for status output. */
  get statusSinceMs(): number {
    return this._statusSinceMs;
  }

  setStatus(status: LinkStatus, nowMs: number): void {
    this._status = status;
    this._statusSinceMs = nowMs;
  }

  get isUp(): boolean {
    return this._status >= LinkStatus.AuthOk;
  }

  get retired(): boolean {
    return this._retired;
  }

  /** Taken out by a reload: sessions and handshake forgotten, the index never used again. */
  retire(): void {
    this.clearSessions();
    this._retired = true;
  }

  // ---------------------------------------------------------------- what we hear

  /** When the last authenticated packet arrived (core clock). */
  get lastRecvMs(): number {
    return this._lastRecvMs;
  }

  /** An authenticated packet (or a verified handshake answer) arrived. */
  heard(nowMs: number): void {
    this._lastRecvMs = nowMs;
  }

  /** Loss the peer reports for what we send on this link, percent (undefined: not reported). */
  get peerLossPercent(): number | undefined {
    return this._peerLossPercent;
  }

  /** A peer keepalive: its loss report, its clock (to echo), and an RTT sample from our echoed clock. */
  onKeepalive(k: Keepalive, nowMs: number): void {
    this._peerLossPercent = k.lossPercent;
    if (!k.probe) {
      // Gaps of a lost keepalive or more are not jitter. The gain of RFC 6298's RTTVAR.
      const dev = Math.abs(nowMs - this.peerKeepaliveMs - HEALTH_TICK_MS);
      if (dev < HEALTH_TICK_MS / 2) this.peerKeepaliveJitterMs = this.peerKeepaliveJitterMs === undefined ? dev : this.peerKeepaliveJitterMs + (dev - this.peerKeepaliveJitterMs) / 4;
      this.peerKeepaliveMs = nowMs;
    }
    this.echoClock = k.clock;
    this.echoRecvMs = nowMs;
    if (k.echo !== undefined) {
      // An echoed FEEDBACK clock is in 0.1 ms: the side that only answers keepalives measures its RTT this way.
      const elapsed = k.echoAck ? (((Math.round(nowMs * 10) >>> 0) - k.echo) >>> 0) / 10 : ((nowMs >>> 0) - k.echo) >>> 0;
      const rtt = elapsed - k.heldMs;
      if (rtt >= 0 && rtt < MAX_RTT_SAMPLE_MS) this.rtt.update(rtt);
    }
  }

  /** A FEEDBACK from the peer: its clock when the packet it acknowledges arrived, and how long it waited to say so. */
  onFeedbackClock(receiverClock: number, ackDelayMs: number, nowMs: number): void {
    this.ackClock = receiverClock;
    this.ackClockAtMs = nowMs - ackDelayMs;
  }

  /**
   * Fills our keepalive's fields (the echo is sent once, and only while fresh): the peer's last
   * keepalive clock, else its last FEEDBACK's, so that an end whose keepalives wait for ours
   * (health.ts keepaliveAtMs) still gets an RTT sample per exchange.
   */
  writeKeepalive(k: Keepalive, probe: boolean, nowMs: number): void {
    k.probe = probe;
    k.stalled = this._stalled;
    if (!probe) this.keepaliveSentMs = nowMs;
    k.lossPercent = this.lossReportedPercent = this.loss.percent();
    k.clock = nowMs;
    const fresh = this.echoClock !== undefined && nowMs - this.echoRecvMs <= MAX_ECHO_HOLD_MS;
    const ack = !fresh && this.ackClock !== undefined && nowMs - this.ackClockAtMs <= MAX_ECHO_HOLD_MS;
    k.echoAck = ack;
    k.echo = fresh ? this.echoClock : ack ? this.ackClock : undefined;
    k.heldMs = fresh ? nowMs - this.echoRecvMs : ack ? Math.round(nowMs - this.ackClockAtMs) : 0;
    this.echoClock = undefined;
    this.ackClock = undefined;
  }

  /** Worst of what we measure inbound and what the peer reports for our outbound, percent. */
  lossPercent(): number {
    return Math.max(this.loss.percent() ?? 0, this._peerLossPercent ?? 0);
  }

  /**
   * When our acknowledgement of the packet that just arrived makes the peer find one of its
   * packets on this link lost and send it again, by its rules (linksender.ts): now, when a
   * counter REORDER_THRESHOLD or more below the highest we acknowledge did not arrive; at most a
   * reordering window from now (reorderWindowMs of the same link's minimum RTT, which both ends
   * measure), when the highest is the first we acknowledge above a missing one. Undefined when
   * it finds nothing. A missing counter counts once per rule; a FEEDBACK's counter (never
   * acknowledged) still counts as arrived. The acknowledgement then goes at once (receive.ts).
   */
  resendDueMs(nowMs: number): number | undefined {
    const highest = this.acks.highestCounter;
    const counted = this.loss.newlyMissing(highest - REORDER_THRESHOLD, 0);
    const passed = this.loss.newlyMissing(highest - 1, 1);
    if (counted) return nowMs;
    return passed && this.rtt.samples > 0 ? nowMs + reorderWindowMs(this.rtt.min) : undefined;
  }

  /** Smoothed RTT, undefined before any sample. */
  get srttMs(): number | undefined {
    return this.rtt.samples > 0 ? this.rtt.smoothed : undefined;
  }

  countSent(bytes: number): void {
    this.counters.sentPackets++;
    this.counters.sentBytes += bytes;
  }

  countDisconnect(): void {
    this.counters.disconnects++;
  }

  countReceived(bytes: number): void {
    this.counters.recvPackets++;
    this.counters.recvBytes += bytes;
  }

  // ---------------------------------------------------------------- stalls (sendpath.ts decides)

  /** No acknowledgement for a while although packets are in flight: not used until it answers. */
  get stalled(): boolean {
    return this._stalled;
  }

  /** When a stalled or silent link is probed next. */
  get nextProbeMs(): number {
    return this._nextProbeMs;
  }

  probeAt(ms: number): void { this._nextProbeMs = ms; }

  /** Stalled now: probed at once. */
  stall(nowMs: number): void {
    this._stalled = true;
    this.stalledSinceMs = nowMs;
    this._nextProbeMs = nowMs;
    this.resumeFromCounter = this.sender.nextCounter;
  }

  /** Answers again; returns how long it was stalled, ms. */
  resume(nowMs: number): number {
    this._stalled = false;
    return nowMs - this.stalledSinceMs;
  }

  /** Up again after being down: not stalled. */
  clearStall(): void { this._stalled = false; }

  /** A blackout was a failure, not loss: what the loss window remembers of it is dropped. */
  forgetLoss(): void {
    this.loss.reset();
    this._peerLossPercent = undefined;
  }

  /** Up again after being down, or silent past health.ts silenceMs (an ended stall forgets too: sendpath.ts unstall). */
  restartLossAtNextPacket(): void {
    this.lossRestartPending = true;
  }

  /** An authenticated packet's counter: receive loss; after an outage it starts the window afresh (loss.ts restart). */
  countCounter(session: number, counter: number): void {
    if (this.lossRestartPending) this.loss.restart();
    this.lossRestartPending = false;
    this.loss.onReceive(session, counter);
  }

  // ---------------------------------------------------------------- peer and keyring

  /** Where we send: the resolved remotehost (client) or the last authenticated source (server). */
  get peer(): PeerAddress | undefined {
    return this._peer;
  }

  /** A new peer address (kept as given: the caller hands it over). */
  setPeer(peer: PeerAddress): void {
    this._peer = peer;
  }

  /** The peer heard from `from`: a copy, as the shell reuses its source object. */
  movePeer(from: PeerAddress, nowMs: number): void {
    this._peer = { address: from.address, port: from.port };
    this._peerHeardMs = nowMs;
  }

  /** Whether `from` is where this link sends. */
  isPeer(from: PeerAddress): boolean {
    const p = this._peer;
    return p !== undefined && p.address === from.address && p.port === from.port;
  }

  /** An authenticated packet (new or a duplicate) came from the peer's address: it is still there. */
  peerAlive(nowMs: number): void {
    this._peerHeardMs = nowMs;
  }

  /** When an authenticated packet last came from the peer's address (core clock). */
  get peerHeardMs(): number {
    return this._peerHeardMs;
  }

  /** Sending uses `current`; `previous` still opens late packets after a rekey. */
  get current(): Session | undefined {
    return this._current;
  }

  get previous(): Session | undefined {
    return this._previous;
  }

  /** The pending session: responder, answered INIT waiting for its CONFIRM; initiator, a rekey's session until the responder is heard under it. */
  get next(): Session | undefined {
    return this._next;
  }

  /** A session waiting for its confirmation (it opens packets, and `install` makes it current). */
  pend(s: Session): void {
    this._next = s;
  }

  /** Past REJECT_AFTER_MS the sending session is dropped, whatever happens. */
  expireCurrent(): void {
    this._current = undefined;
  }

  /** The session a transport packet with this receiver index belongs to. */
  sessionFor(receiverIndex: number): Session | undefined {
    if (this.current?.localIndex === receiverIndex) return this.current;
    if (this.next?.localIndex === receiverIndex) return this.next;
    if (this.previous?.localIndex === receiverIndex) return this.previous;
    return undefined;
  }

  /** Whether a receiver index is taken by a session or a handshake of this link. */
  usesIndex(receiverIndex: number): boolean {
    return this.sessionFor(receiverIndex) !== undefined || this.handshake.localIndex === receiverIndex;
  }

  /**
   * Makes `s` the sending session; the old one stays for packets still in flight. A rekey (the
   * same peer process) continues the old session's counters: the records of what is in flight
   * stay, the peer's acknowledgements of either session apply to them, and what the path lost
   * at the switch is found and sent again like any loss. A new peer process, or a link without
   * a sending session, starts from 0 and forgets the records.
   */
  install(s: Session): void {
    const old = this._current;
    if (old) this._previous = old;
    this._current = s;
    if (this._next === s) this._next = undefined;
    this._previousAcked = old !== undefined && s.sendCounter === 0 && old.peerInstance === s.peerInstance;
    if (this._previousAcked) s.continueFrom(old!.sendCounter);
    else this.sender.resetFlight(s.peerInstance);
  }

  /** Whether acknowledgements sent under the peer's session `remoteIndex` are of our counters now in flight. */
  acknowledges(remoteIndex: number): boolean {
    if (this._current?.remoteIndex === remoteIndex) return true;
    return this._previousAcked && this._previous?.remoteIndex === remoteIndex;
  }

  /** The peer restarted: the sending sessions died with its old instance. */
  dropSendingSessions(): void {
    this._current = undefined;
    this._previous = undefined;
  }

  clearSessions(): void {
    this._current = undefined;
    this._previous = undefined;
    this._next = undefined;
    this.handshake = abandon(this.handshake);
  }
}

/** A link's one-way delay as half its smoothed RTT (queues on the path included); DEFAULT_OWD_MS before any sample. */
export function smoothedOwdMs(l: Link): number {
  return l.rtt.samples > 0 ? l.rtt.smoothed / 2 : DEFAULT_OWD_MS;
}
