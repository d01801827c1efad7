/**
 * The receive path of a transport message (docs/protocol.md "Transport"):
 *   1. find the session by receiver index  2. replay quick-check  3. open (in place)
 *   4. mark the counter, roam, liveness, acknowledgement  5. dispatch the inner kind
 * The datagram is the core's from then on: it is decrypted in place, its inner message read
 * where it lies, and a data packet delivered (or held by the reorder buffer) as the one view
 * into it, never copied.
 */
import {
  DATA_PREFIX_SIZE,
  dataSeq,
  EXPRESS_PREFIX_SIZE,
  type Feedback,
  FEEDBACK_SIZE,
  feedbackSession,
  type Keepalive,
  KEEPALIVE_SIZE,
  KIND_DATA,
  KIND_DATA_EXPRESS,
  KIND_DATA_REDUNDANT,
  KIND_DISCONNECT,
  KIND_FEEDBACK,
  KIND_KEEPALIVE,
  KIND_LOSS_REPORT,
  KIND_OFF,
  KIND_TRAIN,
  newFeedback,
  newKeepalive,
  readFeedback,
  readKeepalive,
} from "../wire/inner.ts";
import { readU32, readU64 } from "../wire/bytes.ts";
import { MSG_TRANSPORT_CLEAR, TAG_SIZE, TRANSPORT_COUNTER_OFF, TRANSPORT_HEADER_SIZE, TRANSPORT_RECEIVER_OFF, TRANSPORT_TYPE_OFF } from "../wire/layout.ts";
import { describeRoam } from "./describe.ts";
import { probeAnswered } from "./health.ts";
import type { Handshakes } from "./handshakes.ts";
import type { Link, PeerAddress } from "./link.ts";
import { type PeerIdentity, roam } from "./peers.ts";
import type { TunnelOutput } from "./ports.ts";
import type { Redundancy } from "./redundant.ts";
import type { ReorderBuffer } from "./reorder.ts";
import type { SendPath } from "./sendpath.ts";
import type { DropCounters } from "./stats.ts";
import type { Equaliser } from "./equaliser.ts";
import type { Transmitter } from "./transmit.ts";

export interface ReceiveHost {
  readonly drops: DropCounters;
  readonly reorder: ReorderBuffer | undefined;
  /** In front of the reorder buffer if there is one (equaliser.ts). */
  readonly equaliser: Equaliser;
  readonly redundancy: Redundancy;
  readonly sendPath: SendPath;
  readonly tx: Transmitter;
  readonly handshakes: Handshakes;
  readonly peers: PeerIdentity;
  readonly out: TunnelOutput;
  /** Server only: the client's address may change (NAT rebinding); a client sends to its configured server. */
  readonly roams: boolean;
  /** The peer's DISCONNECT (lifecycle.ts). */
  disconnected(link: Link): void;
  /** Whether the link is leaving (a reload removed it: departure.ts), which takes its FEEDBACK instead of the send path. */
  leavingFeedback(link: Link, highestLow32: number): boolean;
  /** Server: its keepalives follow the client's (health.ts keepaliveAtMs). */
  readonly follower: boolean;
  /** Follower: a keepalive of the leader arrived; its health tick keeps to them (deadlines.ts followKeepalive). */
  followed(nowMs: number): void;
}

export class Receiver {
  /** Decoded messages, one record each, reused: no object per packet. */
  private readonly keepalive: Keepalive = newKeepalive();
  private readonly feedback: Feedback = newFeedback();

  constructor(private readonly h: ReceiveHost) {}

