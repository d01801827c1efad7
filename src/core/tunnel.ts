/**
 * The tunnel: every link's protocol, scheduling and reordering as one sans-I/O state machine.
 *
 * Inputs (time never goes backwards across calls):
 *   handleTunPacket(packet, now)           a packet read from the tun device
 *   handleDatagram(link, bytes, from, now) a datagram received on a link's socket
 *   handleTimeout(now)                     when nextTimeout() is reached (early calls are harmless)
 *   setPeer / linkSendFailed / shutdown    from the I/O shell
 *   addLink / updateLink / removeLink / orderLinks   a reload
 * Outputs go synchronously to the injected TunnelOutput: transmit (bytes valid during the call
 * only), deliver (to the tun), event (state changes, for hooks and the process title), log.
 *
 * Send path:    1. size check (ICMP "too big" back into the tun)  2. pick a link  3. number it
 *               (tunnel-wide data sequence)  4. seal into the one transmit buffer  5. transmit
 * Receive path: 1. classify by type  2. handshake, or: find the session by receiver index
 *               3. replay quick-check  4. open  5. mark, roam, liveness  6. dispatch the inner kind
 */
import type { LinkConfig } from "../config/schema.ts";
import { consumeInit, consumeResp, createInit, createResp, type HandshakeSecrets, respReceiver } from "./handshake.ts";
import {
  HANDSHAKE_BURST,
  HANDSHAKE_RATE_PER_SEC,
  HEALTH_TICK_MS,
  MAX_ECHO_HOLD_MS,
  MAX_RTT_SAMPLE_MS,
  REJECT_AFTER_MS,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_MS,
  REORDER_HOLD_DEFAULT_MS,
  SEEN_INITS,
  SILENCE_REHANDSHAKE_MS,
} from "./constants.ts";
import { buildPacketTooBig } from "./icmp.ts";
import { Link, LinkStatus, type PeerAddress, STATUS_TEXT } from "./link.ts";
import { KeyedRateLimiter, LogLimiter } from "./ratelimit.ts";
import { chooseCarriers, reorderCapacity, reorderHoldMs } from "./policy.ts";
import { ReorderBuffer, type ReorderStats } from "./reorder.ts";
import { SendPath } from "./sendpath.ts";
import type { Session } from "./session.ts";
import { DropCounters, type DropReason } from "./stats.ts";
import {
  DATA_PREFIX_SIZE,
  FEEDBACK_SIZE,
  HANDSHAKE_SIZE,
  KEEPALIVE_FLAG_PROBE,
  KEEPALIVE_SIZE,
  KIND_DATA,
  KIND_DATA_EXPRESS,
  KIND_DISCONNECT,
  KIND_FEEDBACK,
  KIND_KEEPALIVE,
  LOSS_UNKNOWN,
  MSG_INIT,
  MSG_RESP,
  MSG_TRANSPORT,
  MSG_TRANSPORT_CLEAR,
  NO_ECHO,
  readU32,
  readU56,
  readU64,
  TAG_SIZE,
  TRANSPORT_COUNTER_OFF,
  TRANSPORT_HEADER_SIZE,
  TRANSPORT_RECEIVER_OFF,
  writeU32,
  writeU56,
} from "../wire/layout.ts";

export type { PeerAddress } from "./link.ts";

/** Randomness is injected: tests seed it, the daemon uses the system CSPRNG. */
export interface Random {
  fill(buf: Uint8Array): void;
}

export type TunnelEvent =
  | { type: "link-up"; link: number }
  | { type: "link-down"; link: number; reason: string }
  | { type: "link-status"; link: number; status: LinkStatus }
  | { type: "tunnel-up" }
  | { type: "tunnel-down" }
  /** Client: (re)resolve this link's remotehost and call setPeer. */
  | { type: "resolve"; link: number };

export type LogLevel = "warn" | "info" | "debug";

