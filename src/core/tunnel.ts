/**
 * The tunnel: every link's protocol, scheduling and reordering as one sans-I/O state machine.
 * This file only dispatches the inputs and wires the parts, each a module of its own: linktable
 * (links, reload, carriers, filters), lifecycle (up, down, status, the health tick) and health
 * (its rules), receive (transport → inner messages), peers (restarts, roaming), handshakes and
 * handshake-state, transmit (sealing), sendpath (scheduling, pacing, stalls), deadlines (the
 * timer table), snapshot (the status projection), describe (log lines).
 *
 * Inputs (time never goes backwards across calls):
 *   handleTunPacket(packet, now)           a packet read from the tun device
 *   handleDatagram(link, bytes, from, now) a datagram received on a link's socket; the core owns
 *                                          `bytes` from then on (decrypts it in place, may keep
 *                                          views into it) and reads `from` during the call only
 *   handleTimeout(now)                     when nextTimeout() is reached (early calls are harmless)
 *   setPeer / linkSendFailed / shutdown    from the I/O shell; addLink / updateLink / removeLink / orderLinks: a reload
 * Outputs go synchronously to the injected TunnelOutput: transmit (bytes valid during the call
 * only), deliver (to the tun), event (state changes, for hooks and the process title), log.
 */
import type { LinkConfig } from "../config/schema.ts";
import { looksLikeLegacyMlvpn, MSG_CHALLENGE, MSG_CONFIRM, MSG_HELLO, MSG_INIT, MSG_RESP, MSG_TRANSPORT, MSG_TRANSPORT_CLEAR, MSG_TYPE_OFF } from "../wire/layout.ts";
import { Deadlines } from "./deadlines.ts";
import { Equaliser, PassThrough } from "./equaliser.ts";
import { describeLegacyPeer, describeStall } from "./describe.ts";
import type { FilterRules } from "./filters.ts";
import { inProgress } from "./handshake-state.ts";
import { Handshakes } from "./handshakes.ts";
import { buildPacketTooBig } from "./icmp.ts";
import type { Link, PeerAddress } from "./link.ts";
import { LinkTable } from "./linktable.ts";
import { Lifecycle } from "./lifecycle.ts";
import { PeerIdentity } from "./peers.ts";
import { type LogLevel, randomU32, type TunnelOptions, type TunnelOutput } from "./ports.ts";
import { LogLimiter } from "./ratelimit.ts";
import { Receiver } from "./receive.ts";
import { Redundancy } from "./redundant.ts";
import { ReorderBuffer } from "./reorder.ts";
import { SendPath } from "./sendpath.ts";
import { type TunnelSnapshot, tunnelSnapshot } from "./snapshot.ts";
import { DropCounters } from "./stats.ts";
import { Transmitter } from "./transmit.ts";

export type { PeerAddress } from "./link.ts";
export type { LogLevel, Random, TunnelEvent, TunnelOptions, TunnelOutput } from "./ports.ts";
export type { LinkSnapshot, TunnelSnapshot } from "./snapshot.ts";

export class Tunnel {
  readonly drops = new DropCounters();
  /** This process's random instance id, sent masked in handshakes so the peer (only) sees restarts. */
  readonly instance: number;
  readonly reorder: ReorderBuffer | undefined;
  readonly equaliser: Equaliser;
  readonly redundancy: Redundancy; // redundant mode (redundant.ts); a reload calls its setRules
  private readonly out: TunnelOutput;
  private readonly table: LinkTable;
  private readonly sendPath: SendPath;
  private readonly tx: Transmitter;
  private readonly receiver: Receiver;
  private readonly handshakes: Handshakes;
  private readonly peers = new PeerIdentity();
  private readonly deadlines: Deadlines;
  private readonly life: Lifecycle;
  private dataSeq = 0;
  private readonly icmpBuf = new Uint8Array(1500);
  private readonly logLimiter = new LogLimiter();
  private now: number;

