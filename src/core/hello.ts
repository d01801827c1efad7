/**
 * The handshake's stateless round trip (docs/protocol.md "Handshake"): HELLO carries the client
 * nonce, CHALLENGE answers it with a cookie (bound to the link, the source and the nonce) and
 * the responder's salt. An answer of the same size and one HMAC: nothing for a spoofed source
 * to amplify or to make the responder remember.
 */
import { hmac } from "../crypto/primitives.ts";
import { writeU16, writeU32 } from "../wire/bytes.ts";
import {
  CHALLENGE_COOKIE_OFF,
  CHALLENGE_NONCE_OFF,
  CHALLENGE_SALT_OFF,
  CHALLENGE_SIZE,
  COOKIE_SIZE,
  HELLO_NONCE_OFF,
  HELLO_SIZE,
  LABEL_COOKIE,
  MSG_CHALLENGE,
  MSG_HELLO,
  MSG_TYPE_OFF,
  NONCE_SIZE,
  PROTOCOL_VERSION,
  SALT_SIZE,
  VERSION_OFF,
} from "../wire/layout.ts";

const text = new TextEncoder();
const COOKIE_LABEL = text.encode(LABEL_COOKIE);

export function createHello(nonce: Uint8Array): Uint8Array {
  const m = new Uint8Array(HELLO_SIZE);
  m[MSG_TYPE_OFF] = MSG_HELLO;
  m[VERSION_OFF] = PROTOCOL_VERSION;
  m.set(nonce, HELLO_NONCE_OFF);
  return m;
}

/** The client nonce of a well-formed HELLO. */
export function helloNonce(m: Uint8Array): Uint8Array | undefined {
  if (m.length !== HELLO_SIZE || m[VERSION_OFF] !== PROTOCOL_VERSION) return undefined;
  return m.subarray(HELLO_NONCE_OFF, HELLO_NONCE_OFF + NONCE_SIZE);
}

/**
 * The responder's stateless cookie: binds the link (the responder's own index for it), the
 * source address and port, and the client nonce, under a key that changes every few seconds.
 */
export function cookie(key: Uint8Array, link: number, address: string, port: number, nonce: Uint8Array): Uint8Array {
  // u32 server link index ‖ u16 source port (docs/protocol.md)
  const where = new Uint8Array(6);
  writeU32(where, 0, link);
  writeU16(where, 4, port);
  return hmac(key, COOKIE_LABEL, where, text.encode(address), nonce).subarray(0, COOKIE_SIZE);
}

export function createChallenge(nonce: Uint8Array, cookieValue: Uint8Array, salt: Uint8Array): Uint8Array {
  const m = new Uint8Array(CHALLENGE_SIZE);
  m[MSG_TYPE_OFF] = MSG_CHALLENGE;
  m[VERSION_OFF] = PROTOCOL_VERSION;
  m.set(nonce, CHALLENGE_NONCE_OFF);
  m.set(cookieValue, CHALLENGE_COOKIE_OFF);
  m.set(salt, CHALLENGE_SALT_OFF);
  return m;
}

export interface Challenge {
  nonce: Uint8Array;
  cookie: Uint8Array;
  salt: Uint8Array;
}

export function parseChallenge(m: Uint8Array): Challenge | undefined {
  if (m.length !== CHALLENGE_SIZE || m[VERSION_OFF] !== PROTOCOL_VERSION) return undefined;
  return {
    nonce: m.slice(CHALLENGE_NONCE_OFF, CHALLENGE_NONCE_OFF + NONCE_SIZE),
    cookie: m.slice(CHALLENGE_COOKIE_OFF, CHALLENGE_COOKIE_OFF + COOKIE_SIZE),
    salt: m.slice(CHALLENGE_SALT_OFF, CHALLENGE_SALT_OFF + SALT_SIZE),
  };
}
