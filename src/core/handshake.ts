/**
 * The per-link handshake, protocol v2 (docs/protocol.md "Handshake"): a stateless cookie round
 * trip, then CPace over X25519 (src/crypto/cpace.ts) with explicit key confirmation both ways.
 *
 *   I → R  HELLO      Nc                                  (Nc: 16 fresh random bytes)
 *   R → I  CHALLENGE  Nc, cookie, salt                    (cookie = MAC(cookie key, link, source, Nc))
 *   I → R  INIT       ADa, Nc, cookie, Ya = ya·g          (g from PRS = scrypt(password, salt), sid = Nc ‖ cookie,
 *                                                          CI = "mlvpn v2" ‖ the server link's port)
 *   R → I  RESP       ADb, Yb = yb·g, instance ⊕ mask, Tb
 *   I → R  CONFIRM    receiver index, instance ⊕ mask, Ta
 *
 * Nothing in these messages is a function of the password alone: Ya and Yb are uniformly random
 * points whatever the password, and Tb, Ta and the masks are keyed by the CPace session key,
 * which needs a secret scalar. A passive capture gives no test of a password guess; an active
 * attacker gets one guess per handshake it runs (CPace's property).
 *
 * The functions here are pure: randomness comes in as arguments, and the two costly operations
 * (X25519 and the password stretching) through a HandshakeCrypto port, so that tests can count
 * them.
 */
import { type CipherName, createAead } from "../crypto/aead.ts";
import { calculateGenerator, concat, intermediateSessionKey } from "../crypto/cpace.ts";
import { constantTimeEqual, hkdf, hmac, passwordKey, x25519Raw } from "../crypto/primitives.ts";
import {
  CIPHER_IDS,
  CIPHER_OFF,
  CONFIRM_INSTANCE_OFF,
  CONFIRM_RECEIVER_OFF,
  CONFIRM_SIZE,
  CONFIRM_TAG_OFF,
  CONFIRM_TAG_SIZE,
  COOKIE_SIZE,
  FLAG_CLEARTEXT,
  FLAGS_OFF,
  INIT_AD_END,
  INIT_COOKIE_OFF,
  INIT_NONCE_OFF,
  INIT_SENDER_OFF,
  INIT_SHARE_OFF,
  INIT_SIZE,
  KEY_SIZE,
  LABEL_CHANNEL,
  LABEL_PASSWORD_SALT,
  LABEL_SESSION_KEYS,
  MSG_CONFIRM,
  MSG_INIT,
  MSG_RESP,
  MSG_TYPE_OFF,
  NONCE_SIZE,
  RESP_AD_END,
  RESP_INSTANCE_OFF,
  RESP_RECEIVER_OFF,
  RESP_SENDER_OFF,
  RESP_SHARE_OFF,
  RESP_SIZE,
  RESP_TAG_OFF,
} from "../wire/layout.ts";
import { readU32, writeU16, writeU32 } from "../wire/bytes.ts";
import type { Challenge } from "./hello.ts";
import { REKEY_AFTER_MS } from "./constants.ts";
import { Session } from "./session.ts";

const text = new TextEncoder();
const CHANNEL_LABEL = text.encode(LABEL_CHANNEL);
const KEYS_LABEL = text.encode(LABEL_SESSION_KEYS);
const SALT_LABEL = text.encode(LABEL_PASSWORD_SALT);

/** The two costly operations, injected (the daemon uses nativeHandshakeCrypto). */
export interface HandshakeCrypto {
  /** X25519(scalar, u); undefined when the result is the neutral element (a low-order u). */
  scalarMult(scalar: Uint8Array, u: Uint8Array): Uint8Array | undefined;
  /** CPace's PRS: the password stretched with the responder's salt (memory-hard). */
  stretch(password: Uint8Array, salt: Uint8Array): Uint8Array;
}

export const nativeHandshakeCrypto: HandshakeCrypto = {
  scalarMult: x25519Raw,
  stretch: (password, salt) => passwordKey(password, concat(SALT_LABEL, salt)),
};

