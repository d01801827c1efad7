/** CPace (X25519, SHA-512) against the draft's published test vectors (source named in the fixture). */
import { describe, expect, test } from "bun:test";
import { calculateGenerator, generatorString, intermediateSessionKey, lvCat, sha512 } from "../../src/crypto/cpace.ts";
import { x25519Raw } from "../../src/crypto/primitives.ts";
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