export interface LinkSnapshot {
  name: string;
  /** MLVPN's state text: "disconnected", "waiting peer", "connected", "lossy link", "slow link". */
  status: string;
  statusSinceMs: number;
  /** When the last authenticated packet arrived (core clock); undefined before any. */
  lastRecvMs: number | undefined;
  peer: PeerAddress | undefined;
  srttMs: number | undefined;
  rttvarMs: number | undefined;
  minRttMs: number | undefined;
  /** Estimated capacity for what we send, bytes per second. */
  capacityBytesPerSec: number;
  pacingBytesPerSec: number;
  inflightBytes: number;
  queuedPackets: number;
  /** Loss of what we receive (measured) and of what we send (reported by the peer), percent. */
  lossInPercent: number | undefined;
  lossOutPercent: number | undefined;
  /** Packets we sent that were found lost. */
  sentLost: number;
  /** No acknowledgement for a few RTTs: left out of scheduling and probed. */
  stalled: boolean;
  /** Currently chosen for data (up, healthy, not a resting fallback link). */
  scheduled: boolean;
  sentPackets: number;
  sentBytes: number;
  recvPackets: number;
  recvBytes: number;
  disconnects: number;
}

export interface TunnelSnapshot {
  links: LinkSnapshot[];
  reorder: (ReorderStats & { holdMs: number }) | undefined;
  drops: Partial<Record<DropReason, number>>;
}

export interface TunnelOutput {
  transmit(link: number, datagram: Uint8Array, peer: PeerAddress): void;
  deliver(packet: Uint8Array): void;
  event(e: TunnelEvent): void;
  log(level: LogLevel, token: string, message: string): void;
}

export interface TunnelOptions {
  mode: "client" | "server";
  links: readonly LinkConfig[];
  secrets: HandshakeSecrets;
  cleartextData: boolean;
  reorderBufferSize: number;
  /** Largest packet read from the tun that fits the tunnel (the tun MTU, + 14 in tap mode). */
  maxPacketSize: number;
  /** tun: IP packets (ICMP "too big" can be answered); tap: Ethernet frames. */
  kind: "tun" | "tap";
  random: Random;
  output: TunnelOutput;
  nowMs: number;
}

const EMPTY = new Uint8Array(0);

export class Tunnel {
  /**
   * Every link ever created, by index. Indices are what events, the shell's sockets and the
   * scheduler hold, so they stay stable: a removed link keeps its slot (retired, never used
   * again) and an added link takes a new one at the end.
   */
  private readonly slots: Link[];
  /** The links in use, in configuration order. */
  private live: Link[];
  readonly drops = new DropCounters();
  /** This process's random instance id, sent in handshakes so the peer sees restarts. */
  readonly instance: number;
  /** The peer's instance id, once known. */
  peerInstance: number | undefined;
  readonly reorder: ReorderBuffer | undefined;

  private readonly out: TunnelOutput;
  private readonly sendPath: SendPath;
  private eligible: number[] = [];
  private candidateLinks: Link[] = [];
  private dataSeq = 0;
  private nextHealthMs: number;
  private linksUp = 0;
  private readonly txBuf: Uint8Array;
  private readonly icmpBuf = new Uint8Array(1500);
  private readonly dataPrefix = new Uint8Array(DATA_PREFIX_SIZE);
  private readonly expressPrefix = Uint8Array.of(KIND_DATA_EXPRESS);
  private readonly keepalive = new Uint8Array(KEEPALIVE_SIZE);
  private readonly feedback = new Uint8Array(FEEDBACK_SIZE);
  private readonly handshakeLimiter = new KeyedRateLimiter(HANDSHAKE_RATE_PER_SEC, HANDSHAKE_BURST);
  private readonly logLimiter = new LogLimiter();
  private readonly seenInits: Set<string>[];
  private now: number;

  constructor(private readonly opts: TunnelOptions) {
    this.out = opts.output;
    this.now = opts.nowMs;
    this.nextHealthMs = opts.nowMs;
    this.slots = opts.links.map((c, i) => new Link(i, c, opts.maxPacketSize, opts.nowMs));
    this.live = [...this.slots];
    this.seenInits = opts.links.map(() => new Set<string>());
    this.sendPath = new SendPath({
      transmitData: (link, seq, packet, slot) => this.transmitData(link, seq, packet, slot),
      transmitExpress: (link, packet) => this.transmitExpress(link, packet),
      transmitProbe: (link) => this.sendKeepalive(link, true),
      candidates: () => this.candidateLinks,
      active: () => this.links.filter((l) => l.isUp && l.current),
      stallChanged: (link) => this.out.log("debug", "net", `[${link.name}] ${link.stalled ? "no acknowledgement: traffic moved to the other links" : "answers again"}`),
      drop: (reason) => this.drops.add(reason),
    });
    this.txBuf = new Uint8Array(opts.maxPacketSize + DATA_PREFIX_SIZE + TRANSPORT_HEADER_SIZE + TAG_SIZE + 64);
    this.instance = this.randomU32();
    if (opts.reorderBufferSize > 0) {
      this.reorder = new ReorderBuffer(reorderCapacity(opts.reorderBufferSize), (p) => this.out.deliver(p));
      this.reorder.holdMs = REORDER_HOLD_DEFAULT_MS;
    }
  }

