/**
 * The transport AEADs: the libcrypto implementation (when the system has one) and the fallbacks
 * (node:crypto, @noble/ciphers) must produce the same messages and accept each other's, in place,
 * on views at any offset; any change to header, payload or tag must be refused.
 */
import { beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { aeadBackend, type CipherName, createAead, TAG_SIZE, useNativeAead } from "../../src/crypto/aead.ts";
import { installNativeAead } from "../../src/io/libcrypto.ts";
import { SeededRandom } from "../helpers/random.ts";

const CIPHERS: CipherName[] = ["aes-256-gcm", "chacha20poly1305"];
const rnd = new SeededRandom(42);
const key = new Uint8Array(32);
rnd.fill(key);

/** A message laid out as aad ‖ plaintext ‖ room for the tag, at byte `offset` of a larger buffer. */
function message(aadLen: number, plainLen: number, offset: number): { buf: Uint8Array; plain: Uint8Array } {
  const backing = new Uint8Array(offset + aadLen + plainLen + TAG_SIZE + 7);
  const buf = backing.subarray(offset, offset + aadLen + plainLen + TAG_SIZE);
  rnd.fill(buf.subarray(0, aadLen + plainLen));
  return { buf, plain: buf.slice(aadLen, aadLen + plainLen) };
}

// As the daemon does at start-up (src/daemon.ts).
beforeAll(installNativeAead);

test("without an installed native backend, createAead uses the fallbacks", () => {
  useNativeAead(undefined);
  try {
    expect(aeadBackend("aes-256-gcm")).toBe("node:crypto");
    expect(aeadBackend("chacha20poly1305")).toBe("noble");
  } finally {
    installNativeAead();
  }
});

test("the libcrypto backend is used when the system has libcrypto", () => {
  const dirs = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/lib"];
  const expected = dirs.some((d) => ["libcrypto.so.3", "libcrypto.so.1.1"].some((n) => existsSync(`${d}/${n}`)));
  if (!expected) console.log("no system libcrypto: only the fallbacks are tested");
  for (const c of CIPHERS) expect(aeadBackend(c) === "libcrypto").toBe(expected && process.env.MLVPN_LIBCRYPTO !== "off");
});

for (const cipher of CIPHERS) {
  test(`${cipher}: native and fallback seal identically and open each other's messages, in place`, () => {
    const impls = [createAead(cipher, key), createAead(cipher, key, false)];
    for (const [aadLen, plainLen, offset] of [[16, 1408, 0], [16, 9, 3], [16, 0, 5], [40, 0, 1], [16, 1, 0]] as const) {
      const m = message(aadLen, plainLen, offset);
      const copy = m.buf.slice();
      const counter = 1_000_000_007 + plainLen;
      expect(impls[0]!.seal(counter, m.buf, aadLen, plainLen)).toBe(plainLen + TAG_SIZE);
      expect(impls[1]!.seal(counter, copy, aadLen, plainLen)).toBe(plainLen + TAG_SIZE);
      expect([...copy]).toEqual([...m.buf]);
      if (plainLen > 8) expect(m.buf.subarray(aadLen, aadLen + plainLen)).not.toEqual(m.plain);
      for (const opener of impls) {
        const b = m.buf.slice();
        expect(opener.open(counter, b, aadLen)).toBe(true);
        expect([...b.subarray(aadLen, aadLen + plainLen)]).toEqual([...m.plain]);
        expect(opener.open(counter + 1, m.buf.slice(), aadLen)).toBe(false);
      }
    }
  });

  test(`${cipher}: every flipped bit is refused`, () => {
    const a = createAead(cipher, key);
    const { buf } = message(16, 64, 0);
    a.seal(7, buf, 16, 64);
    for (let i = 0; i < buf.length; i++) {
      const b = buf.slice();
      b[i]! ^= 1 << i % 8;
      expect(a.open(7, b, 16)).toBe(false);
    }
    expect(a.open(7, buf.subarray(0, TAG_SIZE + 15), 16)).toBe(false);
  });
}
