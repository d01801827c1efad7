/**
 * The tunnel: every link's protocol, scheduling and reordering as one sans-I/O state machine.
 *
 * Inputs (time never goes backwards across calls):
 *   handleTunPacket(packet, now)           a packet read from the tun device
 *   handleDatagram(link, bytes, from, now) a datagram received on a link's socket; the core owns
 *                                          `bytes` from then on (decrypts it in place, may keep
 *                                          views into it) and reads `from` during the call only
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
import type { HandshakeSecrets } from "./handshake.ts";
import { fmt, Handshakes } from "./handshakes.ts";
import {
  HEALTH_TICK_MS,
  MAX_ECHO_HOLD_MS,
  MAX_RTT_SAMPLE_MS,
  REJECT_AFTER_MS,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_MS,
  REORDER_HOLD_DEFAULT_MS,
  SILENCE_REHANDSHAKE_MS,
} from "./constants.ts";
import { type FilterRules, FilterTable } from "./filters.ts";
import { buildPacketTooBig } from "./icmp.ts";
import { Link, LinkStatus, type PeerAddress, STATUS_TEXT } from "./link.ts";
import { LogLimiter } from "./ratelimit.ts";
import { chooseCarriers, reorderHoldMs } from "./policy.ts";
import { ReorderBuffer, type ReorderStats } from "./reorder.ts";
import { SendPath } from "./sendpath.ts";
import type { Session } from "./session.ts";
import { DropCounters, type DropReason } from "./stats.ts";
import {
  DATA_PREFIX_SIZE,
  dataSeq,
  DISCONNECT_SIZE,
  EXPRESS_PREFIX_SIZE,
  FEEDBACK_SIZE,
  feedbackSession,
  isProbe,
  KEEPALIVE_SIZE,
  KIND_DATA,
  KIND_DATA_EXPRESS,
  KIND_DISCONNECT,
  KIND_FEEDBACK,
  KIND_KEEPALIVE,
  newFeedback,
  newKeepalive,
  readFeedback,
  readKeepalive,
  writeDataPrefix,
  writeDisconnect,
  writeExpressPrefix,
  writeKeepalive,
} from "../wire/inner.ts";
import {
  MSG_CHALLENGE,
  MSG_CONFIRM,
  MSG_HELLO,
  MSG_INIT,
  MSG_RESP,
  MSG_TRANSPORT,
  MSG_TRANSPORT_CLEAR,
  readU32,
  readU64,
  TAG_SIZE,
  TRANSPORT_COUNTER_OFF,
  TRANSPORT_HEADER_SIZE,
  TRANSPORT_RECEIVER_OFF,
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
  /** `[filters]`, compiled (src/core/filters.ts); none: every packet is scheduled. */
  filters?: FilterRules;
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
  /** This process's random instance id, sent masked in handshakes so the peer (only) sees restarts. */
  readonly instance: number;
  /** The peer's instance id, once known. */
  peerInstance: number | undefined;
  readonly reorder: ReorderBuffer | undefined;

  private readonly out: TunnelOutput;
  private readonly sendPath: SendPath;
  private readonly filters = new FilterTable();
  private eligible: number[] = [];
  private candidateLinks: Link[] = [];
  private dataSeq = 0;
  private nextHealthMs: number;
  private linksUp = 0;
  private readonly txBuf: Uint8Array;
  /** txBuf.subarray(0, n) for each length n used so far: no view per datagram sent. */
  private readonly txViews: (Uint8Array | undefined)[] = [];
  private readonly activeLinks: Link[] = [];
  private readonly icmpBuf = new Uint8Array(1500);
  private readonly dataPrefix = new Uint8Array(DATA_PREFIX_SIZE);
  private readonly expressPrefix = new Uint8Array(EXPRESS_PREFIX_SIZE);
  private readonly keepalive = new Uint8Array(KEEPALIVE_SIZE);
  private readonly feedback = new Uint8Array(FEEDBACK_SIZE);
  private readonly keepaliveOut = newKeepalive();
  private readonly keepaliveIn = newKeepalive();
  private readonly feedbackIn = newFeedback();
  private readonly logLimiter = new LogLimiter();
  private readonly handshakes: Handshakes;
  private now: number;

  constructor(private readonly opts: TunnelOptions) {
    this.out = opts.output;
    writeExpressPrefix(this.expressPrefix, 0);
    this.now = opts.nowMs;
    this.nextHealthMs = opts.nowMs;
    this.slots = opts.links.map((c, i) => new Link(i, c, opts.maxPacketSize, opts.nowMs));
    this.live = [...this.slots];
    this.sendPath = new SendPath({
      transmitData: (link, seq, packet, slot) => this.transmitData(link, seq, packet, slot),
      transmitExpress: (link, packet) => this.transmitExpress(link, packet),
      transmitProbe: (link) => this.sendKeepalive(link, true),
      candidates: () => this.candidateLinks,
      active: () => {
        // Refilled on each call (the send path only iterates it): no array per timer.
        const a = this.activeLinks;
        a.length = 0;
        for (const l of this.live) if (l.isUp && l.current) a.push(l);
        return a;
      },
      stallChanged: (link) => this.out.log("debug", "net", `[${link.name}] ${link.stalled ? "no acknowledgement: traffic moved to the other links" : "answers again"}`),
      drop: (reason) => this.drops.add(reason),
    });
    // ArrayBuffer-backed: native code (the AEAD) works on it in place, at a stable address.
    this.txBuf = new Uint8Array(new ArrayBuffer(opts.maxPacketSize + DATA_PREFIX_SIZE + TRANSPORT_HEADER_SIZE + TAG_SIZE + 64));
    if (opts.filters) this.filters.setRules(opts.filters, this.live);
    this.instance = this.randomU32();
    this.handshakes = new Handshakes(
      {
        mode: opts.mode,
        secrets: opts.secrets,
        cleartextData: opts.cleartextData,
        drops: this.drops,
        instance: this.instance,
        now: () => this.now,
        fill: (b) => opts.random.fill(b),
        newLocalIndex: () => this.newLocalIndex(),
        transmit: (link, message, to) => {
          this.out.transmit(link.index, message, to);
          link.counters.sentPackets++;
          link.counters.sentBytes += message.length;
        },
        logLimited: (level, token, key, message) => this.logLimited(level, token, key, message),
        established: (link, s) => this.established(link, s),
        sendKeepalive: (link) => this.sendKeepalive(link),
      },
      opts.links.length,
    );
    if (opts.reorderBufferSize > 0) {
      this.reorder = new ReorderBuffer(opts.reorderBufferSize, (p) => this.out.deliver(p));
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
    // [filters]: the first matching entry whose link is up pins the packet to that link.
    const pinned = this.filters.size > 0 ? this.filters.pick(packet) : undefined;
    if (this.sendPath.express(packet, nowMs, pinned)) return;
    // A packet refused here takes no sequence number: a gap would hold the receiver back.
    if (this.sendPath.schedule(packet, this.dataSeq, nowMs, 0, undefined, nowMs, pinned)) this.dataSeq++;
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
      case MSG_HELLO:
        return this.handshakes.receiveHello(link, d, from);
      case MSG_CHALLENGE:
        return this.handshakes.receiveChallenge(link, d);
      case MSG_INIT:
        return this.handshakes.receiveInit(link, d, from);
      case MSG_RESP:
        return this.handshakes.receiveResp(link, d);
      case MSG_CONFIRM:
        return this.handshakes.receiveConfirm(link, d, from);
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
    for (const l of this.links) if (l.initSent) this.handshakes.onTimer(l);
    if (nowMs < this.nextHealthMs) return;
    this.nextHealthMs = nowMs + HEALTH_TICK_MS;
    for (const link of this.links) this.healthTick(link);
    for (const l of this.links) if (l.isUp) this.out.log("debug", "wrr", describeSender(l));
    this.updateReorderHold();
    this.updateEligible();
  }

  nextTimeout(): number {
    let t = Math.min(this.nextHealthMs, this.reorder?.nextDeadline() ?? Number.POSITIVE_INFINITY);
    for (const l of this.links) {
      if (l.isUp && l.current) t = Math.min(t, this.sendPath.deadline(l, this.now));
      if (l.initSent) t = Math.min(t, this.handshakes.deadline(l));
    }
    return t;
  }

  /** Client: the resolved address of a link's remotehost; a link waiting for it starts its handshake now. */
  setPeer(linkIndex: number, peer: PeerAddress, nowMs: number): void {
    this.now = nowMs;
    const link = this.linkAt(linkIndex);
    if (!link) return;
    const changed = link.peer?.address !== peer.address || link.peer?.port !== peer.port;
    link.peer = peer;
    if (changed && this.opts.mode === "client" && !link.isUp) this.handshakes.start(link);
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
    this.handshakes.addLink();
    this.live.push(link);
    this.filters.resolve(this.live);
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
    this.filters.resolve(this.live);
    if (link.isUp) this.linkDown(link, reason);
    link.clearSessions();
    link.retired = true;
    this.handshakes.removeLink(index);
    this.updateEligible();
    return disconnect;
  }

  /** The configuration order of the links in use (for the status); unknown indices are ignored. */
  orderLinks(indices: readonly number[]): void {
    const ordered = indices.map((i) => this.linkAt(i)).filter((l): l is Link => l !== undefined);
    this.live = [...new Set([...ordered, ...this.live])];
    this.filters.resolve(this.live);
    this.updateEligible();
  }

  /** New `[filters]` (a reload): replaced at once, between two packets. */
  setFilters(rules: FilterRules): void {
    this.filters.setRules(rules, this.live);
  }

  /** Packets each `[filters]` entry pinned since it was set, in order. */
  get filterMatches(): readonly number[] {
    return this.filters.matched;
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
    // cleartext_data only where both ends agreed to it in the handshake.
    if (d[0] === MSG_TRANSPORT_CLEAR && !session.clear) return this.drops.add("cleartext-refused");
    const counter = readU64(d, TRANSPORT_COUNTER_OFF);
    if (!session.replay.check(counter)) return this.drops.add("replay");
    const inner = session.open(counter, d);
    if (!inner || inner.length < 1) return this.drops.add(inner ? "short" : "bad-mac");
    const newest = counter > session.replay.highest;
    session.replay.mark(counter);
    if (session.peerInstance !== this.peerInstance && session !== link.next) return this.drops.add("stale-peer");

    if (session === link.next && !this.handshakes.confirmedByPacket(link, session)) return this.drops.add("unconfirmed");
    if (newest && session === link.current) this.roam(link, from);
    link.lastRecvMs = this.now;
    link.loss.onReceive(counter);
    link.counters.recvPackets++;
    link.counters.recvBytes += d.length;
    this.sendPath.unstall(link, this.now);
    const kind = inner[0];
    if (kind !== KIND_FEEDBACK) {
      // Acknowledge everything but acknowledgements; a probe at once.
      link.acks.onReceive(session.localIndex, counter, this.now, isProbe(inner));
      if (link.acks.dueMs <= this.now) this.sendFeedback(link);
    }

    switch (kind) {
      case KIND_DATA:
        if (inner.length < DATA_PREFIX_SIZE) return this.drops.add("short");
        return this.receiveData(dataSeq(inner), inner.subarray(DATA_PREFIX_SIZE));
      case KIND_DATA_EXPRESS:
        return this.out.deliver(inner.subarray(EXPRESS_PREFIX_SIZE));
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
    if (!link.current || feedbackSession(f) !== link.current.remoteIndex) return;
    const fb = this.feedbackIn;
    readFeedback(f, fb);
    this.sendPath.onFeedback(link, fb.highest, fb.bitmapHi, fb.bitmapLo, fb.ackDelayMs, fb.receiverClock, this.now);
  }

  private receiveKeepalive(link: Link, m: Uint8Array): void {
    const k = this.keepaliveIn;
    if (!readKeepalive(m, k)) return this.drops.add("short");
    link.peerLossPercent = k.lossPercent;
    link.echoTs = k.clock;
    link.echoRecvMs = this.now;
    if (k.echo !== undefined) {
      const rtt = (((this.now >>> 0) - k.echo) >>> 0) - k.heldMs;
      if (rtt >= 0 && rtt < MAX_RTT_SAMPLE_MS) link.rtt.update(rtt);
    }
  }

  /** A session's keys are proven (initiator: RESP checked; responder: the peer's first packet). */
  private established(link: Link, s: Session): void {
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
    this.handshakes.initiate(link);
  }

  /** A keepalive; as a probe it asks the peer to acknowledge at once. */
  private sendKeepalive(link: Link, probe = false): void {
    const s = link.current;
    if (!s) return;
    const k = this.keepaliveOut;
    k.probe = probe;
    k.lossPercent = link.loss.percent();
    k.clock = this.now;
    const fresh = link.echoTs !== undefined && this.now - link.echoRecvMs <= MAX_ECHO_HOLD_MS;
    k.echo = fresh ? link.echoTs : undefined;
    k.heldMs = fresh ? this.now - link.echoRecvMs : 0;
    writeKeepalive(this.keepalive, 0, k);
    link.echoTs = undefined;
    this.send(link, s, this.keepalive, EMPTY);
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
    const choice = chooseCarriers(this.links, this.now, (l) => Boolean(l.current));
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
    const n = s.seal(prefix, body, this.txBuf, s.clear && (prefix[0] === KIND_DATA || prefix[0] === KIND_DATA_EXPRESS));
    if (n === 0) {
      this.drops.add("keys-exhausted");
      return -1;
    }
    link.counters.sentPackets++;
    link.counters.sentBytes += n;
    if (prefix[0] !== KIND_FEEDBACK && s === link.current) link.sender.onSent(counter, n, slot, this.now);
    this.out.transmit(link.index, (this.txViews[n] ??= this.txBuf.subarray(0, n)), peer);
    return counter;
  }

  /** Called by the send path for each data packet its pacer lets go. */
  private transmitData(link: Link, dataSeq: number, packet: Uint8Array, slot: number): void {
    const s = link.current;
    if (!s) return this.drops.add("no-link");
    const prefix = this.dataPrefix;
    writeDataPrefix(prefix, 0, dataSeq);
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

const DISCONNECT_MSG = new Uint8Array(DISCONNECT_SIZE);
writeDisconnect(DISCONNECT_MSG, 0);

/** One line on a link's sending state, for `-D wrr` (the C MLVPN's scheduler debug token). */
function describeSender(l: Link): string {
  const s = l.sender;
  const e = s.estimator;
  const mbit = (bytesPerMs: number) => ((bytesPerMs * 8) / 1000).toFixed(1);
  return `[${l.name}] estimate ${mbit(e.bandwidth)} Mbit/s, pacing ${mbit(e.pacingRate())}${e.inStartup ? " (startup)" : ""}, min RTT ${e.minRttMs.toFixed(1)} ms, srtt ${l.rtt.smoothed.toFixed(1)} ms, in flight ${s.inflightBytes}/${Math.round(e.inflightCap())} B, queued ${s.queueLength}, sent ${s.sentPackets}, lost ${s.lostPackets}${l.stalled ? ", STALLED" : ""}`;
}

/** A C MLVPN 2.x datagram: 28-byte header whose first u16 is the payload length. */
function looksLikeLegacyMlvpn(d: Uint8Array): boolean {
  return d.length >= 28 && ((d[0]! << 8) | d[1]!) === d.length - 28 && (d[2]! & 0x0f) <= 1;
}

export type { DropReason };
