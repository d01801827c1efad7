/**
 * Sealing: every transport message a link sends is written here, into one buffer sized for the
 * largest (ArrayBuffer-backed, so that the AEAD works on it in place at a stable address). The
 * inner message is written directly behind the transport header, where it is encrypted: a data
 * packet is copied once (from the link's store into this buffer) and nothing else is.
 */
import {
  DATA_PREFIX_SIZE,
  DISCONNECT_SIZE,
  EXPRESS_PREFIX_SIZE,
  FEEDBACK_SIZE,
  KEEPALIVE_SIZE,
  type Keepalive,
  KIND_LOSS_REPORT,
  KIND_OFF,
  newKeepalive,
  writeDataPrefix,
  writeDisconnect,
  writeExpressPrefix,
  writeKeepalive,
  writeRedundantPrefix,
  writeTrain,
} from "../wire/inner.ts";
import { TAG_SIZE, TRANSPORT_HEADER_SIZE } from "../wire/layout.ts";
import type { Link, PeerAddress } from "./link.ts";
import type { Session } from "./session.ts";
import type { DropCounters } from "./stats.ts";

export type Transmit = (link: number, datagram: Uint8Array, peer: PeerAddress, urgent?: boolean) => void;

const PAYLOAD = TRANSPORT_HEADER_SIZE;

export class Transmitter {
  private readonly buf: Uint8Array;
  /** buf.subarray(0, n) for each length n used so far: no view per datagram sent. */
  private readonly views: (Uint8Array | undefined)[] = [];
  private readonly keepaliveFields: Keepalive = newKeepalive();

  constructor(
    private readonly maxPacketSize: number,
    private readonly transmit: Transmit,
    private readonly drops: DropCounters,
  ) {
    this.buf = new Uint8Array(new ArrayBuffer(PAYLOAD + DATA_PREFIX_SIZE + maxPacketSize + TAG_SIZE + 64));
  }

  /** A handshake message (built by handshake.ts, not sealed). */
  handshake(link: Link, message: Uint8Array, to: PeerAddress): void {
    this.transmit(link.index, message, to);
    link.countSent(message.length);
  }

  /** A data packet from store slot `slot`, under the data sequence number `dataSeq`. */
  data(link: Link, dataSeq: number, packet: Uint8Array, slot: number, nowMs: number): void {
    const s = link.current;
    if (!s) return this.drops.add("no-link");
    writeDataPrefix(this.buf, PAYLOAD, dataSeq);
    link.dataSentMs = nowMs;
    this.buf.set(packet, PAYLOAD + DATA_PREFIX_SIZE);
    this.seal(link, s, DATA_PREFIX_SIZE + packet.length, s.clear, true, slot, nowMs);
  }

  /** A small packet outside the sequence (never resent). */
  express(link: Link, packet: Uint8Array, nowMs: number): void {
    const s = link.current;
    if (!s) return this.drops.add("no-link");
    writeExpressPrefix(this.buf, PAYLOAD);
    link.dataSentMs = nowMs;
    this.buf.set(packet, PAYLOAD + EXPRESS_PREFIX_SIZE);
    this.seal(link, s, EXPRESS_PREFIX_SIZE + packet.length, s.clear, true, -1, nowMs);
  }

  /**
   * One copy of a redundant packet (redundant.ts): acknowledged like data, never resent, and sent
   * at once (urgent), not at the end of the input that read it: it skips our queues, and the
   * batch it was read in (up to a thousand packets after a pause of the process) must not hold
   * it either (docs/scheduler.md, "Standing queue at the bottleneck").
   */
  redundant(link: Link, seq: number, packet: Uint8Array, nowMs: number): void {
    const s = link.current;
    if (!s) return this.drops.add("no-link");
    writeRedundantPrefix(this.buf, PAYLOAD, seq);
    this.buf.set(packet, PAYLOAD + DATA_PREFIX_SIZE);
    this.seal(link, s, DATA_PREFIX_SIZE + packet.length, s.clear, true, -1, nowMs, true);
  }

