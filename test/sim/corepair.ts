/**
 * The tunnel's data plane without handshakes or cryptography, for simulations too large for
 * SimPair (the sweep: a hundred cells of 20 virtual seconds): two ends built from the core's own
 * Link, SendPath, ReorderBuffer and policy, glued as tunnel.ts glues them (data, express,
 * FEEDBACK, probes, the health tick), carrying messages as objects over Path models. A TCP
 * connection (tcpmodel.ts) runs through it in either direction
 * (the same glue; tunnel.sim.test.ts checks the real Tunnel).
 */
import type { LinkConfig } from "../../src/config/schema.ts";
import { LinkStatus, Link } from "../../src/core/link.ts";
import { keepaliveAtMs, keepaliveDue, leaderSilentAtMs, probeAnswered } from "../../src/core/health.ts";
import { chooseCarriers, reorderHoldMs } from "../../src/core/policy.ts";
import { Equaliser, PassThrough } from "../../src/core/equaliser.ts";
import { ReorderBuffer } from "../../src/core/reorder.ts";
import { SendPath } from "../../src/core/sendpath.ts";
import { HEALTH_TICK_MS } from "../../src/core/constants.ts";
import { TAG_SIZE, TRANSPORT_HEADER_SIZE, TUNNEL_OVERHEAD, UDP_IPV4_OVERHEAD } from "../../src/wire/layout.ts";
import { readU16, readU32 } from "../../src/wire/bytes.ts";
import { FEEDBACK_BITMAP_HI_OFF, FEEDBACK_BITMAP_LO_OFF, FEEDBACK_CLOCK_OFF, FEEDBACK_DELAY_OFF, FEEDBACK_HIGHEST_OFF, FEEDBACK_SIZE, KEEPALIVE_SIZE, newKeepalive } from "../../src/wire/inner.ts";
import { SeededRandom } from "../helpers/random.ts";
import { bucketBytes, EventHeap, Path, type PathSpec, Trace } from "./pathmodel.ts";
import { type AckRecord, type CongestionControl, TcpReceiver, TcpSender } from "./tcpmodel.ts";

export const TUN_MTU = 1432;
/** TCP payload ÷ wire bytes of a full tunnelled packet (1380 of 1500 on IPv4). */
export const PAYLOAD_SHARE = (TUN_MTU - 52) / (TUN_MTU + TUNNEL_OVERHEAD + UDP_IPV4_OVERHEAD);
const ACK_PACKET = 52;
const SESSION = 1;
export const WARMUP_MS = 1000;
/** A SYN or SYN-ACK with Linux's options (MSS, SACK, timestamps, window scale): 60 bytes of IPv4 + TCP. */
const SYN_BYTES = 60;
/** Packet kinds (byte 0) besides 1 (a data segment); an acknowledgement is an IPv4 header (ackPacket). */
const SYN = 3, SYN_ACK = 4;
/** A ping's echo request and reply (byte 0), 84 bytes as `ping`'s: the express lane's. */
const PING = 5, PONG = 6;
const PING_BYTES = 84;
/** Linux's initial retransmission timeout (TCP_TIMEOUT_INIT). */
const SYN_RTO_MS = 1000;

type Kind = "data" | "express" | "feedback" | "lossreport" | "probe" | "keepalive" | "train";
interface Msg {
  kind: Kind;
  link: number;
  counter: number;
  dataSeq: number;
  packet?: Uint8Array;
  feedback?: Uint8Array;
  /** A loss report: the link whose acknowledgement it carries. */
  about?: number;
  /** Keepalives and probes: the sender's clock, and the peer's last one echoed with how long it was held (tunnel.ts). */
  ts?: number;
  echo?: number;
  held?: number;
  /** Keepalives and probes: the sender has the link stalled (flag 4). */
  stalled?: boolean;
}

/**
 * Small views standing for delivered packets (kind byte, id at 20..23, and byte 9: an
 * acknowledgement's IP protocol): the reorder buffer holds
 * them by reference. Each keeps its packet's length, which the receiving side reads (the
 * equaliser counts only packets over the express lane's size as bulk: equaliser.ts
 * BULK_MIN_BYTES); only the first VIEW bytes are its own, so views may overlap past them.
 */
