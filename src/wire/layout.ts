/**
 * mlvpn wire format, version 2 (docs/protocol.md is the prose version). Every message is one
 * UDP datagram. Integers are big-endian.
 *
 * Handshake (CPace, docs/protocol.md "Handshake"); an answer is never larger than its request:
 *   HELLO     (64) 0 type=0x21 | 1 version | 2 u16 0 | 4 client nonce [16] | 20 zero [44]
 *   CHALLENGE (64) 0 type=0x22 | 1 version | 2 u16 0 | 4 client nonce [16] | 20 cookie [16]
 *                  | 36 salt [16] | 52 zero [12]
 *   INIT      (72) 0 type=0x23 | 1 cipher | 2 flags | 3 0 | 4 u32 sender index | 8 client nonce [16]
 *                  | 24 cookie [16] | 40 Ya [32]
 *   RESP      (64) 0 type=0x24 | 1 cipher | 2 flags | 3 0 | 4 u32 sender index | 8 u32 receiver index
 *                  | 12 Yb [32] | 44 instance (masked) [4] | 48 Tb [16]
 *   CONFIRM   (48) 0 type=0x25 | 1 u8 0 | 2 u16 0 | 4 u32 receiver index | 8 instance (masked) [4]
 *                  | 12 Ta [16] | 28 zero [20]
 * Transport (header = AEAD associated data):
 *   0 type=0x13 (sealed) or 0x14 (cleartext_data: plaintext, authenticated only)
 *   | 1 u8 0 | 2 u16 0 | 4 u32 receiver index | 8 u64 counter | 16 payload | tag [16]
 * The payload ("inner" messages: DATA, KEEPALIVE, DISCONNECT, FEEDBACK, EXPRESS) is in inner.ts.
 */

import { DATA_PREFIX_SIZE } from "./inner.ts";

// ---- specification constants ----
/** The version of this wire format (the one docs/protocol.md describes). */
export const PROTOCOL_VERSION = 2;
export const MSG_HELLO = 0x21;
export const MSG_CHALLENGE = 0x22;
export const MSG_INIT = 0x23;
export const MSG_RESP = 0x24;
export const MSG_CONFIRM = 0x25;
export const MSG_TRANSPORT = 0x13;
export const MSG_TRANSPORT_CLEAR = 0x14;

export const KEY_SIZE = 32;
export const TAG_SIZE = 16;
export const NONCE_SIZE = 16;
export const COOKIE_SIZE = 16;
export const SALT_SIZE = 16;
/** Key-confirmation tags Ta, Tb. */
export const CONFIRM_TAG_SIZE = 16;

/** Every message: its type in byte 0. HELLO/CHALLENGE: the version in byte 1; INIT/RESP: cipher and flags in bytes 1 and 2. */
export const MSG_TYPE_OFF = 0;
export const VERSION_OFF = 1;
export const CIPHER_OFF = 1;
export const FLAGS_OFF = 2;

export const HELLO_SIZE = 64;
export const HELLO_NONCE_OFF = 4;

export const CHALLENGE_SIZE = 64;
export const CHALLENGE_NONCE_OFF = 4;
export const CHALLENGE_COOKIE_OFF = 20;
export const CHALLENGE_SALT_OFF = 36;

export const INIT_SIZE = 72;
export const INIT_SENDER_OFF = 4;
export const INIT_NONCE_OFF = 8;
export const INIT_COOKIE_OFF = 24;
export const INIT_SHARE_OFF = 40;
/** INIT[0..8] (type, cipher, flags, sender index) is CPace's ADa. */
export const INIT_AD_END = 8;

export const RESP_SIZE = 64;
export const RESP_SENDER_OFF = 4;
export const RESP_RECEIVER_OFF = 8;
export const RESP_SHARE_OFF = 12;
export const RESP_INSTANCE_OFF = 44;
export const RESP_TAG_OFF = 48;
/** RESP[0..12] (type, cipher, flags, sender and receiver index) is CPace's ADb. */
export const RESP_AD_END = 12;

export const CONFIRM_SIZE = 48;
export const CONFIRM_RECEIVER_OFF = 4;
export const CONFIRM_INSTANCE_OFF = 8;
export const CONFIRM_TAG_OFF = 12;

/** INIT/RESP flags: bit 0 = cleartext_data (INIT: wanted; RESP: agreed, both wanted it). */
export const FLAG_CLEARTEXT = 1;

export const TRANSPORT_HEADER_SIZE = 16;
export const TRANSPORT_TYPE_OFF = 0;
export const TRANSPORT_RECEIVER_OFF = 4;
export const TRANSPORT_COUNTER_OFF = 8;

export const CIPHER_IDS = { "aes-256-gcm": 0, chacha20poly1305: 1 } as const;

/** Bytes added to each inner packet: transport header + data prefix + tag. */
export const TUNNEL_OVERHEAD = TRANSPORT_HEADER_SIZE + DATA_PREFIX_SIZE + TAG_SIZE;
/** Outer UDP + IP headers. */
export const UDP_IPV4_OVERHEAD = 28;
export const UDP_IPV6_OVERHEAD = 48;

/** Domain-separation labels for the key derivations. */
export const LABEL_PASSWORD_SALT = "mlvpn v2 password";
export const LABEL_CHANNEL = "mlvpn v2";
export const LABEL_COOKIE = "mlvpn v2 cookie";
export const LABEL_SESSION_KEYS = "mlvpn v2 session keys";

const LEGACY_HEADER_SIZE = 28;
/**
 * A C MLVPN 2.x datagram: a 28-byte header whose first u16 is the payload length (recognised
 * only to say so in the log: docs/protocol.md).
 */
export function looksLikeLegacyMlvpn(d: Uint8Array): boolean {
  return d.length >= LEGACY_HEADER_SIZE && ((d[0]! << 8) | d[1]!) === d.length - LEGACY_HEADER_SIZE && (d[2]! & 0x0f) <= 1;
}
