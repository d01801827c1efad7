/**
 * The per-link handshake: two 64-byte messages that authenticate both ends with the key derived
 * from the password and agree on fresh transport keys with ephemeral X25519 (forward secrecy).
 *
 *   psk     = scrypt(password, "mlvpn v1 password salt")              (once, at start)
 *   macKey  = HKDF(psk, info = "mlvpn v1 handshake mac")
 *   INIT    = type ‖ cipher ‖ sender index ‖ instance ‖ e_i ‖ MAC(macKey, INIT[0..48])
 *   RESP    = type ‖ cipher ‖ sender ‖ receiver ‖ instance ‖ e_r ‖ MAC(macKey, INIT ‖ RESP[0..48])
 *   keys    = HKDF(ikm = X25519(e_i, e_r), salt = psk, info = "mlvpn v1 transport keys" ‖ SHA256(INIT ‖ RESP))
 *             → initiator→responder key ‖ responder→initiator key
 *
 * Without the password nobody can produce a valid INIT or RESP, and the responder answers
 * nothing else, so it is neither an oracle nor an amplifier (RESP is as large as INIT). A
 * replayed INIT yields a RESP nobody can use: the session only becomes active when the peer
 * proves it holds the new keys (Session.confirmed).
 */
import { type CipherName, createAead } from "../crypto/aead.ts";
import { constantTimeEqual, hkdf, hmac, sha256, type X25519KeyPair, x25519, x25519KeyPair } from "../crypto/primitives.ts";
import {
  CIPHER_IDS,
  HANDSHAKE_SIZE,
  INIT_EPHEMERAL_OFF,
  INIT_INSTANCE_OFF,
  INIT_MAC_OFF,
  INIT_SENDER_OFF,
  KEY_SIZE,
  LABEL_HANDSHAKE_MAC,
  LABEL_TRANSPORT_KEYS,
  MAC_SIZE,
  MSG_INIT,
  MSG_RESP,
  readU32,
  RESP_EPHEMERAL_OFF,
  RESP_INSTANCE_OFF,
  RESP_MAC_OFF,
  RESP_RECEIVER_OFF,
  RESP_SENDER_OFF,
  writeU32,
} from "../wire/layout.ts";
import { Session } from "./session.ts";

const text = new TextEncoder();

/** Long-lived secrets of one tunnel end, derived once from the password. */
export interface HandshakeSecrets {
  psk: Uint8Array;
  macKey: Uint8Array;
  cipher: CipherName;
}

export function handshakeSecrets(psk: Uint8Array, cipher: CipherName): HandshakeSecrets {
  return { psk, macKey: hkdf(psk, new Uint8Array(0), text.encode(LABEL_HANDSHAKE_MAC), KEY_SIZE), cipher };
}

/** The initiator's state between sending INIT and receiving RESP. */
export interface InitSent {
  localIndex: number;
  ephemeral: X25519KeyPair;
  message: Uint8Array;
  sentMs: number;
}

export interface InitReceived {
  senderIndex: number;
  instance: number;
  ephemeral: Uint8Array;
}

function mac(secrets: HandshakeSecrets, ...parts: Uint8Array[]): Uint8Array {
  return hmac(secrets.macKey, ...parts).subarray(0, MAC_SIZE);
}

function transportKeys(secrets: HandshakeSecrets, shared: Uint8Array, init: Uint8Array, resp: Uint8Array): { i2r: Uint8Array; r2i: Uint8Array } {
  const info = new Uint8Array([...text.encode(LABEL_TRANSPORT_KEYS), ...sha256(init, resp)]);
  const okm = hkdf(shared, secrets.psk, info, 2 * KEY_SIZE);
  return { i2r: okm.subarray(0, KEY_SIZE), r2i: okm.subarray(KEY_SIZE) };
}