  // ---------------------------------------------------------------- inputs

  handleTunPacket(packet: Uint8Array, nowMs: number): void {
    this.now = nowMs;
    if (packet.length === 0) return;
    if (packet.length > this.opts.maxPacketSize) {
      this.drops.add("too-big");
      if (this.opts.kind === "tun") {
        const n = buildPacketTooBig(packet, this.opts.maxPacketSize, this.icmpBuf);
        if (n > 0) this.out.deliver(this.icmpBuf.subarray(0, n));
      }
      return;
    }
    if (this.sendPath.express(packet, nowMs)) return;
    // A packet refused here takes no sequence number: a gap would hold the receiver back.
    if (this.sendPath.schedule(packet, this.dataSeq, nowMs)) this.dataSeq++;
  }

  handleDatagram(linkIndex: number, d: Uint8Array, from: PeerAddress, nowMs: number): void {
    this.now = nowMs;
    const link = this.linkAt(linkIndex);
    if (!link) return this.drops.add("bad-link");
    if (d.length < 1) return this.drops.add("short");
    switch (d[0]) {
      case MSG_TRANSPORT:
      case MSG_TRANSPORT_CLEAR:
        return this.receiveTransport(link, d, from);
      case MSG_INIT:
        return this.receiveInit(link, d, from);
      case MSG_RESP:
        return this.receiveResp(link, d);
      default:
        if (looksLikeLegacyMlvpn(d)) {
          this.drops.add("legacy-peer");
          return this.logLimited("warn", "protocol", `legacy:${linkIndex}`, `[${link.name}] ${fmt(from)} speaks the C MLVPN protocol: mlvpn needs mlvpn on both ends`);
        }
        return this.drops.add("bad-type");
    }
  }

  handleTimeout(nowMs: number): void {
    this.now = nowMs;
    this.reorder?.handleTimeout(nowMs);
    for (const l of this.links) if (l.acks.dueMs <= nowMs) this.sendFeedback(l);
    this.sendPath.onTimer(nowMs);
    if (nowMs < this.nextHealthMs) return;
    this.nextHealthMs = nowMs + HEALTH_TICK_MS;
    for (const link of this.links) this.healthTick(link);
    for (const l of this.links) if (l.isUp) this.out.log("debug", "wrr", describeSender(l));
    this.updateReorderHold();
    this.updateEligible();
  }

  nextTimeout(): number {
    let t = Math.min(this.nextHealthMs, this.reorder?.nextDeadline() ?? Number.POSITIVE_INFINITY);
    for (const l of this.links) if (l.isUp && l.current) t = Math.min(t, this.sendPath.deadline(l, this.now));
    return t;
  }

  /** Client: the resolved address of a link's remotehost; a link waiting for it starts its handshake now. */
  setPeer(linkIndex: number, peer: PeerAddress, nowMs: number): void {
    this.now = nowMs;
    const link = this.linkAt(linkIndex);
    if (!link) return;
    const changed = link.peer?.address !== peer.address || link.peer?.port !== peer.port;
    link.peer = peer;
    if (changed && this.opts.mode === "client" && !link.isUp) this.transmitInit(link);
  }

  /** The shell could not send on a link (e.g. its interface went away): take it down now. */
  linkSendFailed(linkIndex: number, reason: string, nowMs: number): void {
    this.now = nowMs;
    const link = this.linkAt(linkIndex);
    if (link?.isUp) this.linkDown(link, `send failed: ${reason}`);
  }

  /** Clean stop: DISCONNECT on every up link, then every link down (hooks run). */
  shutdown(nowMs: number): void {
    this.now = nowMs;
    for (const link of this.links) {
      if (link.current) this.send(link, link.current, DISCONNECT_MSG, EMPTY);
      if (link.isUp) this.linkDown(link, "shutdown");
    }
  }

  // ---------------------------------------------------------------- reload

  /** The links in use, in configuration order. */
  get links(): readonly Link[] {
    return this.live;
  }