  constructor(private readonly opts: TunnelOptions) {
    this.out = opts.output;
    this.now = opts.nowMs;
    this.deadlines = new Deadlines(opts.nowMs, opts.mode === "server");
    this.table = new LinkTable(opts.links, opts.maxPacketSize, opts.nowMs, opts.filters);
    this.redundancy = new Redundancy({ active: () => this.table.active(), candidates: () => this.table.candidates, send: (l, seq, p) => this.tx.redundant(l, seq, p, this.now) }, opts.redundant);
    this.tx = new Transmitter(opts.maxPacketSize, (link, datagram, peer, urgent) => this.out.transmit(link, datagram, peer, urgent), this.drops);
    this.sendPath = new SendPath({
      transmitData: (link, seq, packet, slot) => this.tx.data(link, seq, packet, slot, this.now),
      transmitExpress: (link, packet) => this.tx.express(link, packet, this.now),
      transmitProbe: (link) => this.tx.keepalive(link, true, this.now), transmitTrain: (link) => this.tx.train(link, this.now),
      candidates: () => this.table.candidates,
      active: () => this.table.active(),
      stallChanged: (link) => this.out.log("debug", "net", describeStall(link)),
      drop: (reason) => this.drops.add(reason),
    }, opts.reorderBufferSize, opts.kind === "tap");
    this.instance = randomU32(opts.random);
    const { mode, secrets, cleartextData, random } = opts;
    this.handshakes = new Handshakes(
      {
        mode, secrets, cleartextData, drops: this.drops, instance: this.instance, now: () => this.now,
        fill: (b) => random.fill(b),
        newLocalIndex: () => this.table.newLocalIndex(random),
        transmit: (link, message, to) => this.tx.handshake(link, message, to),
        logLimited: (level, token, key, message) => this.logLimited(level, token, key, message),
        established: (link, s) => this.life.established(link, s),
        sendKeepalive: (link) => this.tx.keepalive(link, false, this.now),
      },
      opts.links.length,
    );
    // The delay equaliser (equaliser.ts), in front of the reorder buffer (reorder.ts) if there is one.
    this.reorder = opts.reorderBufferSize > 0 ? new ReorderBuffer(opts.reorderBufferSize, (p) => this.out.deliver(p), true) : undefined;
    this.equaliser = new Equaliser(this.reorder ?? new PassThrough((p) => this.out.deliver(p)), () => this.table.links);
    const { out, table, sendPath, tx, reorder, equaliser, peers, deadlines, drops, handshakes } = this;
    this.life = new Lifecycle({ mode, out, table, sendPath, tx, reorder, equaliser, peers, deadlines, now: () => this.now, initiate: (l) => handshakes.initiate(l) });
    this.receiver = new Receiver({ drops, reorder, equaliser, redundancy: this.redundancy, sendPath, tx, handshakes, peers, out, roams: mode === "server", follower: mode === "server", disconnected: (l) => this.life.peerDisconnected(l), leavingFeedback: (l, highest) => this.life.leavingFeedback(l, highest), followed: (now) => deadlines.followKeepalive(now) && this.life.healthTick() });
    this.settle();
  }

  // ---------------------------------------------------------------- inputs

  handleTunPacket(packet: Uint8Array, nowMs: number): void {
    this.now = nowMs;
    if (packet.length === 0) return;
    if (packet.length > this.opts.maxPacketSize) {
      this.drops.add("too-big");
      // tun: ICMP "too big" back into it (a tap frame gets none).
      const n = this.opts.kind === "tun" ? buildPacketTooBig(packet, this.opts.maxPacketSize, this.icmpBuf) : 0;
      return n > 0 ? this.out.deliver(this.icmpBuf.subarray(0, n)) : undefined;
    }
    // [filters]: the first matching entry whose link is up pins the packet to that link; an
    // unpinned packet that matches `redundant` goes out at once as copies (redundant.ts).
    const pinned = this.table.pinned(packet);
    if (!pinned && this.redundancy.take(packet, nowMs)) return this.settle();
    // A packet refused here takes no sequence number: a gap would hold the receiver back.
    if (!this.sendPath.express(packet, nowMs, pinned) && this.sendPath.schedule(packet, this.dataSeq, nowMs, 0, undefined, nowMs, pinned)) this.dataSeq++;
    this.settle();
  }

  handleDatagram(linkIndex: number, d: Uint8Array, from: PeerAddress, nowMs: number): void {
    this.now = nowMs;
    this.dispatch(linkIndex, d, from);
    this.settle();
  }

  handleTimeout(nowMs: number): void {
    this.now = nowMs;
    this.equaliser.handleTimeout(nowMs); // and the reorder buffer's
    for (const l of this.links) if (l.acks.dueMs <= nowMs) this.tx.feedback(l, nowMs);
    this.sendPath.onTimer(nowMs);
    for (const l of this.links) if (inProgress(l.handshake)) this.handshakes.onTimer(l);
    if (this.deadlines.tickDue(nowMs)) this.life.healthTick();
    if (nowMs >= this.deadlines.departuresMs) this.life.departuresTick();
    this.settle();
  }

  /** When handleTimeout should next run: a pure minimum over the deadline table. */
  nextTimeout(): number {
    return this.deadlines.next();
  }

  /** Client: the resolved address of a link's remotehost; a link waiting for it starts its handshake now. */
  setPeer(linkIndex: number, peer: PeerAddress, nowMs: number): void {
    this.now = nowMs;
    const link = this.linkAt(linkIndex);
    if (!link) return;
    const changed = link.peer?.address !== peer.address || link.peer?.port !== peer.port;
    link.setPeer(peer);
    if (changed && this.opts.mode === "client" && !link.isUp) this.handshakes.start(link);
    this.settle();
  }

  /** The shell could not send on a link (e.g. its interface went away): take it down now. */
  linkSendFailed(linkIndex: number, reason: string, nowMs: number): void {
    this.now = nowMs;
    const link = this.linkAt(linkIndex);
    if (link?.isUp) this.life.linkDown(link, `send failed: ${reason}`);
    this.settle();
  }

