/**
 * Handshake primitives from the runtime's native `node:crypto`: X25519, HKDF-SHA256,
 * HMAC-SHA256, SHA-256 and scrypt. The only other place crypto is imported is aead.ts.
 */
import { createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, type KeyObject, scryptSync, timingSafeEqual } from "node:crypto";

// DER prefixes that wrap a raw 32-byte X25519 key (RFC 8410) so node:crypto can import it.
export const PKCS8_X25519 = Buffer.from("302e020100300506032b656e04220420", "hex");
export const SPKI_X25519 = Buffer.from("302a300506032b656e032100", "hex");

export interface X25519KeyPair {
  privateKey: KeyObject;
  publicKey: Uint8Array;
}

/** A key pair from 32 random bytes (randomness is the caller's: the core injects it). */
export function x25519KeyPair(secret: Uint8Array): X25519KeyPair {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, secret]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return { privateKey, publicKey: new Uint8Array(spki.subarray(SPKI_X25519.length)) };
}

/** X25519(private, peer public); undefined for a low-order peer key (all-zero shared secret). */
export function x25519(privateKey: KeyObject, peerPublic: Uint8Array): Uint8Array | undefined {
  try {
    const publicKey = createPublicKey({ key: Buffer.concat([SPKI_X25519, peerPublic]), format: "der", type: "spki" });
    return new Uint8Array(diffieHellman({ privateKey, publicKey }));
  } catch {
    return undefined;
  }
}

/**
 * X25519(scalar, u) on raw bytes (RFC 7748: the scalar is clamped, bit 255 of u ignored);
 * undefined when the result is the neutral element (u of low order) or u is unusable.
 */
export function x25519Raw(scalar: Uint8Array, u: Uint8Array): Uint8Array | undefined {
  const known = imported.get(scalar);
  let privateKey = known && known.scalar.length === scalar.length && timingSafeEqual(known.scalar, scalar) ? known.key : undefined;
  if (!privateKey) {
    const der = Buffer.concat([PKCS8_X25519, scalar]);
    privateKey = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    der.fill(0);
    known?.scalar.fill(0);
    imported.set(scalar, { key: privateKey, scalar: scalar.slice() });
  }
  return x25519(privateKey, u);
}

/**
 * The key object made for a scalar, by the scalar's array. Importing a raw X25519 private key
 * also computes its public key, a base-point multiplication (about 30 µs, a third of what one
 * x25519Raw costs) that is wasted here. CPace multiplies with each scalar twice (the initiator
 * Ya = ya·g, then K = ya·Yb; the responder Yb = yb·g, then K = yb·Ya), so the second use finds
 * the key object of the first. An entry lives as long as its array and serves only while the
 * array still holds that scalar (the handshake zeroes it after its last use): checked against a
 * copy, which holds nothing the key object does not (a key object cannot be wiped either way),
 * where exporting the key to compare cost ~5 µs per use.
 */
const imported = new WeakMap<Uint8Array, { key: KeyObject; scalar: Uint8Array }>();

export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", ikm, salt, info, length));
}

export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * scrypt parameters for the password: N = 2^14, r = 8, p = 1 — 16 MiB while it runs (freed
 * after), tens of ms on a PC, a few hundred on a router. Memory-hard, so that if a stretched
 * password ever leaked, testing guesses against it would stay slow; the handshake itself
 * (CPace) exposes nothing a guess could be tested against.
 */
export const SCRYPT = { N: 1 << 14, r: 8, p: 1, maxmem: 32 * 1024 * 1024 } as const;

/** The password (UTF-8 of its NFC form) stretched with a salt: 32 bytes. */
export function passwordKey(password: Uint8Array, salt: Uint8Array, params: { N: number; r: number; p: number; maxmem: number } = SCRYPT): Uint8Array {
  return new Uint8Array(scryptSync(password, salt, 32, params));
}