  /** A link in use by index; undefined for an unknown or removed one. */
  linkAt(index: number): Link | undefined {
    const link = this.slots[index];
    return link && !link.retired ? link : undefined;
  }

  /** The section name of any link ever created (events of a link being removed still name it). */
  nameOf(index: number): string {
    return this.slots[index]?.name ?? `#${index}`;
  }

  /** A new link, last in order, down; returns its index. A client needs setPeer to start it. */
  addLink(config: LinkConfig, nowMs: number): number {
    this.now = nowMs;
    const link = new Link(this.slots.length, config, this.opts.maxPacketSize, nowMs);
    this.slots.push(link);
    this.seenInits.push(new Set());
    this.live.push(link);
    return link.index;
  }

  /**
   * New settings that need no new handshake (tolerances, timeout, bandwidth_upload,
   * fallback_only): the link stays up; the status they imply is checked at once.
   */
  updateLink(index: number, config: LinkConfig, nowMs: number): void {
    this.now = nowMs;
    const link = this.linkAt(index);
    if (!link) return;
    if (config.bandwidth_upload !== link.config.bandwidth_upload) link.sender.estimator.setUploadLimit(config.bandwidth_upload);
    link.config = config;
    if (link.isUp) this.checkTolerances(link);
    this.updateEligible();
  }

  /**
   * Takes a link out for good: DISCONNECT to the peer, link down (hooks run) if it was up, what
   * it had queued or in flight sent on the other links, its sessions forgotten. Returns whether
   * a DISCONNECT was sent (only a link with keys can send one).
   */
  removeLink(index: number, nowMs: number, reason = "removed from the configuration"): boolean {
    this.now = nowMs;
    const link = this.linkAt(index);
    if (!link) return false;
    const disconnect = link.current !== undefined && this.send(link, link.current, DISCONNECT_MSG, EMPTY) >= 0;
    // Out of scheduling first, so that nothing it held is sent back to it.
    this.live = this.live.filter((l) => l !== link);
    if (link.isUp) this.linkDown(link, reason);
    link.clearSessions();
    link.retired = true;
    this.seenInits[index]!.clear();
    this.updateEligible();
    return disconnect;
  }

  /** The configuration order of the links in use (for the status); unknown indices are ignored. */
  orderLinks(indices: readonly number[]): void {
    const ordered = indices.map((i) => this.linkAt(i)).filter((l): l is Link => l !== undefined);
    this.live = [...new Set([...ordered, ...this.live])];
    this.updateEligible();
  }

  /** Links that may carry data now, as chosen by the last health tick or state change. */
  get eligibleLinks(): readonly number[] {
    return this.eligible;
  }

  /** Everything the status interface shows, as plain data (no references into the core). */
  snapshot(): TunnelSnapshot {
    return {
      links: this.links.map((l) => {
        const e = l.sender.estimator;
        return {
          name: l.name,
          status: STATUS_TEXT[l.status],
          statusSinceMs: l.statusSinceMs,
          lastRecvMs: Number.isFinite(l.lastRecvMs) ? l.lastRecvMs : undefined,
          peer: l.peer ? { ...l.peer } : undefined,
          srttMs: l.rtt.samples > 0 ? l.rtt.smoothed : undefined,
          rttvarMs: l.rtt.samples > 0 ? l.rtt.variance : undefined,
          minRttMs: Number.isFinite(e.minRttMs) ? e.minRttMs : undefined,
          capacityBytesPerSec: e.bandwidth * 1000,
          pacingBytesPerSec: e.pacingRate() * 1000,
          inflightBytes: l.sender.inflightBytes,
          queuedPackets: l.sender.queueLength,
          lossInPercent: l.loss.percent(),
          lossOutPercent: l.peerLossPercent,
          sentLost: l.sender.lostPackets,
          stalled: l.stalled,
          scheduled: this.eligible.includes(l.index),
          ...l.counters,
        };
      }),
      reorder: this.reorder ? { ...this.reorder.stats, holdMs: this.reorder.holdMs } : undefined,
      drops: this.drops.snapshot(),
    };
  }

  // ---------------------------------------------------------------- receive

