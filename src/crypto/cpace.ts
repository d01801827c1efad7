/**
 * CPace over X25519 with SHA-512 (suite CPACE-X25519-SHA512 of the IRTF CFRG draft
 * draft-irtf-cfrg-cpace, initiator-responder mode), the functions the handshake is built from:
 *
 *   g   = Elligator2(decodeUCoordinate(SHA-512(generator_string(DSI, PRS, CI, sid))[0..32]))
 *   Ya  = X25519(ya, g), Yb = X25519(yb, g)           (scalar_mult; 32 random bytes each)
 *   K   = X25519(ya, Yb) = X25519(yb, Ya)              (scalar_mult_vfy: all-zero K aborts)
 *   ISK = SHA-512(lv_cat(DSI_ISK, sid, K) ‖ lv_cat(Ya, ADa) ‖ lv_cat(Yb, ADb))
 *
 * Checked against the draft's published test vectors (test/vectors/cpace-x25519-sha512.json,
 * test/unit/cpace.test.ts). The scalar multiplications are the runtime's native X25519
 * (primitives.ts), which clamps the scalar and ignores bit 255 of u as RFC 7748 requires.
 *
 * Elligator 2 here is the straight-line formula of the draft's Appendix A.5 on BigInt: it runs in
 * time that does not depend on the password beyond BigInt's own arithmetic, which is not
 * constant-time; the generator is computed once per handshake, on the local machine only.
 */
import { createHash } from "node:crypto";

export const DSI = new TextEncoder().encode("CPace255");
export const DSI_ISK = new TextEncoder().encode("CPace255_ISK");
/** SHA-512's input block size (the draft's H.s_in_bytes). */
const S_IN_BYTES = 128;

const P = (1n << 255n) - 19n;
const A = 486662n;
const Z = 2n;

/** The draft's prepend_len: the length as LEB128, then the bytes. */
export function prependLen(data: Uint8Array): Uint8Array {
  const len: number[] = [];
  let n = data.length;
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  const out = new Uint8Array(len.length + data.length);
  out.set(len, 0);
  out.set(data, len.length);
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** lv_cat: each argument with its length prepended. */
export function lvCat(...parts: Uint8Array[]): Uint8Array {
  return concat(...parts.map(prependLen));
}

/** generator_string: DSI and PRS fill the first hash block exactly (zero padding), then CI and sid. */
export function generatorString(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  const zpad = Math.max(0, S_IN_BYTES - 1 - prependLen(prs).length - prependLen(DSI).length);
  return lvCat(DSI, prs, new Uint8Array(zpad), ci, sid);
}

export function sha512(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha512");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

// BigInt's own % is faster here than a reduction using 2^255 ≡ 19 (measured on Bun).
function modPow(base: bigint, exp: bigint): bigint {
  let r = 1n;
  let b = base % P;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return r;
}

const mod = (x: bigint) => ((x % P) + P) % P;

/** RFC 7748 decodeUCoordinate for 255 bits: little-endian, bit 255 cleared. */
function decodeU(b: Uint8Array): bigint {
  let x = 0n;
  for (let i = 31; i >= 0; i--) x = (x << 8n) | BigInt(i === 31 ? b[i]! & 0x7f : b[i]!);
  return x;
}

function encodeU(x: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** Elligator 2 onto Curve25519, u-coordinate only (draft Appendix A.5). */
export function elligator2(r: bigint): Uint8Array {
  const v = mod(-A * modPow(mod(1n + Z * r * r), P - 2n));
  const gv = mod(v * v * v + A * v * v + v);
  const legendre = modPow(gv, (P - 1n) / 2n);
  // epsilon = 1 (gv a square, or 0): u = v; epsilon = -1: u = -v - A.
  const u = legendre === P - 1n ? mod(-v - A) : v;
  return encodeU(u);
}

/** calculate_generator: the password-dependent base point for this session. */
export function calculateGenerator(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  const gen = generatorString(prs, ci, sid);
  const h = sha512(gen);
  const g = elligator2(decodeU(h.subarray(0, 32)));
  gen.fill(0);
  h.fill(0);
  return g;
}

/** The intermediate session key, initiator-responder transcript. */
export function intermediateSessionKey(sid: Uint8Array, k: Uint8Array, ya: Uint8Array, ada: Uint8Array, yb: Uint8Array, adb: Uint8Array): Uint8Array {
  const input = concat(lvCat(DSI_ISK, sid, k), lvCat(ya, ada), lvCat(yb, adb));
  const isk = sha512(input);
  input.fill(0);
  return isk;
}