/** Builds an INIT; `ephemeralSecret` is 32 fresh random bytes. */
export function createInit(secrets: HandshakeSecrets, localIndex: number, instance: number, ephemeralSecret: Uint8Array, nowMs: number): InitSent {
  const ephemeral = x25519KeyPair(ephemeralSecret);
  const m = new Uint8Array(HANDSHAKE_SIZE);
  m[0] = MSG_INIT;
  m[1] = CIPHER_IDS[secrets.cipher];
  writeU32(m, INIT_SENDER_OFF, localIndex);
  writeU32(m, INIT_INSTANCE_OFF, instance);
  m.set(ephemeral.publicKey, INIT_EPHEMERAL_OFF);
  m.set(mac(secrets, m.subarray(0, INIT_MAC_OFF)), INIT_MAC_OFF);
  return { localIndex, ephemeral, message: m, sentMs: nowMs };
}

export type InitCheck = { ok: true; init: InitReceived } | { ok: false; reason: "bad-mac" | "cipher-mismatch" };

/** Verifies an INIT (exactly HANDSHAKE_SIZE bytes, type already checked by the caller). */
export function consumeInit(secrets: HandshakeSecrets, m: Uint8Array): InitCheck {
  if (!constantTimeEqual(mac(secrets, m.subarray(0, INIT_MAC_OFF)), m.subarray(INIT_MAC_OFF))) return { ok: false, reason: "bad-mac" };
  if (m[1] !== CIPHER_IDS[secrets.cipher]) return { ok: false, reason: "cipher-mismatch" };
  return {
    ok: true,
    init: { senderIndex: readU32(m, INIT_SENDER_OFF), instance: readU32(m, INIT_INSTANCE_OFF), ephemeral: m.slice(INIT_EPHEMERAL_OFF, INIT_EPHEMERAL_OFF + KEY_SIZE) },
  };
}

/**
 * Answers a verified INIT: returns the RESP to send and the responder's (unconfirmed) session,
 * or undefined if the peer's ephemeral key is unusable (low order).
 */
export function createResp(
  secrets: HandshakeSecrets,
  initMessage: Uint8Array,
  init: InitReceived,
  localIndex: number,
  instance: number,
  ephemeralSecret: Uint8Array,
  nowMs: number,
): { message: Uint8Array; session: Session } | undefined {
  const ephemeral = x25519KeyPair(ephemeralSecret);
  const shared = x25519(ephemeral.privateKey, init.ephemeral);
  if (!shared) return undefined;
  const m = new Uint8Array(HANDSHAKE_SIZE);
  m[0] = MSG_RESP;
  m[1] = CIPHER_IDS[secrets.cipher];
  writeU32(m, RESP_SENDER_OFF, localIndex);
  writeU32(m, RESP_RECEIVER_OFF, init.senderIndex);
  writeU32(m, RESP_INSTANCE_OFF, instance);
  m.set(ephemeral.publicKey, RESP_EPHEMERAL_OFF);
  m.set(mac(secrets, initMessage, m.subarray(0, RESP_MAC_OFF)), RESP_MAC_OFF);
  const keys = transportKeys(secrets, shared, initMessage, m);
  const session = new Session(localIndex, init.senderIndex, createAead(secrets.cipher, keys.r2i), createAead(secrets.cipher, keys.i2r), nowMs, false, init.instance);
  return { message: m, session };
}

/** Receiver index of a RESP, to find the matching InitSent. */
export function respReceiver(m: Uint8Array): number {
  return readU32(m, RESP_RECEIVER_OFF);
}

/** Verifies a RESP against the INIT we sent; returns the initiator's (confirmed) session. */
export function consumeResp(secrets: HandshakeSecrets, sent: InitSent, m: Uint8Array, nowMs: number): Session | undefined {
  if (!constantTimeEqual(mac(secrets, sent.message, m.subarray(0, RESP_MAC_OFF)), m.subarray(RESP_MAC_OFF))) return undefined;
  if (m[1] !== CIPHER_IDS[secrets.cipher]) return undefined;
  const shared = x25519(sent.ephemeral.privateKey, m.subarray(RESP_EPHEMERAL_OFF, RESP_EPHEMERAL_OFF + KEY_SIZE));
  if (!shared) return undefined;
  const keys = transportKeys(secrets, shared, sent.message, m);
  const remote = readU32(m, RESP_SENDER_OFF);
  return new Session(sent.localIndex, remote, createAead(secrets.cipher, keys.i2r), createAead(secrets.cipher, keys.r2i), nowMs, true, readU32(m, RESP_INSTANCE_OFF));
}