  /** Clean stop: DISCONNECT on every up link, then every link down (hooks run). */
  shutdown(nowMs: number): void {
    this.now = nowMs;
    for (const link of this.links) {
      this.tx.disconnect(link, nowMs);
      if (link.isUp) this.life.linkDown(link, "shutdown");
    }
    this.settle();
  }

  // ---------------------------------------------------------------- links and reload

  /** The links in use, in configuration order. */
  get links(): readonly Link[] {
    return this.table.links;
  }

  /** A link in use by index; undefined for an unknown or removed one. */
  linkAt(index: number): Link | undefined {
    return this.table.at(index);
  }

  /** The section name of any link ever created (events of a link being removed still name it). */
  nameOf(index: number): string {
    return this.table.nameOf(index);
  }

  /** The peer's instance id, once known. */
  get peerInstance(): number | undefined {
    return this.peers.instance;
  }

  /** A new link, last in order, down; returns its index. A client needs setPeer to start it. */
  addLink(config: LinkConfig, nowMs: number): number {
    this.now = nowMs;
    const link = this.table.add(config, nowMs);
    this.handshakes.addLink();
    this.settle();
    return link.index;
  }

  /** New settings that need no new handshake (tolerances, timeout…): the link stays up, its status checked at once. */
  updateLink(index: number, config: LinkConfig, nowMs: number): void {
    this.now = nowMs;
    const link = this.linkAt(index);
    if (link) this.life.reconfigure(link, config);
    this.settle();
  }

  /**
   * Takes a link out for good: DISCONNECT to the peer (returns whether one went: only with keys), down (hooks run) if up, what
   * it held sent on the other links; `link-gone` (at once, or once the peer saw the DISCONNECT) lets the shell close its socket.
   */
  removeLink(index: number, nowMs: number, reason = "removed from the configuration"): boolean {
    this.now = nowMs;
    const link = this.linkAt(index);
    if (!link) return false;
    const disconnect = this.life.remove(link, reason);
    this.handshakes.removeLink(index);
    this.settle();
    return disconnect;
  }

  /** The configuration order of the links in use (for the status); unknown indices are ignored. */
  orderLinks(indices: readonly number[]): void {
    this.table.order(indices);
    this.table.chooseCarriers(this.now);
  }

  /** New `[filters]` (a reload): replaced at once, between two packets. */
  setFilters(rules: FilterRules): void {
    this.table.setFilters(rules);
  }

  /** Packets each `[filters]` entry pinned since it was set, in order. */
  get filterMatches(): readonly number[] {
    return this.table.filterMatches;
  }

  /** Links that may carry data now, as chosen by the last health tick or state change. */
  get eligibleLinks(): readonly number[] {
    return this.table.eligibleIndices;
  }

  /** Everything the status interface shows, as plain data (snapshot.ts). */
  snapshot(): TunnelSnapshot {
    return tunnelSnapshot(this.links, this.eligibleLinks, this.equaliser, this.reorder, this.drops, this.redundancy.stats);
  }

  // ---------------------------------------------------------------- dispatch

  private dispatch(linkIndex: number, d: Uint8Array, from: PeerAddress): void {
    const type = d[MSG_TYPE_OFF];
    // A removed link still receives transport messages until its peer has seen the DISCONNECT (departure.ts).
    if (type === MSG_TRANSPORT || type === MSG_TRANSPORT_CLEAR) {
      const to = this.linkAt(linkIndex) ?? this.table.leavingAt(linkIndex);
      return to ? this.receiver.transport(to, d, from, this.now) : this.drops.add("bad-link");
    }
    const link = this.linkAt(linkIndex);
    if (!link) return this.drops.add("bad-link");
    if (d.length < 1) return this.drops.add("short");
    switch (type) {
      case MSG_HELLO:
        return this.handshakes.receiveHello(link, d, from);
      case MSG_CHALLENGE:
        return this.handshakes.receiveChallenge(link, d, from);
      case MSG_INIT:
        return this.handshakes.receiveInit(link, d, from);
      case MSG_RESP:
        return this.handshakes.receiveResp(link, d, from);
      case MSG_CONFIRM:
        return this.handshakes.receiveConfirm(link, d, from);
      default:
        if (looksLikeLegacyMlvpn(d)) {
          this.drops.add("legacy-peer");
          return this.logLimited("warn", "protocol", `legacy:${linkIndex}`, describeLegacyPeer(link, from));
        }
        return this.drops.add("bad-type");
    }
  }

  /** After every input: the deadline table catches up with what the input changed. */
  private settle(): void {
    this.deadlines.departuresMs = this.life.nextDeparture();
    this.deadlines.refresh(this.links, this.equaliser.nextDeadline(), this.sendPath, this.handshakes, this.now);
  }

  // ---------------------------------------------------------------- helpers

  private logLimited(level: LogLevel, token: string, key: string, message: string): void {
    const text = this.logLimiter.pass(key, message, this.now);
    if (text !== undefined) this.out.log(level, token, text);
  }
}
