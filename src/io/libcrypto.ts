/**
 * The system's OpenSSL libcrypto (1.1 or 3) through FFI, for the transport AEADs: one
 * EVP_CIPHER_CTX per key, set up once, then per packet only a new nonce, the associated data,
 * the payload encrypted or decrypted in place and the tag — no allocation, four to five native
 * calls. That is about 1.2 µs per 1400-byte packet against 3.5–4.3 µs for a fresh node:crypto
 * cipher object per packet, and it also gives ChaCha20-Poly1305 natively (Bun's node:crypto has
 * none; the pure-JS fallback costs ~37 µs per packet). docs/performance.md has the measurements.
 *
 * Optional: without a loadable libcrypto (a router without OpenSSL) src/crypto/aead.ts falls
 * back to node:crypto and @noble/ciphers. MLVPN_LIBCRYPTO names the library to load, or "off".
 *
 * It lives in the shell because it loads a library and reads the environment; the pure crypto
 * layer only knows the Aead interface, and the daemon installs this backend at start-up
 * (installNativeAead), as do the benchmarks and the tests that compare implementations.
 */
import { dlopen, FFIType, type Pointer, ptr } from "bun:ffi";
import { type Aead, type CipherName, useNativeAead } from "../crypto/aead.ts";
import { writeNonce } from "../crypto/nonce.ts";

const SYMBOLS = {
  EVP_CIPHER_CTX_new: { args: [], returns: FFIType.ptr },
  EVP_CIPHER_CTX_free: { args: [FFIType.ptr], returns: FFIType.void },
  EVP_aes_256_gcm: { args: [], returns: FFIType.ptr },
  EVP_chacha20_poly1305: { args: [], returns: FFIType.ptr },
  EVP_EncryptInit_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  EVP_DecryptInit_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  EVP_EncryptUpdate: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  EVP_DecryptUpdate: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  EVP_EncryptFinal_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  EVP_DecryptFinal_ex: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  EVP_CIPHER_CTX_ctrl: { args: [FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
} as const;

// <openssl/evp.h>: EVP_CTRL_AEAD_GET_TAG / SET_TAG (same values for GCM and ChaCha20-Poly1305).
const CTRL_GET_TAG = 0x10;
const CTRL_SET_TAG = 0x11;
const TAG = 16;

const CANDIDATES = ["libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so"];

type Lib = ReturnType<typeof dlopen<typeof SYMBOLS>>["symbols"];
let lib: Lib | null | undefined;

/** The library's functions, or null when none could be loaded (or MLVPN_LIBCRYPTO=off). */
function load(): Lib | null {
  if (lib !== undefined) return lib;
  const override = process.env.MLVPN_LIBCRYPTO;
  lib = null;
  if (override === "off") return lib;
  for (const name of override ? [override] : CANDIDATES) {
    try {
      lib = dlopen(name, SYMBOLS).symbols;
      break;
    } catch {}
  }
  return lib;
}

/** An address inside a buffer whose start is `base`. */
const at = (base: number, offset: number) => (base + offset) as Pointer;

const contexts = new FinalizationRegistry<Pointer>((ctx) => lib?.EVP_CIPHER_CTX_free(ctx));

/**
 * One key in one direction. `seal` and `open` work in place on `buf`: associated data
 * buf[0, aadLen), then the payload, then the 16-byte tag.
 */
export class NativeAead implements Aead {
  private readonly nonce = new Uint8Array(new ArrayBuffer(12));
  private readonly outLen = new Int32Array(new ArrayBuffer(4));
  private readonly tag = new Uint8Array(new ArrayBuffer(TAG));

  private constructor(
    private readonly l: Lib,
    private readonly enc: Pointer,
    private readonly dec: Pointer,
  ) {}

  /** undefined when libcrypto is unavailable or lacks the cipher. */
  static create(cipher: CipherName, key: Uint8Array): NativeAead | undefined {
    const l = load();
    if (!l) return undefined;
    const evp = cipher === "aes-256-gcm" ? l.EVP_aes_256_gcm() : l.EVP_chacha20_poly1305();
    if (!evp) return undefined;
    const k = new Uint8Array(new ArrayBuffer(32));
    k.set(key);
    const enc = l.EVP_CIPHER_CTX_new() as Pointer | null;
    const dec = l.EVP_CIPHER_CTX_new() as Pointer | null;
    const a = new NativeAead(l, enc!, dec!);
    if (enc) contexts.register(a, enc);
    if (dec) contexts.register(a, dec);
    // The key schedule is computed once here; per packet only the nonce changes.
    if (!enc || !dec || l.EVP_EncryptInit_ex(enc, evp, null, k, null) !== 1 || l.EVP_DecryptInit_ex(dec, evp, null, k, null) !== 1) return undefined;
    k.fill(0);
    return a;
  }

  seal(counter: number, buf: Uint8Array, aadLen: number, plainLen: number): number {
    const { l, enc, outLen } = this;
    writeNonce(this.nonce, counter);
    const p = ptr(buf) as number;
    if (l.EVP_EncryptInit_ex(enc, null, null, null, this.nonce) !== 1) throw new Error("libcrypto: setting the nonce failed");
    if (aadLen > 0) l.EVP_EncryptUpdate(enc, null, outLen, at(p, 0), aadLen);
    if (plainLen > 0) l.EVP_EncryptUpdate(enc, at(p, aadLen), outLen, at(p, aadLen), plainLen);
    l.EVP_EncryptFinal_ex(enc, at(p, aadLen + plainLen), outLen);
    if (l.EVP_CIPHER_CTX_ctrl(enc, CTRL_GET_TAG, TAG, at(p, aadLen + plainLen)) !== 1) throw new Error("libcrypto: reading the tag failed");
    return plainLen + TAG;
  }

  open(counter: number, buf: Uint8Array, aadLen: number): boolean {
    const { l, dec, outLen, tag } = this;
    const ctLen = buf.length - aadLen - TAG;
    if (ctLen < 0) return false;
    writeNonce(this.nonce, counter);
    const p = ptr(buf) as number;
    // The tag is copied out first: decryption in place would not touch it, but this keeps the
    // set-tag call independent of the buffer.
    for (let i = 0; i < TAG; i++) tag[i] = buf[aadLen + ctLen + i]!;
    if (l.EVP_DecryptInit_ex(dec, null, null, null, this.nonce) !== 1) return false;
    if (aadLen > 0) l.EVP_DecryptUpdate(dec, null, outLen, at(p, 0), aadLen);
    if (ctLen > 0) l.EVP_DecryptUpdate(dec, at(p, aadLen), outLen, at(p, aadLen), ctLen);
    if (l.EVP_CIPHER_CTX_ctrl(dec, CTRL_SET_TAG, TAG, tag) !== 1) return false;
    return l.EVP_DecryptFinal_ex(dec, at(p, aadLen + ctLen), outLen) === 1;
  }
}

/** The native AEAD for a cipher and key; undefined without libcrypto or without that cipher. */
export function nativeAead(cipher: CipherName, key: Uint8Array): Aead | undefined {
  return NativeAead.create(cipher, key);
}

/** Makes createAead (src/crypto/aead.ts) prefer libcrypto from now on, in this process. */
export function installNativeAead(): void {
  useNativeAead(nativeAead);
}
