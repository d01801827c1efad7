/** CPace (X25519, SHA-512) against the draft's published test vectors (source named in the fixture). */
import { describe, expect, test } from "bun:test";
import { calculateGenerator, elligator2, generatorString, intermediateSessionKey, lvCat, sha512 } from "../../src/crypto/cpace.ts";
import { x25519Raw } from "../../src/crypto/primitives.ts";
import { SeededRandom } from "../helpers/random.ts";
import vectors from "../vectors/cpace-x25519-sha512.json";

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString("hex") : "undefined");
const v = vectors;

describe("CPace X25519 SHA-512, draft Appendix B.1", () => {
  test("the fixture names its source", () => {
    expect(v.source).toContain("draft-irtf-cfrg-cpace");
  });

  test("generator_string, its hash and the generator g (B.1.1)", () => {
    const gen = generatorString(hex(v.PRS), hex(v.CI), hex(v.sid));
    expect(toHex(gen)).toBe(v.generator_string);
    expect(toHex(sha512(gen).subarray(0, 32))).toBe(v.hash_generator_string);
    expect(toHex(calculateGenerator(hex(v.PRS), hex(v.CI), hex(v.sid)))).toBe(v.g);
  });

  test("the messages Ya, Yb and the shared point K from both sides (B.1.2–B.1.4)", () => {
    const g = hex(v.g);
    expect(toHex(x25519Raw(hex(v.ya), g))).toBe(v.Ya);
    expect(toHex(x25519Raw(hex(v.yb), g))).toBe(v.Yb);
    expect(toHex(x25519Raw(hex(v.ya), hex(v.Yb)))).toBe(v.K);
    expect(toHex(x25519Raw(hex(v.yb), hex(v.Ya)))).toBe(v.K);
  });

  test("transcript_ir and ISK, initiator/responder (B.1.5)", () => {
    expect(toHex(lvCat(hex(v.Ya), hex(v.ADa), hex(v.Yb), hex(v.ADb)))).toBe(v.transcript_ir);
    expect(toHex(intermediateSessionKey(hex(v.sid), hex(v.K), hex(v.Ya), hex(v.ADa), hex(v.Yb), hex(v.ADb)))).toBe(v.ISK_IR);
  });

  test("scalar_mult_vfy: low-order points abort, the others give the published results (B.1.10)", () => {
    const s = hex(v.low_order.s);
    for (const u of v.low_order.abort) expect(x25519Raw(s, hex(u))).toBeUndefined();
    for (const [u, q] of v.low_order.nonzero) expect(toHex(x25519Raw(s, hex(u!)))).toBe(q!);
  });
});

describe("Elligator 2 with one exponentiation, native and on BigInt", () => {
  const P = (1n << 255n) - 19n;
  const A = 486662n;
  const modPow = (b: bigint, e: bigint) => {
    let r = 1n;
    b %= P;
    for (; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) r = (r * b) % P;
    return r;
  };
  const mod = (x: bigint) => ((x % P) + P) % P;
  const legendre = (x: bigint) => modPow(mod(x), (P - 1n) / 2n);
  /** The draft's Appendix A.5 as written: an inversion and a Legendre symbol. */
  const reference = (r: bigint) => {
    const v = mod(-A * modPow(mod(1n + 2n * r * r), P - 2n));
    const gv = mod(v * v * v + A * v * v + v);
    const u = legendre(gv) === P - 1n ? mod(-v - A) : v;
    return toHex(Uint8Array.from({ length: 32 }, (_, i) => Number((u >> BigInt(8 * i)) & 0xffn)));
  };

  test("the input it needs is never 0: −1/2 is no square, nor is the discriminant A⁴ − 4A²", () => {
    expect(legendre(-modPow(2n, P - 2n))).toBe(P - 1n);
    expect(legendre(A ** 4n - 4n * A * A)).toBe(P - 1n);
  });

  test("matches the two-exponentiation formula on both branches and at the edges", () => {
    const rnd = new SeededRandom(7);
    const bytes = new Uint8Array(32);
    const inputs = [0n, 1n, P - 1n, P, P + 1n, (1n << 255n) - 1n];
    for (let i = 0; i < 400; i++) {
      rnd.fill(bytes);
      inputs.push(bytes.reduce((x, b) => (x << 8n) | BigInt(b), 0n) & ((1n << 255n) - 1n));
    }
    let nonSquare = 0;
    for (const r of inputs) {
      expect(toHex(elligator2(r))).toBe(reference(r));
      expect(toHex(elligator2(r, false))).toBe(reference(r));
      const v = mod(-A * modPow(mod(1n + 2n * r * r), P - 2n));
      if (legendre(v * v * v + A * v * v + v) === P - 1n) nonSquare++;
    }
    // Both branches were taken many times.
    expect(nonSquare).toBeGreaterThan(100);
    expect(nonSquare).toBeLessThan(inputs.length - 100);
  });
});

test("x25519Raw reuses a scalar's key object only while its array still holds that scalar", () => {
  const g = hex(v.g);
  const scalar = hex(v.ya);
  expect(toHex(x25519Raw(scalar, g))).toBe(v.Ya);
  expect(toHex(x25519Raw(scalar, hex(v.Yb)))).toBe(v.K);
  // The same array, another scalar (as a reused buffer would be): the other scalar's results.
  scalar.set(hex(v.yb));
  expect(toHex(x25519Raw(scalar, g))).toBe(v.Yb);
  expect(toHex(x25519Raw(scalar, hex(v.Ya)))).toBe(v.K);
  // Zeroed after use, as the handshake does: no longer the old key.
  scalar.fill(0);
  expect(toHex(x25519Raw(scalar, g))).not.toBe(v.Yb);
});
