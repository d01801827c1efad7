/**
 * The inner messages: what a transport message carries once opened (docs/protocol.md
 * "Transport", the "Payload, first byte = kind" table). Every offset used on them is named
 * here; the core reads and writes them only through these functions. Encoders write into a
 * caller's buffer; decoders read a message where it lies (at `off` in the opened datagram, `end`
 * where its tag starts) and fill a caller's reusable record: no message costs an allocation or
 * a view (the hot path: docs/performance.md).
 *
 *   DATA        0 kind=0 | 1 u56 tunnel data sequence | 8 IP packet (tun) or Ethernet frame (tap)
 *   KEEPALIVE   0 kind=1 | 1 u8 flags (1 = probe, 2 = the echo is of a FEEDBACK, 4 = the sender has
 *               the link stalled; others refused)
 *               | 2 u16 receive loss, per mille (0xFFFF unknown)
 *               | 4 u32 sender's clock, ms | 8 u32 echoed peer clock (0xFFFFFFFF none)
 *               | 12 u32 ms the echo was held (0xFFFFFFFF none)
 *   DISCONNECT  0 kind=2
 *   FEEDBACK    0 kind=3 | 1 u8 0 | 2 u16 ack delay, 0.1 ms | 4 u32 session acknowledged
 *               | 8 u32 highest counter received (low 32 bits)
 *               | 12 u32 counters highest−33 … highest−64 (bit i: highest−33−i)
 *               | 16 u32 counters highest−1 … highest−32 (bit i: highest−1−i)
 *               | 20 u32 receiver's clock when the highest arrived, 0.1 ms, wrapping
 *   EXPRESS     0 kind=4 | 1 a small IP packet or Ethernet frame, delivered at once
 *   REDUNDANT   0 kind=5 | 1 u56 redundant sequence | 8 IP packet or Ethernet frame, one of its
 *               copies on several links; the first copy is delivered at once (src/core/redundant.ts)
 *   LOSS        0 kind=6 | FEEDBACK's layout, of another link (src/core/lossreport.ts)
 *   TRAIN       0 kind=7 | 1 zeros: one of the full-size packets sent back to back at link-up
 *               to measure the link's rate (src/core/train.ts); acknowledged at once, else ignored
 */
import { readU16, readU32, readU56, writeU16, writeU32, writeU56 } from "./bytes.ts";

export const KIND_OFF = 0;
export const KIND_DATA = 0;
export const KIND_KEEPALIVE = 1;
export const KIND_DISCONNECT = 2;
export const KIND_FEEDBACK = 3;
/** A small packet sent ahead of the queues and delivered at once, out of sequence (sendpath.ts). */
export const KIND_DATA_EXPRESS = 4;
/** One copy of a packet sent on several links at once (`redundant`): same layout as DATA, its own sequence. */
export const KIND_DATA_REDUNDANT = 5;
/** Another link's FEEDBACK that shows a loss, sent again on a faster link (core/lossreport.ts): FEEDBACK's layout. */
export const KIND_LOSS_REPORT = 6;
/** A packet of the rate train sent at link-up (core/train.ts): zeros, acknowledged at once. */
export const KIND_TRAIN = 7;

// ---- DATA
export const DATA_SEQ_OFF = 1;
export const DATA_PREFIX_SIZE = 8;

/** Writes DATA's kind and sequence at `off` in `out` (the packet follows at off + DATA_PREFIX_SIZE). */
export function writeDataPrefix(out: Uint8Array, off: number, dataSeq: number): void {
  out[off + KIND_OFF] = KIND_DATA;
  writeU56(out, off + DATA_SEQ_OFF, dataSeq);
}

/** The tunnel data sequence of a DATA message (at least DATA_PREFIX_SIZE long) at `off`. */
export function dataSeq(m: Uint8Array, off: number): number {
  return readU56(m, off + DATA_SEQ_OFF);
}

// ---- REDUNDANT (DATA's layout: the sequence is the redundant one)
export const REDUNDANT_PREFIX_SIZE = DATA_PREFIX_SIZE;

export function writeRedundantPrefix(out: Uint8Array, off: number, redundantSeq: number): void {
  out[off + KIND_OFF] = KIND_DATA_REDUNDANT;
  writeU56(out, off + DATA_SEQ_OFF, redundantSeq);
}

// ---- EXPRESS
export const EXPRESS_PREFIX_SIZE = 1;