  private receiveTransport(link: Link, d: Uint8Array, from: PeerAddress): void {
    if (d.length < TRANSPORT_HEADER_SIZE + TAG_SIZE + 1) return this.drops.add("short");
    const session = link.sessionFor(readU32(d, TRANSPORT_RECEIVER_OFF));
    if (!session) return this.drops.add("unknown-session");
    const counter = readU64(d, TRANSPORT_COUNTER_OFF);
    if (!session.replay.check(counter)) return this.drops.add("replay");
    const inner = session.open(counter, d);
    if (!inner || inner.length < 1) return this.drops.add(inner ? "short" : "bad-mac");
    const newest = counter > session.replay.highest;
    session.replay.mark(counter);
    if (session.peerInstance !== this.peerInstance && session !== link.next) return this.drops.add("stale-peer");

    if (session === link.next) this.confirm(link, session);
    if (newest && session === link.current) this.roam(link, from);
    link.lastRecvMs = this.now;
    link.loss.onReceive(counter);
    link.counters.recvPackets++;
    link.counters.recvBytes += d.length;
    this.sendPath.unstall(link, this.now);
    const kind = inner[0];
    if (kind !== KIND_FEEDBACK) {
      // Acknowledge everything but acknowledgements; a probe at once.
      const probe = kind === KIND_KEEPALIVE && inner.length > 1 && (inner[1]! & KEEPALIVE_FLAG_PROBE) !== 0;
      link.acks.onReceive(session.localIndex, counter, this.now, probe);
      if (link.acks.dueMs <= this.now) this.sendFeedback(link);
    }

    switch (kind) {
      case KIND_DATA:
        if (inner.length < DATA_PREFIX_SIZE) return this.drops.add("short");
        return this.receiveData(readU56(inner, 1), inner.subarray(DATA_PREFIX_SIZE));
      case KIND_DATA_EXPRESS:
        return this.out.deliver(inner.subarray(1));
      case KIND_FEEDBACK:
        return this.receiveFeedback(link, inner);
      case KIND_KEEPALIVE:
        return this.receiveKeepalive(link, inner);
      case KIND_DISCONNECT:
        if (link.isUp) this.linkDown(link, "the peer disconnected");
        link.clearSessions();
        return;
      default:
        return this.drops.add("bad-kind");
    }
  }

  private receiveData(seq: number, packet: Uint8Array): void {
    // Our senders count from 0 and never get near 2^53; a larger value is not ours.
    if (seq > Number.MAX_SAFE_INTEGER) return this.drops.add("bad-seq");
    if (this.reorder) this.reorder.insert(seq, packet, this.now);
    else this.out.deliver(packet);
  }

  private receiveFeedback(link: Link, f: Uint8Array): void {
    if (f.length < FEEDBACK_SIZE) return this.drops.add("short");
    // Acknowledgements of another session (before a rekey) are of no use any more.
    if (!link.current || readU32(f, 4) !== link.current.remoteIndex) return;
    const ackDelayMs = ((f[2]! << 8) | f[3]!) / 10;
    this.sendPath.onFeedback(link, readU32(f, 8), readU32(f, 12), readU32(f, 16), ackDelayMs, readU32(f, 20), this.now);
  }

  private receiveKeepalive(link: Link, k: Uint8Array): void {
    if (k.length < KEEPALIVE_SIZE) return this.drops.add("short");
    const loss = (k[2]! << 8) | k[3]!;
    link.peerLossPercent = loss === LOSS_UNKNOWN ? undefined : loss / 10;
    link.echoTs = readU32(k, 4);
    link.echoRecvMs = this.now;
    const echoed = readU32(k, 8);
    const held = readU32(k, 12);
    if (echoed !== NO_ECHO && held !== NO_ECHO) {
      const rtt = (((this.now >>> 0) - echoed) >>> 0) - held;
      if (rtt >= 0 && rtt < MAX_RTT_SAMPLE_MS) link.rtt.update(rtt);
    }
  }

  /** Responder: an INIT for this link. Nothing changes until the peer confirms the keys. */
  private receiveInit(link: Link, d: Uint8Array, from: PeerAddress): void {
    if (this.opts.mode !== "server") return this.drops.add("unexpected-handshake");
    if (d.length !== HANDSHAKE_SIZE) return this.drops.add("bad-size");
    if (!this.handshakeLimiter.allow(from.address, this.now)) return this.drops.add("handshake-rate");
    const check = consumeInit(this.opts.secrets, d);
    if (!check.ok) {
      this.drops.add(check.reason);
      const why = check.reason === "bad-mac" ? "wrong password, or not an mlvpn peer" : `the peer uses another cipher than ${this.opts.secrets.cipher}`;
      return this.logLimited("warn", "protocol", `init:${check.reason}:${from.address}`, `[${link.name}] handshake from ${fmt(from)} refused: ${why}`);
    }
    const seen = this.seenInits[link.index]!;
    const id = macId(d);
    if (seen.has(id)) return this.drops.add("replay");
    seen.add(id);
    if (seen.size > SEEN_INITS) seen.delete(seen.values().next().value!);
    const resp = createResp(this.opts.secrets, d, check.init, this.newLocalIndex(), this.instance, this.freshBytes(32), this.now);
    if (!resp) return this.drops.add("bad-key");
    link.next = resp.session;
    this.out.transmit(link.index, resp.message, from);
    link.counters.sentPackets++;
    link.counters.sentBytes += resp.message.length;
  }

