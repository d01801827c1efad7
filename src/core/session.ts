/**
 * One keypair between the two ends of a link: send counter, receive replay window, and the
 * AEAD in each direction. Created by a completed handshake (handshake.ts), rotated by the
 * link's keyring (link.ts).
 */
import { type Aead, TAG_SIZE } from "../crypto/aead.ts";
import { MSG_TRANSPORT, MSG_TRANSPORT_CLEAR, TRANSPORT_COUNTER_OFF, TRANSPORT_HEADER_SIZE, TRANSPORT_RECEIVER_OFF, TRANSPORT_TYPE_OFF } from "../wire/layout.ts";
import { writeU32, writeU64 } from "../wire/bytes.ts";
import { REKEY_AFTER_MS } from "./constants.ts";
import { ReplayWindow } from "./replay.ts";

/** A session stops sending at this many messages (far below any AES-GCM counter limit). */
export const REJECT_AFTER_MESSAGES = 2 ** 40;

export class Session {
  /** The next transport counter; a session of the same peers continues the previous one's (`continueFrom`). */
  sendCounter = 0;
  /** The counter of this session's first message: the limits on messages count from here. */
  private firstCounter = 0;
  /** The initiator renews the keys once the session is this old (`rekey_interval`; handshake.ts sets it). */
  rekeyAfterMs = REKEY_AFTER_MS;
  readonly replay = new ReplayWindow(4096);

  constructor(
    /** Index the peer puts in packets for us. */
    readonly localIndex: number,
    /** Index we put in packets for the peer. */
    readonly remoteIndex: number,
    private readonly sender: Aead,
    private readonly receiver: Aead,
    readonly createdMs: number,
    readonly initiator: boolean,
    /** The peer process's random instance id: changes when the peer restarts (the responder learns it from CONFIRM). */
    public peerInstance: number,
    /** cleartext_data as agreed in the handshake (both ends enabled it). */
    readonly clear = false,
  ) {}

  /** Messages sealed under this session's keys. */
  get messagesSent(): number {
    return this.sendCounter - this.firstCounter;
  }

  /**
   * Sends on from `counter` instead of 0 (before anything was sent): a rekey's new session goes
   * on with the counters of the session it replaces, so that what the peer acknowledges of both
   * is one sequence (link.ts `install`). Each counter is still used once per key: the nonce is
   * unique under these keys, whatever it starts from.
   */
  continueFrom(counter: number): void {
    if (this.sendCounter !== 0) throw new Error("a session continues another's counters only before it sends");
    this.sendCounter = counter;
    this.firstCounter = counter;
  }

  /**
   * Writes a transport message carrying `prefix ‖ body` into `out` and returns its length
   * (0 when this session may not send any more). `clear` = cleartext_data: the payload travels
   * unencrypted but is still authenticated (header and payload are the associated data).
   */
  seal(prefix: Uint8Array, body: Uint8Array, out: Uint8Array, clear: boolean): number {
    const h = TRANSPORT_HEADER_SIZE;
    out.set(prefix, h);
    if (body.length > 0) out.set(body, h + prefix.length);
    return this.sealInPlace(out, prefix.length + body.length, clear);
  }

  /**
   * Seals the `payloadLength` bytes the caller already wrote at TRANSPORT_HEADER_SIZE in `out`
   * (where they are encrypted in place: no copy) behind a transport header; returns the
   * message's length, or 0 when this session may not send any more.
   */
  sealInPlace(out: Uint8Array, payloadLength: number, clear: boolean): number {
    if (this.messagesSent >= REJECT_AFTER_MESSAGES) return 0;
    const counter = this.sendCounter++;
    out[TRANSPORT_TYPE_OFF] = clear ? MSG_TRANSPORT_CLEAR : MSG_TRANSPORT;
    out[1] = 0;
    out[2] = 0;
    out[3] = 0;
    writeU32(out, TRANSPORT_RECEIVER_OFF, this.remoteIndex);
    writeU64(out, TRANSPORT_COUNTER_OFF, counter);
    const h = TRANSPORT_HEADER_SIZE;
    if (!clear) return h + this.sender.seal(counter, out, h, payloadLength);
    return h + payloadLength + this.sender.seal(counter, out, h + payloadLength, 0);
  }

  /**
   * Authenticates (and decrypts, in place) a transport message whose counter the caller already
   * checked against the replay window. True when it is authentic: its payload is then the
   * bytes from TRANSPORT_HEADER_SIZE to the tag (otherwise they are garbage).
   */
  openInPlace(counter: number, datagram: Uint8Array): boolean {
    const h = TRANSPORT_HEADER_SIZE;
    const end = datagram.length - TAG_SIZE;
    if (end < h) return false;
    // Sealed: decrypted in place; cleartext: the whole message up to the tag is associated data.
    return this.receiver.open(counter, datagram, datagram[TRANSPORT_TYPE_OFF] === MSG_TRANSPORT ? h : end);
  }

  /** openInPlace, returning the payload as a view (undefined if not authentic). */
  open(counter: number, datagram: Uint8Array): Uint8Array | undefined {
    return this.openInPlace(counter, datagram) ? datagram.subarray(TRANSPORT_HEADER_SIZE, datagram.length - TAG_SIZE) : undefined;
  }
}
