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
 * Elligator 2 here is the draft's Appendix A.5 map with a single exponentiation (see
 * elligator2), done by the runtime's constant-time modular exponentiation; the few other field
 * operations are on BigInt, which is not constant-time. The generator is computed once per
 * handshake, on the local machine only, and never cached: it depends on the session id, as
 * CPace requires.
 */
import { createDiffieHellman, createHash, type DiffieHellman } from "node:crypto";

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
const mod = (x: bigint) => ((x % P) + P) % P;

/** x^(2^n) mod P, for x in [0, P). */
function sqn(x: bigint, n: number): bigint {
  for (let i = 0; i < n; i++) x = (x * x) % P;
  return x;
}

/**
 * z^((P-5)/8) = z^(2^252-3) mod P by the usual addition chain for this prime (the exponent of
 * curve25519's inverse square root): 252 squarings and 11 multiplications, where square and
 * multiply would take about 250 multiplications more.
 */
function pow22523(z: bigint): bigint {
  const z2 = (z * z) % P;
  const z9 = (sqn(z2, 2) * z) % P;
  const z11 = (z9 * z2) % P;
  const z5 = (((z11 * z11) % P) * z9) % P; // z^(2^5-1)
  const z10 = (sqn(z5, 5) * z5) % P;
  const z20 = (sqn(z10, 10) * z10) % P;
  const z40 = (sqn(z20, 20) * z20) % P;
  const z50 = (sqn(z40, 10) * z10) % P;
  const z100 = (sqn(z50, 50) * z50) % P;
  const z200 = (sqn(z100, 100) * z100) % P;
  const z250 = (sqn(z200, 50) * z50) % P; // z^(2^250-1)
  return (sqn(z250, 2) * z) % P;
}

/** A 256-bit big-endian buffer. */
function be32(x: bigint): Buffer {
  return Buffer.from(x.toString(16).padStart(64, "0"), "hex");
}

/**
 * The same power natively: a finite-field Diffie-Hellman object over the prime P whose "private
 * key" is the public exponent (P−5)/8 computes computeSecret(x) = x^((P−5)/8) mod P. About as
 * fast as the chain on BigInt (within ±10 %, either way, on the shared development machine),
 * but by the runtime's constant-time modular exponentiation, whose time does not depend on x,
 * which is derived from the password; BigInt's does. Made once per process: it holds only P
 * and that exponent, nothing derived from a password. undefined when the runtime refuses it, or
 * for x = 1 or P − 1, which it refuses as a DH public value (pow22523 then does it).
 */
let field: DiffieHellman | null | undefined;
function pow22523Native(x: bigint): bigint | undefined {
  if (field === undefined) {
    try {
      field = createDiffieHellman(be32(P), Buffer.from([2]));
      field.setPrivateKey(be32((P - 5n) / 8n));
    } catch {
      field = null;
    }
  }
  if (!field) return undefined;
  const base = be32(x);
  try {
    const y = field.computeSecret(base);
    const out = BigInt(`0x${y.toString("hex")}`);
    y.fill(0);
    return out;
  } catch {
    return undefined;
  } finally {
    base.fill(0);
  }
}

/** √−1 mod P (2^((P−1)/4)). */
const SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752n;
/** 2 / √−1 = −2·√−1: turns the non-square branch's root into u = −v − A (see elligator2). */
const UFACTOR = mod(-2n * SQRT_M1);
const A2 = (A * A) % P;

/** RFC 7748 decodeUCoordinate for 255 bits: little-endian, bit 255 cleared. */
function decodeU(b: Uint8Array): bigint {
  const be = Buffer.from(b.subarray(0, 32)).reverse();
  be[0]! &= 0x7f;
  const x = BigInt(`0x${be.toString("hex")}`);
  be.fill(0);
  return x;
}

/** RFC 7748 encodeUCoordinate of a reduced x: 32 bytes little-endian. */
function encodeU(x: bigint): Uint8Array {
  const be = be32(x);
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = be[31 - i]!;
  be.fill(0);
  return out;
}

/**
 * Elligator 2 onto Curve25519, u-coordinate only: the draft's Appendix A.5 computes, with Z = 2,
 *
 *   v = −A / (1 + Z·r²),  gv = v³ + A·v² + v,  u = v if gv is a square (or 0), else −v − A
 *
 * with two exponentiations (an inversion and a Legendre symbol). The same result here from one
 * (as Monocypher's crypto_elligator_map does): with d = 1 + 2r² and N = −A·(A² − A²·d + d²),
 * gv = N / d³, so gv is a square exactly when x = N·d³ is, and one inverse square root of x,
 * y = x^((P−5)/8) corrected by √−1, gives both: y² = 1/x (square) or √−1/x (not), whence
 * v = −A·N·d²·y² and −v − A = −2r²·A/d = −UFACTOR·r²·A·N·d²·y². x is never 0: d = 0 needs
 * r² = −1/2, and N = 0 a root of d² − A²·d + A², neither of which is a square mod P
 * (test/unit/cpace.test.ts checks both, and this function against the two-exponentiation
 * formula and the draft's vectors). `native: false` uses the BigInt chain only (tests compare).
 */
export function elligator2(r: bigint, native = true): Uint8Array {
  const s = (r * r) % P;
  const w = (2n * s) % P;
  const d = (w + 1n) % P;
  const d2 = (d * d) % P;
  const n = mod(A * ((A2 * w - d2) % P));
  const x = (((n * d2) % P) * d) % P;
  let y = (native ? pow22523Native(x) : undefined) ?? pow22523(x);
  const q = (((y * y) % P) * x) % P; // x^((P−1)/4): 1 or −1 when x is a square, ±√−1 when not
  if (q === P - 1n || q === P - SQRT_M1) y = (y * SQRT_M1) % P;
  const square = q === 1n || q === P - 1n;
  let u = (((((A * n) % P) * d2) % P) * ((y * y) % P)) % P;
  if (!square) u = (((u * s) % P) * UFACTOR) % P;
  return encodeU(mod(-u));
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