export function writeExpressPrefix(out: Uint8Array, off: number): void {
  out[off + KIND_OFF] = KIND_DATA_EXPRESS;
}

// ---- TRAIN
/** Writes a TRAIN message of `length` bytes at `off` (its padding zeroed: the buffer is reused). */
export function writeTrain(out: Uint8Array, off: number, length: number): void {
  out.fill(0, off, off + length);
  out[off + KIND_OFF] = KIND_TRAIN;
}

// ---- DISCONNECT
export const DISCONNECT_SIZE = 1;

export function writeDisconnect(out: Uint8Array, off: number): void {
  out[off + KIND_OFF] = KIND_DISCONNECT;
}

// ---- KEEPALIVE
export const KEEPALIVE_FLAGS_OFF = 1;
export const KEEPALIVE_LOSS_OFF = 2;
export const KEEPALIVE_CLOCK_OFF = 4;
export const KEEPALIVE_ECHO_OFF = 8;
export const KEEPALIVE_HELD_OFF = 12;
export const KEEPALIVE_SIZE = 16;
export const KEEPALIVE_FLAG_PROBE = 1;
/** The echo is the receiver's clock of the peer's last FEEDBACK (0.1 ms units), not of its keepalive. */
export const KEEPALIVE_FLAG_ECHO_ACK = 2;
/** The sender has this link stalled: it hears no answer on it (sendpath.ts). */
export const KEEPALIVE_FLAG_STALLED = 4;
const KEEPALIVE_FLAGS_KNOWN = KEEPALIVE_FLAG_PROBE | KEEPALIVE_FLAG_ECHO_ACK | KEEPALIVE_FLAG_STALLED;
export const NO_ECHO = 0xffff_ffff;
export const LOSS_UNKNOWN = 0xffff;

/** A decoded KEEPALIVE (one record reused for every message). */
export interface Keepalive {
  /** The sender asks for an acknowledgement at once. */
  probe: boolean;
  /** Loss of what the sender receives, percent; undefined when it does not know. */
  lossPercent: number | undefined;
  /** The sender's clock, ms (wrapping u32). */
  clock: number;
  /** Our clock it echoes and how long it held it, ms; echo undefined when there is none. */
  echo: number | undefined;
  heldMs: number;
  /** The echo is the receiver's clock (0.1 ms, wrapping) of our last FEEDBACK, and heldMs counts from that clock. */
  echoAck: boolean;
  /** The sender has the link stalled. */
  stalled: boolean;
}

export function newKeepalive(): Keepalive {
  return { probe: false, lossPercent: undefined, clock: 0, echo: undefined, heldMs: 0, echoAck: false, stalled: false };
}

export function writeKeepalive(out: Uint8Array, off: number, k: Keepalive): void {
  out[off + KIND_OFF] = KIND_KEEPALIVE;
  out[off + KEEPALIVE_FLAGS_OFF] = (k.probe ? KEEPALIVE_FLAG_PROBE : 0) | (k.echoAck && k.echo !== undefined ? KEEPALIVE_FLAG_ECHO_ACK : 0) | (k.stalled ? KEEPALIVE_FLAG_STALLED : 0);
  writeU16(out, off + KEEPALIVE_LOSS_OFF, k.lossPercent === undefined ? LOSS_UNKNOWN : Math.round(k.lossPercent * 10));
  writeU32(out, off + KEEPALIVE_CLOCK_OFF, k.clock >>> 0);
  writeU32(out, off + KEEPALIVE_ECHO_OFF, k.echo === undefined ? NO_ECHO : k.echo);
  writeU32(out, off + KEEPALIVE_HELD_OFF, k.echo === undefined ? NO_ECHO : k.heldMs);
}

/**
 * Fills `into` from the KEEPALIVE in m[off..end]; false when it is too short or its flags are not
 * ours (a bit unknown, or the FEEDBACK echo flag without an echo).
 */