/** What one tunnel end knows before any handshake. */
export interface HandshakeSecrets {
  /** The password, UTF-8 of its NFC form. */
  password: Uint8Array;
  cipher: CipherName;
  crypto: HandshakeCrypto;
  /** The initiator renews a session's keys at this age (`rekey_interval`), at most REKEY_AFTER_MS. */
  rekeyMs: number;
}

export function handshakeSecrets(password: string | Uint8Array, cipher: CipherName, crypto: HandshakeCrypto = nativeHandshakeCrypto, rekeyMs = REKEY_AFTER_MS): HandshakeSecrets {
  if (!(rekeyMs > 0 && rekeyMs <= REKEY_AFTER_MS)) throw new RangeError(`rekey interval ${rekeyMs} ms: must be above 0 and at most ${REKEY_AFTER_MS} ms (sessions are never used past REJECT_AFTER_MS)`);
  return { password: typeof password === "string" ? text.encode(password.normalize("NFC")) : password, cipher, crypto, rekeyMs };
}

// HELLO, CHALLENGE and cookies: the stateless round trip before any curve work (hello.ts).
export { type Challenge, cookie, createChallenge, createHello, helloNonce, parseChallenge } from "./hello.ts";

// ---------------------------------------------------------------- INIT, RESP, CONFIRM

/** The initiator between INIT and RESP (handshake-state.ts, phase "init"). */
export interface InitState {
  localIndex: number;
  message: Uint8Array;
  /** The secret scalar ya (zeroed once RESP is processed). */
  scalar: Uint8Array;
  sid: Uint8Array;
}

function sessionId(nonce: Uint8Array, cookieValue: Uint8Array): Uint8Array {
  return concat(nonce, cookieValue);
}

/**
 * CPace's channel identifier: the protocol label and the link's identity, the server's UDP port
 * for it (the client's `remoteport`, the server's `bindport`: how the configs pair links). Both
 * ends put their own idea of the link into the generator, so a handshake relayed to another
 * link's port (its answers sent back with a forged source port) derives other keys at each end:
 * the RESP's Tb or the CONFIRM's Ta fails, and no session pairs two different links
 * (docs/protocol.md "Keys", "Threat model").
 */
export function channelId(serverPort: number): Uint8Array {
  const ci = new Uint8Array(CHANNEL_LABEL.length + 2);
  ci.set(CHANNEL_LABEL, 0);
  writeU16(ci, CHANNEL_LABEL.length, serverPort);
  return ci;
}

/**
 * Builds an INIT; `scalar` is 32 fresh random bytes (kept in the returned state). Undefined only
 * if the generator is of low order, which Elligator 2 never yields for a usable hash.
 */
export function createInit(
  secrets: HandshakeSecrets,
  prs: Uint8Array,
  challenge: Challenge,
  serverPort: number,
  localIndex: number,
  wantCleartext: boolean,
  scalar: Uint8Array,
): InitState | undefined {
  const sid = sessionId(challenge.nonce, challenge.cookie);
  const g = calculateGenerator(prs, channelId(serverPort), sid);
  const ya = secrets.crypto.scalarMult(scalar, g);
  g.fill(0);
  if (!ya) return undefined;
  const m = new Uint8Array(INIT_SIZE);
  m[MSG_TYPE_OFF] = MSG_INIT;
  m[CIPHER_OFF] = CIPHER_IDS[secrets.cipher];
  m[FLAGS_OFF] = wantCleartext ? FLAG_CLEARTEXT : 0;
  writeU32(m, INIT_SENDER_OFF, localIndex);
  m.set(challenge.nonce, INIT_NONCE_OFF);
  m.set(challenge.cookie, INIT_COOKIE_OFF);
  m.set(ya, INIT_SHARE_OFF);
  return { localIndex, message: m, scalar, sid };
}

export interface InitReceived {
  cipher: number;
  wantsCleartext: boolean;
  senderIndex: number;
  nonce: Uint8Array;
  cookie: Uint8Array;
}

