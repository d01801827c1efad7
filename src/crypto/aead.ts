/**
 * AEAD for the transport: one instance per key (per session and direction), working in place on
 * one buffer laid out as associated data ‖ payload ‖ tag (a transport message: header ‖ inner ‖
 * tag). Both take the 96-bit nonce 0x00000000 ‖ counter (u64 big-endian): keys are per
 * direction, so a counter is never reused under one key as long as the caller never repeats a
 * counter (Session enforces that).
 *
 * Implementations, fastest first (docs/performance.md):
 * - a native backend when the shell installed one (useNativeAead): the system's libcrypto
 *   through FFI (src/io/libcrypto.ts), AES-256-GCM and ChaCha20-Poly1305, one cipher context per
 *   key, no allocation per packet. It is injected because loading a library is I/O, which this
 *   layer does not do (test/helpers/layering.ts);
 * - without it, AES-256-GCM from the runtime's `node:crypto` (a cipher object per packet) and
 *   ChaCha20-Poly1305 from `@noble/ciphers` (pure JS, for CPUs without AES instructions).
 */
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { type KeyObject, createCipheriv, createDecipheriv, createSecretKey } from "node:crypto";
import { writeNonce } from "./nonce.ts";

export const TAG_SIZE = 16;
export type CipherName = "aes-256-gcm" | "chacha20poly1305";

export interface Aead {
  /**
   * Authenticates buf[0, aadLen) and encrypts buf[aadLen, aadLen + plainLen) in place, writing
   * the tag right after it (buf must have room). Returns plainLen + TAG_SIZE.
   */
  seal(counter: number, buf: Uint8Array, aadLen: number, plainLen: number): number;
  /**
   * Checks and decrypts in place a whole message: associated data buf[0, aadLen), ciphertext up
   * to the last TAG_SIZE bytes, the tag. False when authentication fails (the payload bytes are
   * then garbage).
   */
  open(counter: number, buf: Uint8Array, aadLen: number): boolean;
}

class AesGcm implements Aead {
  private readonly key: KeyObject;
  private readonly nonce = Buffer.alloc(12);

  constructor(key: Uint8Array) {
    this.key = createSecretKey(key);
  }

  seal(counter: number, buf: Uint8Array, aadLen: number, plainLen: number): number {
    writeNonce(this.nonce, counter);
    const c = createCipheriv("aes-256-gcm", this.key, this.nonce, { authTagLength: TAG_SIZE });
    c.setAAD(buf.subarray(0, aadLen));
    let n = aadLen;
    if (plainLen > 0) {
      const a = c.update(buf.subarray(aadLen, aadLen + plainLen));
      buf.set(a, n);
      n += a.length;
    }
    const f = c.final();
    if (f.length > 0) {
      buf.set(f, n);
      n += f.length;
    }
    buf.set(c.getAuthTag(), n);
    return n + TAG_SIZE - aadLen;
  }

  open(counter: number, buf: Uint8Array, aadLen: number): boolean {
    const end = buf.length - TAG_SIZE;
    if (end < aadLen) return false;
    writeNonce(this.nonce, counter);
    const d = createDecipheriv("aes-256-gcm", this.key, this.nonce, { authTagLength: TAG_SIZE });
    d.setAAD(buf.subarray(0, aadLen));
    d.setAuthTag(buf.subarray(end));
    const plain = d.update(buf.subarray(aadLen, end));
    try {
      d.final();
    } catch {
      return false;
    }
    buf.set(plain, aadLen);
    return true;
  }
}

class ChaCha implements Aead {
  private readonly nonce = new Uint8Array(12);
  /** noble does not encrypt in place: the plaintext is copied here first. */
  private scratch = new Uint8Array(2048);

  private readonly key: Uint8Array;

  /** Keeps its own copy of the key: the handshake zeroes the key material it derived. */
  constructor(key: Uint8Array) {
    this.key = key.slice();
  }

  seal(counter: number, buf: Uint8Array, aadLen: number, plainLen: number): number {
    writeNonce(this.nonce, counter);
    if (this.scratch.length < plainLen) this.scratch = new Uint8Array(plainLen);
    this.scratch.set(buf.subarray(aadLen, aadLen + plainLen));
    const dst = buf.subarray(aadLen, aadLen + plainLen + TAG_SIZE);
    chacha20poly1305(this.key, this.nonce, buf.subarray(0, aadLen)).encrypt(this.scratch.subarray(0, plainLen), dst);
    return plainLen + TAG_SIZE;
  }

  open(counter: number, buf: Uint8Array, aadLen: number): boolean {
    if (buf.length - TAG_SIZE < aadLen) return false;
    writeNonce(this.nonce, counter);
    try {
      buf.set(chacha20poly1305(this.key, this.nonce, buf.subarray(0, aadLen)).decrypt(buf.subarray(aadLen)), aadLen);
      return true;
    } catch {
      return false;
    }
  }
}

/** A native implementation for a cipher and key, or undefined when it has none. */
export type NativeAeadFactory = (cipher: CipherName, key: Uint8Array) => Aead | undefined;

/**
 * The process's native backend. One per process, set once by the shell at start-up (the daemon
 * calls src/io/libcrypto.ts installNativeAead) so that the core, which creates the sessions'
 * AEADs, needs no port for it: a backend changes speed only, never a byte of output.
 */
let native: NativeAeadFactory | undefined;

/** Installs the native backend createAead prefers; undefined goes back to the fallbacks. */
export function useNativeAead(factory: NativeAeadFactory | undefined): void {
  native = factory;
}

/** Which implementation createAead uses for a cipher ("libcrypto" when a native backend is installed and has it). */
export function aeadBackend(cipher: CipherName): "libcrypto" | "node:crypto" | "noble" {
  if (native?.(cipher, new Uint8Array(32))) return "libcrypto";
  return cipher === "aes-256-gcm" ? "node:crypto" : "noble";
}

/** `useNative: false` forces the fallback implementations (tests compare both). */
export function createAead(cipher: CipherName, key: Uint8Array, useNative = true): Aead {
  if (key.length !== 32) throw new RangeError(`AEAD key must be 32 bytes, got ${key.length}`);
  const fast = useNative ? native?.(cipher, key) : undefined;
  if (fast) return fast;
  return cipher === "aes-256-gcm" ? new AesGcm(key) : new ChaCha(key);
}
