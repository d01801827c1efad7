/**
 * The responder's memory for the handshake (docs/protocol.md "Handshake"): the cookie keys
 * (current and previous, replaced every COOKIE_ROTATE_MS, so a cookie is good for one to two
 * periods, only on its link and from its address and port) and, per link, the client nonces of
 * the INITs already answered until their cookie expires (a repeat gets the same RESP while its
 * session is pending; anything later is a replay).
 */
import { constantTimeEqual } from "../crypto/primitives.ts";
import { COOKIE_ROTATE_MS } from "./constants.ts";
import { cookie } from "./handshake.ts";
import type { PeerAddress } from "./link.ts";
import type { Session } from "./session.ts";

const COOKIE_KEY_SIZE = 32;

export class CookieKeys {
  private keys: [Uint8Array, Uint8Array];
  private rotateMs: number;

  constructor(
    private readonly fresh: (n: number) => Uint8Array,
    nowMs: number,
  ) {
    this.keys = [fresh(COOKIE_KEY_SIZE), fresh(COOKIE_KEY_SIZE)];
    this.rotateMs = nowMs + COOKIE_ROTATE_MS;
  }

  /** The cookie for a CHALLENGE: this link, this source, this nonce, the current key. */
  issue(link: number, from: PeerAddress, nonce: Uint8Array, nowMs: number): Uint8Array {
    this.rotate(nowMs);
    return cookie(this.keys[0], link, from.address, from.port, nonce);
  }

  /** Whether an INIT's cookie was issued for it under the current or the previous key. */
  valid(link: number, from: PeerAddress, nonce: Uint8Array, value: Uint8Array, nowMs: number): boolean {
    this.rotate(nowMs);
    return this.keys.some((k) => constantTimeEqual(cookie(k, link, from.address, from.port, nonce), value));
  }

  private rotate(nowMs: number): void {
    if (nowMs < this.rotateMs) return;
    const [current, previous] = this.keys;
    previous.fill(0);
    // After a long quiet time both keys are stale: replace both.
    this.keys = nowMs - this.rotateMs >= COOKIE_ROTATE_MS ? [this.fresh(COOKIE_KEY_SIZE), this.fresh(COOKIE_KEY_SIZE)] : [this.fresh(COOKIE_KEY_SIZE), current];
    if (this.keys[1] !== current) current.fill(0);
    this.rotateMs = nowMs + COOKIE_ROTATE_MS;
  }
}

export interface Answer {
  expiryMs: number;
  resp: Uint8Array;
  session: Session;
}

export class AnsweredInits {
  private readonly byLink: Map<string, Answer>[];

  constructor(links: number) {
    this.byLink = Array.from({ length: links }, () => new Map());
  }

  addLink(): void {
    this.byLink.push(new Map());
  }

  removeLink(index: number): void {
    this.byLink[index]!.clear();
  }

  find(link: number, nonce: Uint8Array): Answer | undefined {
    return this.byLink[link]!.get(hex(nonce));
  }

  /** Until its cookie expires. Bounded by the handshake limits: at most the global rate times a cookie's lifetime. */
  remember(link: number, nonce: Uint8Array, resp: Uint8Array, session: Session, nowMs: number): void {
    const seen = this.byLink[link]!;
    for (const [k, e] of seen) {
      if (e.expiryMs > nowMs) break;
      seen.delete(k);
    }
    seen.set(hex(nonce), { expiryMs: nowMs + 2 * COOKIE_ROTATE_MS, resp, session });
  }
}

function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, "0");
  return s;
}