  /** Initiator: the answer to our INIT. */
  private receiveResp(link: Link, d: Uint8Array): void {
    if (this.opts.mode !== "client") return this.drops.add("unexpected-handshake");
    if (d.length !== HANDSHAKE_SIZE) return this.drops.add("bad-size");
    const sent = link.initSent;
    if (!sent || respReceiver(d) !== sent.localIndex) return this.drops.add("unknown-session");
    const session = consumeResp(this.opts.secrets, sent, d, this.now);
    if (!session) {
      this.drops.add("bad-mac");
      return this.logLimited("warn", "protocol", `resp:${link.index}`, `[${link.name}] handshake answer refused: wrong password, or not an mlvpn peer`);
    }
    link.initSent = undefined;
    link.handshakeWanted = false;
    this.notePeerInstance(session.peerInstance, link);
    link.install(session);
    link.lastRecvMs = this.now;
    // The first packet under the new keys confirms them to the responder.
    this.sendKeepalive(link);
    if (!link.isUp) this.linkUp(link);
    this.updateEligible();
  }

  /** Responder: the peer's first packet under keys from our RESP proves the handshake. */
  private confirm(link: Link, s: Session): void {
    s.confirmed = true;
    this.notePeerInstance(s.peerInstance, link);
    link.install(s);
    if (!link.isUp) this.linkUp(link);
    this.updateEligible();
  }

  /** A link's peer address changes only on an authenticated packet newer than all before it. */
  private roam(link: Link, from: PeerAddress): void {
    const p = link.peer;
    if (p && p.address === from.address && p.port === from.port) return;
    if (p) this.out.log("info", "net", `[${link.name}] peer moved from ${fmt(p)} to ${fmt(from)}`);
    link.peer = { address: from.address, port: from.port };
  }

  /** A new peer instance means the peer restarted: its sequence numbers start again. */
  private notePeerInstance(instance: number, via: Link): void {
    if (this.peerInstance === instance) return;
    const restarted = this.peerInstance !== undefined;
    this.peerInstance = instance;
    this.reorder?.reset();
    if (!restarted) return;
    this.out.log("info", "protocol", `[${via.name}] the peer restarted; resynchronising every link`);
    for (const other of this.links) {
      if (other === via) continue;
      // Sessions with the old instance died with it; a client renegotiates at once.
      if (other.current && other.current.peerInstance !== instance) {
        other.current = undefined;
        other.previous = undefined;
        other.handshakeWanted = true;
      }
    }
    this.nextHealthMs = this.now;
  }

  // ---------------------------------------------------------------- health

  private healthTick(link: Link): void {
    link.loss.rotate();
    if (this.opts.mode === "client" && this.clientNeedsHandshake(link)) this.sendInit(link);
    if (!link.isUp) return;
    const silent = this.now - link.lastRecvMs;
    if (silent > link.config.timeout * 1000) return this.linkDown(link, `no packet for ${Math.round(silent / 1000)} s (timeout ${link.config.timeout} s)`);
    const s = link.current;
    if (s && this.now - s.createdMs > REJECT_AFTER_MS) link.current = undefined;
    else if (s) this.sendKeepalive(link);
    this.checkTolerances(link);
  }

  private clientNeedsHandshake(link: Link): boolean {
    if (!link.isUp || link.handshakeWanted || !link.current) return true;
    const s = link.current;
    const silence = HEALTH_TICK_MS + Math.max(SILENCE_REHANDSHAKE_MS, 2 * link.rtt.smoothed);
    return this.now - link.lastRecvMs > silence || this.now - s.createdMs > REKEY_AFTER_MS || s.sendCounter > REKEY_AFTER_MESSAGES;
  }