  transport(link: Link, d: Uint8Array, from: PeerAddress, nowMs: number): void {
    const h = this.h;
    if (d.length < TRANSPORT_HEADER_SIZE + TAG_SIZE + 1) return h.drops.add("short");
    const session = link.sessionFor(readU32(d, TRANSPORT_RECEIVER_OFF));
    if (!session) return h.drops.add("unknown-session");
    // cleartext_data only where both ends agreed to it in the handshake.
    if (d[TRANSPORT_TYPE_OFF] === MSG_TRANSPORT_CLEAR && !session.clear) return h.drops.add("cleartext-refused");
    const counter = readU64(d, TRANSPORT_COUNTER_OFF);
    if (!session.replay.check(counter)) {
      // A server that sends to `from` learns from an authentic copy that its peer is still there
      // (an attacker's replay of the same packet may have arrived first): see peers.ts `roam`.
      if (h.roams && link.isPeer(from) && session.openInPlace(counter, d)) link.peerAlive(nowMs);
      return h.drops.add("replay");
    }
    if (!session.openInPlace(counter, d)) return h.drops.add("bad-mac");
    if (h.roams && link.isPeer(from)) link.peerAlive(nowMs);
    // The inner message is read where it lies, between the header and the tag: no view.
    const off = TRANSPORT_HEADER_SIZE;
    const end = d.length - TAG_SIZE;
    const newest = counter > session.replay.highest;
    session.replay.mark(counter);
    if (session.peerInstance !== h.peers.instance && session !== link.next) return h.drops.add("stale-peer");

    if (session === link.next && !h.handshakes.confirmedByPacket(link, session)) return h.drops.add("unconfirmed");
    // Roaming (docs/protocol.md "Transport"): only the server follows its peer, only on a packet
    // of the current session that advances its highest counter, and only away from an address
    // gone silent (peers.ts). The client never follows anybody: it never stops sending from and
    // to the real addresses, which is what keeps the server's peer where it is.
    if (h.roams && newest && session === link.current) {
      const was = roam(link, from, nowMs);
      if (was) h.out.log("info", "net", describeRoam(link, was, from));
    }
    link.heard(nowMs);
    link.countCounter(session.localIndex, counter);
    link.countReceived(d.length);
    const kind = d[off + KIND_OFF];
    if (kind !== KIND_FEEDBACK && kind !== KIND_LOSS_REPORT) {
      // Acknowledge everything but acknowledgements; a keepalive (or probe: that is its answer, health.ts
      // keepaliveAtMs), a DISCONNECT (departure.ts) and a rate train's packet (train.ts: its arrival clock) at once.
      link.acks.onReceive(session.localIndex, counter, nowMs, kind === KIND_KEEPALIVE || kind === KIND_DISCONNECT || kind === KIND_TRAIN);
      // An acknowledgement that makes the sender find a loss goes at once, and the reorder buffer waits for the resend.
      const resendMs = link.resendDueMs(nowMs);
      if (resendMs !== undefined) {
        link.acks.dueMs = nowMs;
        h.reorder?.resendDue(resendMs);
      }
      if (link.acks.dueMs <= nowMs) h.tx.feedback(link, nowMs);
      // ... and again on a faster link, which brings the resend sooner (lossreport.ts).
      const via = resendMs !== undefined ? h.sendPath.lossReportPath(link) : undefined;
      if (via) h.tx.lossReport(link, via, nowMs);
    }

    switch (kind) {
      case KIND_DATA:
        if (end - off < DATA_PREFIX_SIZE) return h.drops.add("short");
        link.dataHeardMs = nowMs;
        h.sendPath.dataArrived();
        return this.data(link, dataSeq(d, off), d.subarray(off + DATA_PREFIX_SIZE, end), nowMs);
      case KIND_DATA_EXPRESS:
        link.dataHeardMs = nowMs;
        return h.out.deliver(d.subarray(off + EXPRESS_PREFIX_SIZE, end));
      case KIND_DATA_REDUNDANT:
        // The first copy of a redundant packet is delivered at once, outside the reorder buffer.
        if (end - off < DATA_PREFIX_SIZE) return h.drops.add("short");
        if (h.redundancy.receive(dataSeq(d, off), h.peers.instance)) h.out.deliver(d.subarray(off + DATA_PREFIX_SIZE, end));
        return;
      case KIND_FEEDBACK:
        link.feedbackHeardMs = nowMs;
        return this.onFeedback(link, d, off, end, nowMs);
      case KIND_LOSS_REPORT:
        return this.onLossReport(d, off, end, nowMs);
      case KIND_KEEPALIVE:
        if (!readKeepalive(d, off, end, this.keepalive)) return h.drops.add(end - off < KEEPALIVE_SIZE ? "short" : "bad-flags");
        link.onKeepalive(this.keepalive, nowMs);
        if (session === link.current) h.sendPath.keepaliveAnswered(link);
        // Acknowledged above; a probe may also have the follower check its own direction (health.ts probeAnswered).
        if (this.keepalive.probe && link.isUp && session === link.current && probeAnswered(link, nowMs, h.follower)) h.tx.keepalive(link, false, nowMs);
        else if (!this.keepalive.probe && h.follower) h.followed(nowMs);
        // The leader hears nothing from us on this link: so our direction is cut, or will be found working by our probes.
        if (this.keepalive.stalled && h.follower && link.isUp && session === link.current) h.sendPath.stallNow(link, nowMs);
        return;
      case KIND_DISCONNECT:
        return h.disconnected(link);
      case KIND_TRAIN:
        return; // acknowledged above: that is all it is for
      default:
        return h.drops.add("bad-kind");
    }
  }

  private data(link: Link, seq: number, packet: Uint8Array, nowMs: number): void {
    // Our senders count from 0 and never get near 2^53; a larger value is not ours.
    if (seq > Number.MAX_SAFE_INTEGER) return this.h.drops.add("bad-seq");
    // The equaliser feeds the reorder buffer, or the LAN when there is none.
    this.h.equaliser.arrive(link, seq, packet, nowMs);
  }

  /** Another link's acknowledgement showing a loss (lossreport.ts): the losses only, sent again now. */
  private onLossReport(m: Uint8Array, off: number, end: number, nowMs: number): void {
    const f = this.feedback;
    if (!readFeedback(m, off, end, f)) return this.h.drops.add("short");
    const about = this.h.sendPath.acknowledging(f.session);
    if (about) this.h.sendPath.onLossReport(about, f.highest, f.bitmapHi, f.bitmapLo, nowMs);
  }

  private onFeedback(link: Link, m: Uint8Array, off: number, end: number, nowMs: number): void {
    if (end - off < FEEDBACK_SIZE) return this.h.drops.add("short");
    // Acknowledgements of our counters in flight: the current session's, and the previous one's
    // when the current one continued its counters (a rekey); others are of no use any more.
    if (!link.acknowledges(feedbackSession(m, off))) return;
    const f = this.feedback;
    readFeedback(m, off, end, f);
    link.onFeedbackClock(f.receiverClock, f.ackDelayMs, nowMs);
    if (this.h.leavingFeedback(link, f.highest)) return;
    this.h.sendPath.onFeedback(link, f.highest, f.bitmapHi, f.bitmapLo, f.ackDelayMs, f.receiverClock, nowMs);
  }
}
