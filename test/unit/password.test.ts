/** `mlvpn genkey` and the weak-password warning of `--check`. */
import { expect, test } from "bun:test";
import { generateKey, passwordBits, passwordWarning, WEAK_BITS } from "../../src/config/password.ts";
import { main } from "../../src/main.ts";

test("genkey prints 256 random bits, base64url, different every time", async () => {
  const out: string[] = [];
  const io = { stdout: (s: string) => void out.push(s), stderr: () => {} };
  expect(await main(["genkey"], io as never)).toBe(0);
  expect(await main(["genkey"], io as never)).toBe(0);
  expect(out[0]).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
  expect(Buffer.from(out[0]!.trim(), "base64url").length).toBe(32);
  expect(out[0]).not.toBe(out[1]);
  expect(passwordWarning(generateKey((b) => void crypto.getRandomValues(b)))).toBeUndefined();
});

test("word-list passwords are weak, long random ones are not", () => {
  for (const weak of ["password", "pleasechangeme!", "hunter2", "12345678", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "correct horse battery"]) {
    expect(passwordBits(weak)).toBeLessThan(WEAK_BITS);
    expect(passwordWarning(weak)).toContain("weak");
  }
  for (const strong of ["x8#Lq2!vR9@mZ4$wK7", "correct horse battery staple orbit lantern", "Zr5cN0tQ2bW9eYx1Ks8uHa"]) expect(passwordWarning(strong)).toBeUndefined();
});