/** The fields of a well-formed INIT (size checked here; nothing authenticated yet). */
export function parseInit(m: Uint8Array): InitReceived | undefined {
  if (m.length !== INIT_SIZE) return undefined;
  return {
    cipher: m[CIPHER_OFF]!,
    wantsCleartext: (m[FLAGS_OFF]! & FLAG_CLEARTEXT) !== 0,
    senderIndex: readU32(m, INIT_SENDER_OFF),
    nonce: m.subarray(INIT_NONCE_OFF, INIT_NONCE_OFF + NONCE_SIZE),
    cookie: m.subarray(INIT_COOKIE_OFF, INIT_COOKIE_OFF + COOKIE_SIZE),
  };
}

/** Keys from the CPace ISK: confirmation keys, transport keys, instance masks. */
interface SessionKeys {
  tagR: Uint8Array;
  tagI: Uint8Array;
  i2r: Uint8Array;
  r2i: Uint8Array;
  maskR: Uint8Array;
  maskI: Uint8Array;
  okm: Uint8Array;
}

function sessionKeys(isk: Uint8Array, sid: Uint8Array): SessionKeys {
  const okm = hkdf(isk, sid, KEYS_LABEL, 4 * KEY_SIZE + 8);
  isk.fill(0);
  return {
    tagR: okm.subarray(0, 32),
    tagI: okm.subarray(32, 64),
    i2r: okm.subarray(64, 96),
    r2i: okm.subarray(96, 128),
    maskR: okm.subarray(128, 132),
    maskI: okm.subarray(132, 136),
    okm,
  };
}

function tag(key: Uint8Array, m: Uint8Array): Uint8Array {
  return hmac(key, m).subarray(0, CONFIRM_TAG_SIZE);
}

function masked(m: Uint8Array, off: number, mask: Uint8Array): number {
  return (readU32(m, off) ^ readU32(mask, 0)) >>> 0;
}

/** The responder's session until the initiator's CONFIRM arrives. */
export interface PendingConfirm {
  tagKey: Uint8Array;
  mask: Uint8Array;
}

/**
 * Answers an INIT whose cookie the caller verified: returns the RESP, the responder's session
 * (unconfirmed, its peer instance still unknown) and what checks the CONFIRM; undefined if the
 * initiator's share is unusable (low order). `scalar` is 32 fresh random bytes, zeroed here.
 */
export function createResp(
  secrets: HandshakeSecrets,
  prs: Uint8Array,
  initMessage: Uint8Array,
  init: InitReceived,
  serverPort: number,
  localIndex: number,
  instance: number,
  allowCleartext: boolean,
  scalar: Uint8Array,
  nowMs: number,
): { message: Uint8Array; session: Session; confirm: PendingConfirm } | undefined {
  const sid = sessionId(init.nonce, init.cookie);
  const g = calculateGenerator(prs, channelId(serverPort), sid);
  const yb = secrets.crypto.scalarMult(scalar, g);
  g.fill(0);
  const ya = initMessage.subarray(INIT_SHARE_OFF, INIT_SHARE_OFF + KEY_SIZE);
  const k = yb && secrets.crypto.scalarMult(scalar, ya);
  scalar.fill(0);
  if (!yb || !k) return undefined;
  const clear = allowCleartext && init.wantsCleartext;
  const m = new Uint8Array(RESP_SIZE);
  m[MSG_TYPE_OFF] = MSG_RESP;
  m[CIPHER_OFF] = CIPHER_IDS[secrets.cipher];
  m[FLAGS_OFF] = clear ? FLAG_CLEARTEXT : 0;
  writeU32(m, RESP_SENDER_OFF, localIndex);
  writeU32(m, RESP_RECEIVER_OFF, init.senderIndex);
  m.set(yb, RESP_SHARE_OFF);
  const isk = intermediateSessionKey(sid, k, ya, initMessage.subarray(0, INIT_AD_END), yb, m.subarray(0, RESP_AD_END));
  k.fill(0);
  const keys = sessionKeys(isk, sid);
  writeU32(m, RESP_INSTANCE_OFF, (instance ^ readU32(keys.maskR, 0)) >>> 0);
  m.set(tag(keys.tagR, m.subarray(0, RESP_TAG_OFF)), RESP_TAG_OFF);
  const session = new Session(localIndex, init.senderIndex, createAead(secrets.cipher, keys.r2i), createAead(secrets.cipher, keys.i2r), nowMs, false, 0, clear);
  const confirm = { tagKey: keys.tagI.slice(), mask: keys.maskI.slice() };
  keys.okm.fill(0);
  return { message: m, session, confirm };
}