const VIEW = 24;
const VIEWS = 16384;
export class ViewRing {
  private readonly buffer = new ArrayBuffer(VIEWS * VIEW + TUN_MTU);
  private next = 0;
  copy(p: Uint8Array): Uint8Array {
    const v = new Uint8Array(this.buffer, (this.next++ % VIEWS) * VIEW, p.length);
    v[0] = p[0]!;
    v[9] = p[9]!;
    v[20] = p[20]!;
    v[21] = p[21]!;
    v[22] = p[22]!;
    v[23] = p[23]!;
    return v;
  }
}

/** One end: what tunnel.ts does with the data plane, minus sessions and sealing. */
class CoreEnd {
  readonly links: Link[];
  readonly sendPath: SendPath;
  readonly reorder: ReorderBuffer | undefined;
  readonly equaliser: Equaliser;
  private readonly counters: number[];
  private carriers: Link[] = [];
  /** The up links, refilled on each call as linktable.ts active() does (no array per call). */
  private readonly up: Link[] = [];
  private dataSeq = 0;
  private nextHealth = 0;
  private now = 0;
  readonly drops = new Map<string, number>();
  /** Data packets sent per link, resends included (which link carried the transfer). */
  readonly dataSent: number[];
  /** Set by every input: nextTimeout() must be computed again. */
  dirty = true;
  private cachedTimeout = 0;
  private readonly fb = new Uint8Array(FEEDBACK_SIZE);
  private readonly ka = newKeepalive();
  private readonly views = new ViewRing();