export function readKeepalive(m: Uint8Array, off: number, end: number, into: Keepalive): boolean {
  if (end - off < KEEPALIVE_SIZE) return false;
  const flags = m[off + KEEPALIVE_FLAGS_OFF]!;
  if ((flags & ~KEEPALIVE_FLAGS_KNOWN) !== 0) return false;
  into.probe = (flags & KEEPALIVE_FLAG_PROBE) !== 0;
  into.echoAck = (flags & KEEPALIVE_FLAG_ECHO_ACK) !== 0;
  into.stalled = (flags & KEEPALIVE_FLAG_STALLED) !== 0;
  const loss = readU16(m, off + KEEPALIVE_LOSS_OFF);
  into.lossPercent = loss === LOSS_UNKNOWN ? undefined : loss / 10;
  into.clock = readU32(m, off + KEEPALIVE_CLOCK_OFF);
  const echo = readU32(m, off + KEEPALIVE_ECHO_OFF);
  const held = readU32(m, off + KEEPALIVE_HELD_OFF);
  const none = echo === NO_ECHO || held === NO_ECHO;
  into.echo = none ? undefined : echo;
  into.heldMs = none ? 0 : held;
  return !(into.echoAck && none);
}

/** Whether the inner message in m[off..end] asks to be acknowledged at once (a probe keepalive). */
export function isProbe(m: Uint8Array, off: number, end: number): boolean {
  return m[off + KIND_OFF] === KIND_KEEPALIVE && end - off > KEEPALIVE_FLAGS_OFF && (m[off + KEEPALIVE_FLAGS_OFF]! & KEEPALIVE_FLAG_PROBE) !== 0;
}

// ---- FEEDBACK
export const FEEDBACK_DELAY_OFF = 2;
export const FEEDBACK_SESSION_OFF = 4;
export const FEEDBACK_HIGHEST_OFF = 8;
export const FEEDBACK_BITMAP_HI_OFF = 12;
export const FEEDBACK_BITMAP_LO_OFF = 16;
export const FEEDBACK_CLOCK_OFF = 20;
export const FEEDBACK_SIZE = 24;
/** Counters below the highest that a FEEDBACK's two bitmap words cover. */
export const FEEDBACK_BITMAP_COUNTERS = 64;
const MAX_DELAY_UNITS = 0xffff;

/** A decoded FEEDBACK (one record reused for every message). */
export interface Feedback {
  /** How long the receiver held the acknowledgement of `highest`, ms (0.1 ms on the wire). */
  ackDelayMs: number;
  /** The receiver index of the session acknowledged. */
  session: number;
  /** Low 32 bits of the highest transport counter received. */
  highest: number;
  /** Bit i: counter highest − 33 − i arrived. */
  bitmapHi: number;
  /** Bit i: counter highest − 1 − i arrived. */
  bitmapLo: number;
  /** The receiver's clock when `highest` arrived, 0.1 ms units, wrapping u32. */
  receiverClock: number;
}

export function newFeedback(): Feedback {
  return { ackDelayMs: 0, session: 0, highest: 0, bitmapHi: 0, bitmapLo: 0, receiverClock: 0 };
}

export function writeFeedback(out: Uint8Array, off: number, f: Feedback): void {
  out[off + KIND_OFF] = KIND_FEEDBACK;
  out[off + 1] = 0;
  writeU16(out, off + FEEDBACK_DELAY_OFF, Math.min(MAX_DELAY_UNITS, Math.round(f.ackDelayMs * 10)));
  writeU32(out, off + FEEDBACK_SESSION_OFF, f.session >>> 0);
  writeU32(out, off + FEEDBACK_HIGHEST_OFF, f.highest >>> 0);
  writeU32(out, off + FEEDBACK_BITMAP_HI_OFF, f.bitmapHi);
  writeU32(out, off + FEEDBACK_BITMAP_LO_OFF, f.bitmapLo);
  writeU32(out, off + FEEDBACK_CLOCK_OFF, f.receiverClock >>> 0);
}

/** Fills `into` from the FEEDBACK in m[off..end]; false when it is too short. */
export function readFeedback(m: Uint8Array, off: number, end: number, into: Feedback): boolean {
  if (end - off < FEEDBACK_SIZE) return false;
  into.ackDelayMs = readU16(m, off + FEEDBACK_DELAY_OFF) / 10;
  into.session = readU32(m, off + FEEDBACK_SESSION_OFF);
  into.highest = readU32(m, off + FEEDBACK_HIGHEST_OFF);
  into.bitmapHi = readU32(m, off + FEEDBACK_BITMAP_HI_OFF);
  into.bitmapLo = readU32(m, off + FEEDBACK_BITMAP_LO_OFF);
  into.receiverClock = readU32(m, off + FEEDBACK_CLOCK_OFF);
  return true;
}

/** The receiver index the FEEDBACK at `off` acknowledges (checked before decoding the rest). */
export function feedbackSession(m: Uint8Array, off: number): number {
  return readU32(m, off + FEEDBACK_SESSION_OFF);
}