  private sendInit(link: Link): void {
    if (!link.isUp) {
      // Every reconnect attempt re-resolves the server's name (it may have moved).
      this.out.event({ type: "resolve", link: link.index });
      if (link.status !== LinkStatus.AuthSent) this.setStatus(link, LinkStatus.AuthSent);
    }
    this.transmitInit(link);
  }

  private transmitInit(link: Link): void {
    if (!link.peer) return;
    link.initSent = createInit(this.opts.secrets, this.newLocalIndex(), this.instance, this.freshBytes(32), this.now);
    this.out.transmit(link.index, link.initSent.message, link.peer);
    link.counters.sentPackets++;
    link.counters.sentBytes += link.initSent.message.length;
  }

  /** A keepalive; as a probe it asks the peer to acknowledge at once. */
  private sendKeepalive(link: Link, probe = false): void {
    const s = link.current;
    if (!s) return;
    const k = this.keepalive;
    k[0] = KIND_KEEPALIVE;
    k[1] = probe ? KEEPALIVE_FLAG_PROBE : 0;
    const loss = link.loss.percent();
    const permille = loss === undefined ? LOSS_UNKNOWN : Math.round(loss * 10);
    k[2] = permille >>> 8;
    k[3] = permille;
    writeU32(k, 4, this.now >>> 0);
    const fresh = link.echoTs !== undefined && this.now - link.echoRecvMs <= MAX_ECHO_HOLD_MS;
    writeU32(k, 8, fresh ? link.echoTs! : NO_ECHO);
    writeU32(k, 12, fresh ? this.now - link.echoRecvMs : NO_ECHO);
    link.echoTs = undefined;
    this.send(link, s, k, EMPTY);
  }

  /** loss_tolerence / latency_tolerence (reference §5.4, §5.5): lossy and slow links and back. */
  private checkTolerances(link: Link): void {
    const c = link.config;
    const loss = link.lossPercent();
    // 100 % and 1000 ms turn a check off; a reload may do that while the link is lossy or slow.
    const lossChecked = c.loss_tolerence < 100;
    const latencyChecked = c.latency_tolerence < 1000;
    // A stalled link is already out of use; its blackout is not "loss".
    if (!link.stalled) {
      if (link.status === LinkStatus.AuthOk && lossChecked && loss >= c.loss_tolerence) return this.setStatus(link, LinkStatus.Lossy);
      if (link.status === LinkStatus.Lossy && (!lossChecked || loss < c.loss_tolerence)) return this.setStatus(link, LinkStatus.AuthOk);
    }
    const srtt = link.rtt.samples > 0 ? link.rtt.smoothed : 0;
    if (link.status === LinkStatus.AuthOk && latencyChecked && link.rtt.samples > 0 && srtt >= c.latency_tolerence) return this.setStatus(link, LinkStatus.HighLatency);
    if (link.status === LinkStatus.HighLatency && (!latencyChecked || srtt < c.latency_tolerence)) return this.setStatus(link, LinkStatus.AuthOk);
  }

  // ---------------------------------------------------------------- state changes

  private setStatus(link: Link, status: LinkStatus): void {
    link.status = status;
    link.statusSinceMs = this.now;
    this.out.event({ type: "link-status", link: link.index, status });
    this.updateEligible();
  }

  private linkUp(link: Link): void {
    link.stalled = false;
    this.setStatus(link, LinkStatus.AuthOk);
    this.out.event({ type: "link-up", link: link.index });
    if (this.linksUp++ === 0) {
      this.reorder?.reset();
      this.out.event({ type: "tunnel-up" });
    }
  }

  private linkDown(link: Link, reason: string): void {
    link.counters.disconnects++;
    link.clearSessions();
    this.setStatus(link, LinkStatus.Disconnected);
    // What waited or was in flight on it goes to the links still up.
    this.sendPath.evacuate(link, this.now);
    this.out.event({ type: "link-down", link: link.index, reason });
    // What was in flight on the dead link will not come: stop waiting for it.
    this.reorder?.flush();
    if (--this.linksUp === 0) this.out.event({ type: "tunnel-down" });
  }

  private updateEligible(): void {
    const choice = chooseCarriers(this.links, this.now, (l) => l.current !== undefined);
    const next = choice.map((l) => l.index);
    if (next.length === this.eligible.length && next.every((v, i) => v === this.eligible[i])) return;
    this.eligible = next;
    this.candidateLinks = choice;
  }