  constructor(
    configs: LinkConfig[],
    reorderSize: number,
    private readonly wire: (link: number, msg: Msg, bytes: number) => void,
    private readonly deliver: (packet: Uint8Array) => void,
    /** The server's part: its keepalives follow the peer's (health.ts keepaliveAtMs). */
    private readonly follower = false,
  ) {
    this.links = configs.map((c, i) => new Link(i, c, TUN_MTU, 0));
    for (const l of this.links) {
      l.setStatus(LinkStatus.AuthOk, 0);
      l.heard(0);
      l.sender.resetFlight(SESSION);
    }
    this.counters = configs.map(() => 0);
    this.dataSent = configs.map(() => 0);
    this.carriers = [...this.links];
    this.sendPath = new SendPath({
      transmitData: (link, seq, packet, slot) => this.send(link, { kind: "data", link: link.index, counter: 0, dataSeq: seq, packet: this.views.copy(packet) }, packet.length + TUNNEL_OVERHEAD, slot),
      transmitExpress: (link, packet) => this.send(link, { kind: "express", link: link.index, counter: 0, dataSeq: -1, packet: this.views.copy(packet) }, TRANSPORT_HEADER_SIZE + 1 + packet.length + TAG_SIZE, -1),
      transmitProbe: (link) => this.send(link, { kind: "probe", link: link.index, counter: 0, dataSeq: -1 }, TRANSPORT_HEADER_SIZE + KEEPALIVE_SIZE + TAG_SIZE, -1),
      transmitTrain: (link) => {
        const msg: Msg = { kind: "train", link: link.index, counter: 0, dataSeq: -1 };
        this.send(link, msg, TUN_MTU + TUNNEL_OVERHEAD, -1);
        return msg.counter;
      },
      candidates: () => this.carriers,
      active: () => {
        this.up.length = 0;
        for (const l of this.links) if (l.isUp) this.up.push(l);
        return this.up;
      },
      stallChanged: () => {},
      drop: (reason) => this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1),
    }, reorderSize);
    // tunnel.ts: the configured size; the equaliser in front, with or without the buffer.
    this.reorder = reorderSize > 0 ? new ReorderBuffer(reorderSize, deliver, true) : undefined;
    this.equaliser = new Equaliser(this.reorder ?? new PassThrough(deliver), () => this.links);
  }

  private send(link: Link, msg: Msg, bytes: number, slot: number): void {
    msg.counter = this.counters[link.index]!++;
    if (msg.kind === "keepalive" || msg.kind === "probe") {
      // transmit.ts: our clock, and the peer's last one echoed (the RTT a tunnel knows from its
      // keepalives, even for a link whose data records were given up), filled by the Link and
      // carried as the wire carries them (whole ms, u32).
      link.writeKeepalive(this.ka, msg.kind === "probe", this.now);
      msg.ts = this.ka.clock >>> 0;
      msg.stalled = this.ka.stalled;
      if (this.ka.echo !== undefined) (msg.echo = this.ka.echo), (msg.held = this.ka.heldMs >>> 0);
    }
    // transmit.ts: acknowledgements are not acknowledged, and a rate train is not recorded in flight (train.ts).
    if (msg.kind !== "feedback" && msg.kind !== "lossreport" && msg.kind !== "train") link.sender.onSent(msg.counter, bytes, slot, this.now);
    if (msg.kind === "data" || msg.kind === "express") link.dataSentMs = this.now; // transmit.ts
    if (msg.kind === "data") this.dataSent[link.index]!++;
    this.wire(link.index, msg, bytes);
  }

  /** A keepalive probe on every link: the peer acknowledges at once (the RTTs a tunnel knows before any data). */
  probeAll(now: number): void {
    this.now = now;
    this.dirty = true;
    for (const l of this.links) this.send(l, { kind: "probe", link: l.index, counter: 0, dataSeq: -1 }, TRANSPORT_HEADER_SIZE + KEEPALIVE_SIZE + TAG_SIZE, -1);
    // lifecycle.ts established: a link whose rate is the guess is measured by a train at link-up (train.ts).
    for (const l of this.links) this.sendPath.measure(l);
  }

  tun(packet: Uint8Array, now: number): void {
    this.now = now;
    this.dirty = true;
    // express.ts: with reordering on, TCP data and SYNs never go express; the model's packets are
    // no IP, so its SYN and SYN-ACK are kept out here (its data segments are too big anyway).
    const tcpData = this.reorder !== undefined && (packet[0] === SYN || packet[0] === SYN_ACK);
    if (!tcpData && this.sendPath.express(packet, now)) return;
    if (this.sendPath.schedule(packet, this.dataSeq, now)) this.dataSeq++;
  }

  receive(msg: Msg, now: number): void {
    this.now = now;
    this.dirty = true;
    const link = this.links[msg.link]!;
    link.heard(now);
    link.loss.onReceive(SESSION, msg.counter);
    if (msg.kind !== "feedback" && msg.kind !== "lossreport") {
      link.acks.onReceive(SESSION, msg.counter, now, msg.kind === "probe" || msg.kind === "keepalive" || msg.kind === "train");
      // receive.ts: an acknowledgement that makes the sender find a loss goes at once, and the reorder buffer waits for the resend.
      const resendMs = link.resendDueMs(now);
      if (resendMs !== undefined) {
        link.acks.dueMs = now;
        this.reorder?.resendDue(resendMs);
      }
      if (link.acks.dueMs <= now) this.sendFeedback(link);
      // ... and again on a faster link (receive.ts, transmit.ts lossReport). The wire names the
      // link reported on by its session (sendpath.ts acknowledging); here, by its index.
      const via = resendMs !== undefined ? this.sendPath.lossReportPath(link) : undefined;
      if (via) {
        link.acks.write(this.fb, 0, this.now);
        this.send(via, { kind: "lossreport", link: via.index, about: link.index, counter: 0, dataSeq: -1, feedback: this.fb.slice() }, TRANSPORT_HEADER_SIZE + FEEDBACK_SIZE + TAG_SIZE, -1);
      }
    }
    // receive.ts: when the peer's data, or its acknowledgements, were last heard on the link
    // (the silence probe's evidence, sendpath.ts heardMs).
    if (msg.kind === "data" || msg.kind === "express") link.dataHeardMs = now;
    else if (msg.kind === "feedback") link.feedbackHeardMs = now;
    if (msg.kind === "data") {
      this.sendPath.dataArrived(); // receive.ts
      this.equaliser.arrive(link, msg.dataSeq, msg.packet!, now);
    } else if (msg.kind === "express") {
      this.deliver(msg.packet!);
    } else if (msg.kind === "keepalive" || msg.kind === "probe") {
      // receive.ts: the Link keeps the clock to echo and takes the RTT sample. The loss report
      // is not modelled (the sim's loss is measured on the receiving side only).
      this.ka.probe = msg.kind === "probe";
      this.ka.lossPercent = undefined;
      this.ka.clock = msg.ts!;
      this.ka.echo = msg.echo;
      this.ka.heldMs = msg.held ?? 0;
      link.onKeepalive(this.ka, now);
      this.sendPath.keepaliveAnswered(link); // receive.ts: acknowledged at once, above
      // receive.ts: a keepalive is acknowledged at once (above); a probe may have the follower
      // send its own (health.ts probeAnswered).
      if (msg.kind === "probe" && probeAnswered(link, now, this.follower)) {
        this.send(link, { kind: "keepalive", link: link.index, counter: 0, dataSeq: -1 }, TRANSPORT_HEADER_SIZE + KEEPALIVE_SIZE + TAG_SIZE, -1);
      }
      // receive.ts: the leader has the link stalled, so the follower too.
      if (msg.stalled && this.follower) this.sendPath.stallNow(link, now);
    } else if (msg.kind === "lossreport") {
      const f = msg.feedback!;
      this.sendPath.onLossReport(this.links[msg.about!]!, readU32(f, FEEDBACK_HIGHEST_OFF), readU32(f, FEEDBACK_BITMAP_HI_OFF), readU32(f, FEEDBACK_BITMAP_LO_OFF), now);
    } else if (msg.kind === "feedback") {
      const f = msg.feedback!;
      this.sendPath.onFeedback(link, readU32(f, FEEDBACK_HIGHEST_OFF), readU32(f, FEEDBACK_BITMAP_HI_OFF), readU32(f, FEEDBACK_BITMAP_LO_OFF), readU16(f, FEEDBACK_DELAY_OFF) / 10, readU32(f, FEEDBACK_CLOCK_OFF), now);
    }
  }

  private sendFeedback(link: Link): void {
    if (!link.acks.hasPending) {
      link.acks.dueMs = Number.POSITIVE_INFINITY;
      return;
    }
    link.acks.write(this.fb, 0, this.now);
    this.send(link, { kind: "feedback", link: link.index, counter: 0, dataSeq: -1, feedback: this.fb.slice() }, TRANSPORT_HEADER_SIZE + FEEDBACK_SIZE + TAG_SIZE, -1);
  }

  handleTimeout(now: number): void {
    this.now = now;
    this.dirty = true;
    this.equaliser.handleTimeout(now); // and the reorder buffer's
    for (const l of this.links) if (l.acks.dueMs <= now) this.sendFeedback(l);
    this.sendPath.onTimer(now);
    if (now < this.nextHealth && now < this.keepaliveMs()) return;
    this.nextHealth = now + HEALTH_TICK_MS;
    for (const l of this.links) {
      l.loss.rotate();
      // lifecycle.ts healthTick: a keepalive on every up link where one is due (health.ts
      // keepaliveDue), acknowledged at once.
      if (keepaliveDue(l, now, this.follower)) this.send(l, { kind: "keepalive", link: l.index, counter: 0, dataSeq: -1 }, TRANSPORT_HEADER_SIZE + KEEPALIVE_SIZE + TAG_SIZE, -1);
      // The follower stalls a link whose leader went silent (health.ts leaderSilentAtMs).
      if (this.follower && now >= leaderSilentAtMs(l)) this.sendPath.stallNow(l, now);
    }
    if (this.reorder) this.reorder.holdMs = reorderHoldMs(this.links) ?? this.reorder.holdMs;
    this.carriers = chooseCarriers(this.links, now, () => true);
  }

  /** deadlines.ts: the earliest keepalive due (follower: or its leader gone silent), which runs the tick off its phase. */
  private keepaliveMs(): number {
    let t = Number.POSITIVE_INFINITY;
    for (const l of this.links) if (l.isUp) t = Math.min(t, keepaliveAtMs(l, this.follower), this.follower ? leaderSilentAtMs(l) : Number.POSITIVE_INFINITY);
    return t;
  }

  nextTimeout(): number {
    if (!this.dirty) return this.cachedTimeout;
    let t = Math.min(this.nextHealth, this.keepaliveMs(), this.equaliser.nextDeadline());
    for (const l of this.links) t = Math.min(t, this.sendPath.deadline(l, this.now));
    this.dirty = false;
    this.cachedTimeout = t;
    return t;
  }
}