  /** A keepalive; as a probe it asks the peer to acknowledge at once. */
  keepalive(link: Link, probe: boolean, nowMs: number): void {
    const s = link.current;
    if (!s) return;
    const k = this.keepaliveFields;
    link.writeKeepalive(k, probe, nowMs);
    writeKeepalive(this.buf, PAYLOAD, k);
    this.seal(link, s, KEEPALIVE_SIZE, false, true, -1, nowMs);
  }

  /**
   * One packet of the rate train (train.ts), as large as the largest data packet; its transport
   * counter, or -1 when none went. Acknowledged, but not recorded in flight (train.ts onAck).
   * Urgent: a datagram of its own (ports.ts). Batched, the train's equal-sized packets left as
   * one segmented send (src/io/mmsg.ts, UDP GSO), which a shaper on this host (htb, and the
   * shapers built on it; cake splits them) passes as one packet, at once, whatever its bucket: in
   * the lab every train, even a 5 Mbit/s link's, arrived in one burst and read "too fast to tell".
   */
  train(link: Link, nowMs: number): number {
    const s = link.current;
    if (!s) return -1;
    const counter = s.sendCounter;
    writeTrain(this.buf, PAYLOAD, DATA_PREFIX_SIZE + this.maxPacketSize);
    return this.seal(link, s, DATA_PREFIX_SIZE + this.maxPacketSize, false, false, -1, nowMs, true) ? counter : -1;
  }

  /** The acknowledgements due on a link (none: the timer for them is cleared). */
  feedback(link: Link, nowMs: number): void {
    const s = link.current;
    if (!s || !link.acks.hasPending) {
      link.acks.dueMs = Number.POSITIVE_INFINITY;
      return;
    }
    link.acks.write(this.buf, PAYLOAD, nowMs);
    // Acknowledgements are not acknowledged: not recorded in flight.
    this.seal(link, s, FEEDBACK_SIZE, false, false, -1, nowMs);
  }

  /**
   * The acknowledgement of `about` that shows a loss, again on the faster link `via`
   * (lossreport.ts), right after `about`'s own FEEDBACK: a FEEDBACK with its own kind.
   */
  lossReport(about: Link, via: Link, nowMs: number): void {
    const s = via.current;
    if (!s || about.acks.highestCounter < 0) return;
    about.acks.write(this.buf, PAYLOAD, nowMs);
    this.buf[PAYLOAD + KIND_OFF] = KIND_LOSS_REPORT;
    this.seal(via, s, FEEDBACK_SIZE, false, false, -1, nowMs);
  }

  /** DISCONNECT under the link's current session; whether one was sent. */
  disconnect(link: Link, nowMs: number): boolean {
    const s = link.current;
    if (!s) return false;
    writeDisconnect(this.buf, PAYLOAD);
    return this.seal(link, s, DISCONNECT_SIZE, false, true, -1, nowMs);
  }

  /**
   * Seals the payload written at PAYLOAD and transmits it. What will be acknowledged (all but
   * FEEDBACK) is recorded in flight when sent under the link's current session.
   */
  private seal(link: Link, s: Session, payloadLength: number, clear: boolean, acked: boolean, slot: number, nowMs: number, urgent = false): boolean {
    const peer = link.peer;
    if (!peer) {
      this.drops.add("no-peer");
      return false;
    }
    const counter = s.sendCounter;
    const n = s.sealInPlace(this.buf, payloadLength, clear);
    if (n === 0) {
      this.drops.add("keys-exhausted");
      return false;
    }
    link.countSent(n);
    if (acked && s === link.current) link.sender.onSent(counter, n, slot, nowMs);
    this.transmit(link.index, (this.views[n] ??= this.buf.subarray(0, n)), peer, urgent);
    return true;
  }
}