  private updateReorderHold(): void {
    if (!this.reorder) return;
    const hold = reorderHoldMs(this.links);
    if (hold !== undefined) this.reorder.holdMs = hold;
  }

  // ---------------------------------------------------------------- helpers

  /**
   * Seals and transmits one message; returns its transport counter, or -1 if it could not be
   * sent. Everything but acknowledgements is recorded in flight (it will be acknowledged).
   */
  private send(link: Link, s: Session, prefix: Uint8Array, body: Uint8Array, slot = -1): number {
    const peer = link.peer;
    if (!peer) {
      this.drops.add("no-peer");
      return -1;
    }
    const counter = s.sendCounter;
    const n = s.seal(prefix, body, this.txBuf, this.opts.cleartextData && (prefix[0] === KIND_DATA || prefix[0] === KIND_DATA_EXPRESS));
    if (n === 0) {
      this.drops.add("keys-exhausted");
      return -1;
    }
    link.counters.sentPackets++;
    link.counters.sentBytes += n;
    if (prefix[0] !== KIND_FEEDBACK && s === link.current) link.sender.onSent(counter, n, slot, this.now);
    this.out.transmit(link.index, this.txBuf.subarray(0, n), peer);
    return counter;
  }

  /** Called by the send path for each data packet its pacer lets go. */
  private transmitData(link: Link, dataSeq: number, packet: Uint8Array, slot: number): void {
    const s = link.current;
    if (!s) return this.drops.add("no-link");
    const prefix = this.dataPrefix;
    prefix[0] = KIND_DATA;
    writeU56(prefix, 1, dataSeq);
    this.send(link, s, prefix, packet, slot);
  }

  private transmitExpress(link: Link, packet: Uint8Array): void {
    const s = link.current;
    if (!s) return this.drops.add("no-link");
    this.send(link, s, this.expressPrefix, packet);
  }

  private sendFeedback(link: Link): void {
    const s = link.current;
    if (!s || !link.acks.hasPending) {
      link.acks.dueMs = Number.POSITIVE_INFINITY;
      return;
    }
    link.acks.write(this.feedback, this.now);
    this.send(link, s, this.feedback, EMPTY);
  }

  private logLimited(level: LogLevel, token: string, key: string, message: string): void {
    const text = this.logLimiter.pass(key, message, this.now);
    if (text !== undefined) this.out.log(level, token, text);
  }

  private freshBytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    this.opts.random.fill(b);
    return b;
  }

  private randomU32(): number {
    return readU32(this.freshBytes(4), 0);
  }

  /** A receiver index unused by any session of any link. */
  private newLocalIndex(): number {
    for (;;) {
      const i = this.randomU32();
      if (!this.links.some((l) => l.sessionFor(i) || l.initSent?.localIndex === i)) return i;
    }
  }
}

const DISCONNECT_MSG = new Uint8Array([KIND_DISCONNECT]);

/** One line on a link's sending state, for `-D wrr` (the C MLVPN's scheduler debug token). */
function describeSender(l: Link): string {
  const s = l.sender;
  const e = s.estimator;
  const mbit = (bytesPerMs: number) => ((bytesPerMs * 8) / 1000).toFixed(1);
  return `[${l.name}] estimate ${mbit(e.bandwidth)} Mbit/s, pacing ${mbit(e.pacingRate())}${e.inStartup ? " (startup)" : ""}, min RTT ${e.minRttMs.toFixed(1)} ms, srtt ${l.rtt.smoothed.toFixed(1)} ms, in flight ${s.inflightBytes}/${Math.round(e.inflightCap())} B, queued ${s.queueLength}, sent ${s.sentPackets}, lost ${s.lostPackets}${l.stalled ? ", STALLED" : ""}`;
}

function fmt(p: PeerAddress): string {
  return p.address.includes(":") ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`;
}

function macId(init: Uint8Array): string {
  let s = "";
  for (let i = HANDSHAKE_SIZE - 16; i < HANDSHAKE_SIZE; i++) s += init[i]!.toString(16).padStart(2, "0");
  return s;
}

/** A C MLVPN 2.x datagram: 28-byte header whose first u16 is the payload length. */
function looksLikeLegacyMlvpn(d: Uint8Array): boolean {
  return d.length >= 28 && ((d[0]! << 8) | d[1]!) === d.length - 28 && (d[2]! & 0x0f) <= 1;
}

export type { DropReason };