export interface LinkPaths {
  up: PathSpec;
  down: PathSpec;
}

/**
 * A constant-rate link, the same both ways; `loss` (a fraction) on both directions when given;
 * `bucketMs`: behind a token bucket of that many ms of tokens, as the lab's htb (bucketBytes).
 */
export function fixedLink(rateMbit: number, delayMs: number, loss = 0, bucketMs = 0, jitterMs = 0): LinkPaths {
  const path: PathSpec = { rateMbit, delayMs, ...(loss > 0 ? { loss } : {}), ...(bucketMs > 0 ? { burstBytes: bucketBytes(rateMbit, bucketMs) } : {}), ...(jitterMs > 0 ? { jitterMs } : {}) };
  return { up: path, down: { ...path } };
}
/** A link driven by a bench trace's two directions (`Verizon-LTE-short`: .up and .down). */
export const traceLink = (name: string, delayMs: number): LinkPaths => ({ up: { trace: Trace.bench(`${name}.up`), delayMs }, down: { trace: Trace.bench(`${name}.down`), delayMs } });

export interface TransferResult {
  /** In-order TCP payload per 100 ms, Mbit/s. */
  goodput100ms: number[];
  retransmits: number;
  rtos: number;
  /** Loss episodes undone (all their retransmissions were spurious: reordering). */
  undos: number;
  /** Segments the receiver got twice (spurious retransmissions, or the tunnel's). */
  duplicates: number;
  /** The sending end's drops by reason (queue-full…). */
  drops: Map<string, number>;
  /** The sending end's data packets per link, resends included (empty for a bare transfer). */
  dataSent: number[];
  /** With `pingEveryMs`: each answered ping's round trip (ms), in the order sent; a lost one is left out. */
  pingRttMs: number[];
}