/** Receiver index of a RESP or CONFIRM, to find its handshake. */
export function respReceiver(m: Uint8Array): number {
  return readU32(m, RESP_RECEIVER_OFF);
}

export function confirmReceiver(m: Uint8Array): number {
  return readU32(m, CONFIRM_RECEIVER_OFF);
}

/**
 * Verifies a RESP against our INIT: returns the initiator's session (to be installed once the
 * responder's first packet under it arrives) and the CONFIRM to send; undefined if Tb is wrong
 * (another password, another link, forged) or the share is unusable. The INIT's scalar is
 * zeroed once a RESP verifies; a refused one leaves it, so that a forged RESP arriving first
 * does not make us refuse the real one (the caller bounds how many it checks).
 */
export function consumeResp(
  secrets: HandshakeSecrets,
  sent: InitState,
  m: Uint8Array,
  instance: number,
  nowMs: number,
): { session: Session; confirm: Uint8Array } | undefined {
  if (m.length !== RESP_SIZE || m[CIPHER_OFF] !== CIPHER_IDS[secrets.cipher] || readU32(m, RESP_RECEIVER_OFF) !== sent.localIndex) return undefined;
  const yb = m.subarray(RESP_SHARE_OFF, RESP_SHARE_OFF + KEY_SIZE);
  const k = secrets.crypto.scalarMult(sent.scalar, yb);
  if (!k) return undefined;
  const ya = sent.message.subarray(INIT_SHARE_OFF, INIT_SHARE_OFF + KEY_SIZE);
  const isk = intermediateSessionKey(sent.sid, k, ya, sent.message.subarray(0, INIT_AD_END), yb, m.subarray(0, RESP_AD_END));
  k.fill(0);
  const keys = sessionKeys(isk, sent.sid);
  try {
    if (!constantTimeEqual(tag(keys.tagR, m.subarray(0, RESP_TAG_OFF)), m.subarray(RESP_TAG_OFF))) return undefined;
    sent.scalar.fill(0);
    // Cleartext only if we asked for it and the responder agreed; a responder cannot force it.
    const clear = (sent.message[FLAGS_OFF]! & FLAG_CLEARTEXT) !== 0 && (m[FLAGS_OFF]! & FLAG_CLEARTEXT) !== 0;
    const remote = readU32(m, RESP_SENDER_OFF);
    const peerInstance = masked(m, RESP_INSTANCE_OFF, keys.maskR);
    const session = new Session(sent.localIndex, remote, createAead(secrets.cipher, keys.i2r), createAead(secrets.cipher, keys.r2i), nowMs, true, peerInstance, clear);
    session.rekeyAfterMs = secrets.rekeyMs;
    const c = new Uint8Array(CONFIRM_SIZE);
    c[0] = MSG_CONFIRM;
    writeU32(c, CONFIRM_RECEIVER_OFF, remote);
    writeU32(c, CONFIRM_INSTANCE_OFF, (instance ^ readU32(keys.maskI, 0)) >>> 0);
    c.set(tag(keys.tagI, c.subarray(0, CONFIRM_TAG_OFF)), CONFIRM_TAG_OFF);
    return { session, confirm: c };
  } finally {
    keys.okm.fill(0);
  }
}

/** Verifies a CONFIRM for a pending responder session; returns the initiator's instance id. */
export function consumeConfirm(pending: PendingConfirm, m: Uint8Array): number | undefined {
  if (m.length !== CONFIRM_SIZE) return undefined;
  if (!constantTimeEqual(tag(pending.tagKey, m.subarray(0, CONFIRM_TAG_OFF)), m.subarray(CONFIRM_TAG_OFF, CONFIRM_TAG_OFF + CONFIRM_TAG_SIZE))) return undefined;
  return masked(m, CONFIRM_INSTANCE_OFF, pending.mask);
}