/** A stand-in's id, at bytes 20..23 (an acknowledgement's TCP ports). */
function writeId(p: Uint8Array, id: number): Uint8Array {
  p[20] = id >>> 24;
  p[21] = id >>> 16;
  p[22] = id >>> 8;
  p[23] = id;
  return p;
}
function tag(p: Uint8Array, id: number, kind: number): Uint8Array {
  p[0] = kind;
  return writeId(p, id);
}
const idOf = (p: Uint8Array) => ((p[20]! << 24) | (p[21]! << 16) | (p[22]! << 8) | p[23]!) >>> 0;

/**
 * TCP's acknowledgements are real IPv4 headers of a pure ACK (20 bytes of IP, 32 of TCP with
 * timestamps; the id in the ports' bytes 20..23), so that the express lane knows them as the
 * daemon does (tcpsegment.ts isPureTcpAck: they take the lane outside its share).
 */
function ackPacket(): Uint8Array {
  const p = new Uint8Array(ACK_PACKET);
  p[0] = 0x45;
  p[3] = ACK_PACKET;
  p[9] = 6;
  p[32] = 8 << 4;
  p[33] = 0x10;
  return p;
}
const isAck = (p: Uint8Array) => p[0] === 0x45 && p[9] === 6;

/**
 * One bulk TCP transfer for `durationMs` over the tunnel (links = the paths; `download`:
 * server → client) or, with `bare`, directly over one link's paths. `onTick` runs every 100 ms
 * (to change links during the transfer).
 */
export function runTransfer(opts: {
  links: LinkPaths[];
  download: boolean;
  durationMs: number;
  reorderSize: number;
  bare?: boolean;
  seed?: number;
  /** The TCP's congestion control (default CUBIC). */
  cc?: CongestionControl;
  /** Open with a SYN exchange whose round trip is TCP's first RTT sample (as Linux); off: data from the start, no sample. */
  handshake?: boolean;
  /** How often onTick runs, ms of virtual time (default 100). */
  tickMs?: number;
  onTick?: (nowMs: number, paths: Path[][], ends: readonly { links: readonly Link[]; reorder: ReorderBuffer | undefined; drops: Map<string, number> }[], tcp: TcpSender) => void;
  /**
   * A ping through the tunnel every this many ms from the transfer's start (the lab sweep's probe:
   * an 84-byte echo request from the client's side, answered at once by the server's): the
   * latency a call or a game would see beside the transfer. Not with `bare`.
   */
  pingEveryMs?: number;
  /** No TCP transfer: only the pings (the idle latency the loaded one is compared with). */
  idle?: boolean;
}): TransferResult {
  const rand = new SeededRandom(opts.seed ?? 1);
  // Traces start at 0: a bare transfer, which needs no warm-up, sees them from where the tunnel's transfer does.
  const traceStart = opts.bare ? -WARMUP_MS : 0;
  const paths = opts.links.map((l) => [new Path(opts.download ? l.down : l.up, rand, traceStart), new Path(opts.download ? l.up : l.down, rand, traceStart)]);
  // paths[i][0]: the data direction, [1]: the way back
  type Ev = { to: 0 | 1; msg?: Msg; seg?: number; ack?: AckRecord; syn?: number };
  const heap = new EventHeap<Ev>();
  let now = 0;
  const acks: AckRecord[] = [];
  const packetBytes = opts.bare ? 1500 : TUN_MTU;
  const scratch = new Uint8Array(TUN_MTU);
  const ackScratch = ackPacket();
  const synScratch = new Uint8Array(SYN_BYTES);
  const endTimes = [0, 0];
  const configs: LinkConfig[] = opts.links.map((_, i) => ({ name: `l${i}`, bindfib: 0, bandwidth_upload: 0, timeout: 30, loss_tolerence: 100, latency_tolerence: 1000, fallback_only: false, priority: 0 }) as LinkConfig);
  let ends: CoreEnd[] = [];
  let sender!: TcpSender;
  const receiver = new TcpReceiver(packetBytes - 52, opts.durationMs, (a) => {
    if (opts.bare) {
      const t = paths[0]![1]!.send(ACK_PACKET, now);
      if (t >= 0) heap.push(t, { to: 0, ack: a });
      return;
    }
    acks.push(a);
    ends[1]!.tun(writeId(ackScratch, acks.length - 1), now);
  });
  const pingScratch = new Uint8Array(PING_BYTES);
  const pingSentAt: number[] = [];
  const pingRtt: number[] = [];
  // The client's side pings: end 0 (the data's sender) in an upload, end 1 in a download.
  const pinger = opts.download ? 1 : 0;
  const onDeliver = (side: 0 | 1) => (p: Uint8Array) => {
    if (p[0] === PING && side !== pinger) ends[side]!.tun(tag(pingScratch, idOf(p), PONG), now);
    else if (p[0] === PONG && side === pinger) pingRtt[idOf(p)] = now - pingSentAt[idOf(p)]!;
    else if (side === 1 && p[0] === 1) receiver.onSegment(idOf(p), now - warmup);
    else if (side === 0 && isAck(p)) sender.onAck(acks[idOf(p)]!, now);
    else if (side === 1 && p[0] === SYN) ends[1]!.tun(tag(synScratch, idOf(p), SYN_ACK), now);
    else if (side === 0 && p[0] === SYN_ACK) established(idOf(p));
  };
  sender = new TcpSender(
    packetBytes,
    (seq) => {
      if (opts.bare) {
        const t = paths[0]![0]!.send(packetBytes, now);
        if (t >= 0) heap.push(t, { to: 1, seg: seq });
        return;
      }
      ends[0]!.tun(tag(scratch, seq, 1), now);
    },
    opts.seed ?? 1,
    opts.cc,
  );
  if (!opts.bare) {
    ends = [0, 1].map(
      (side) =>
        new CoreEnd(
          configs,
          opts.reorderSize,
          (link, msg, bytes) => {
            const t = paths[link]![side]!.send(bytes + UDP_IPV4_OVERHEAD, now);
            if (t >= 0) heap.push(t, { to: side === 0 ? 1 : 0, msg });
          },
          onDeliver(side as 0 | 1),
          side === 1,
        ),
    );
  }
  // The tunnel has been up for a second (keepalives, first RTTs) before the transfer starts.
  const warmup = opts.bare ? 0 : WARMUP_MS;
  for (const e of ends) e.probeAll(0);
  let started = false;
  // With `handshake`, the connection opens with a SYN and its SYN-ACK (small: the tunnel's express
  // lane), whose round trip is the TCP's first RTT sample (tcpmodel.ts start). Sent again after
  // Linux's initial RTO of 1 s (a retransmitted SYN gives no sample: Karn); the n-th SYN carries
  // id n. Off by default: the sweep's lists are without it (docs/simulator.md, "Limits").
  let synsSent = 0;
  let synSentAt = 0;
  const sendSyn = () => {
    synSentAt = now;
    synsSent++;
    if (opts.bare) {
      const t = paths[0]![0]!.send(SYN_BYTES, now);
      if (t >= 0) heap.push(t, { to: 1, syn: synsSent });
    } else ends[0]!.tun(tag(synScratch, synsSent, SYN), now);
  };
  function established(syn: number): void {
    if (started) return;
    started = true;
    sender.start(now, syn === 1 ? now - synSentAt : undefined);
  }
  let nextTick = 100;
  const pingEvery = opts.bare ? 0 : (opts.pingEveryMs ?? 0);
  let nextPing = pingEvery > 0 ? warmup : Number.POSITIVE_INFINITY;
  for (let steps = 0; ; steps++) {
    if (steps >= 50_000_000) throw new Error(`simulation stuck at ${now} ms (livelock?)`);
    if (!opts.idle) {
      if (!started && now >= warmup && !opts.handshake) established(0);
      if (!started && now >= warmup && now >= synSentAt + (synsSent > 0 ? SYN_RTO_MS : 0)) sendSyn();
    }
    let t = Math.min(heap.peekTime(), started ? sender.nextTimeout() : opts.idle ? Number.POSITIVE_INFINITY : Math.max(warmup, synsSent > 0 ? synSentAt + SYN_RTO_MS : 0), receiver.ackDueMs + warmup, nextTick, nextPing);
    for (let i = 0; i < ends.length; i++) t = Math.min(t, (endTimes[i] = ends[i]!.nextTimeout()));
    if (t >= warmup + opts.durationMs) break;
    now = Math.max(now, t);
    if (heap.peekTime() <= now) {
      const ev = heap.pop()!;
      if (ev.msg) ends[ev.to]!.receive(ev.msg, now);
      else if (ev.syn !== undefined) {
        if (ev.to === 0) established(ev.syn);
        else {
          const t = paths[0]![1]!.send(SYN_BYTES, now);
          if (t >= 0) heap.push(t, { to: 0, syn: ev.syn });
        }
      } else if (ev.seg !== undefined) receiver.onSegment(ev.seg, now - warmup);
      else if (ev.ack) sender.onAck(ev.ack, now);
      continue;
    }
    if (now >= nextPing) {
      pingSentAt.push(now);
      ends[pinger]!.tun(tag(pingScratch, pingSentAt.length - 1, PING), now);
      nextPing += pingEvery;
      continue;
    }
    if (now >= nextTick) {
      opts.onTick?.(now, paths, ends, sender);
      nextTick += opts.tickMs ?? 100;
    }
    for (let i = 0; i < ends.length; i++) if (endTimes[i]! <= now) ends[i]!.handleTimeout(now);
    if (started && sender.nextTimeout() <= now) sender.handleTimeout(now);
    // (now − warmup can round below ackDueMs when ackDueMs + warmup rounded to now)
    if (receiver.ackDueMs + warmup <= now) receiver.handleTimeout(Math.max(now - warmup, receiver.ackDueMs));
  }
  return { goodput100ms: Array.from(receiver.buckets, (b) => (b * 8) / 1000 / 100), retransmits: sender.retransmits, rtos: sender.rtos, undos: sender.undos, duplicates: receiver.duplicates, drops: ends[0]?.drops ?? new Map(), dataSent: ends[0]?.dataSent ?? [], pingRttMs: pingRtt.filter((x) => x !== undefined) };
}

/** Mean of the 100 ms goodputs over [fromMs, toMs). */
export function meanGoodput(r: TransferResult, fromMs: number, toMs: number): number {
  const a = r.goodput100ms.slice(Math.floor(fromMs / 100), Math.floor(toMs / 100));
  return a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
}

/** The worst mean over any 5 s window (in 1 s steps) within [fromMs, toMs). */
export function worstWindow(r: TransferResult, fromMs: number, toMs: number, windowMs = 5000): number {
  let worst = Number.POSITIVE_INFINITY;
  for (let t = fromMs; t + windowMs <= toMs; t += 1000) worst = Math.min(worst, meanGoodput(r, t, t + windowMs));
  return worst;
}
