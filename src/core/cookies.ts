/**
 * The responder's memory for the handshake (docs/protocol.md "Handshake"): the cookie keys
 * (current and previous, replaced every COOKIE_ROTATE_MS, so a cookie is good for one to two
 * periods, only on its link and from its address and port) and, per link, the client nonces of
 * the INITs already answered until their cookie expires (a repeat gets the same RESP while its
 * session is pending; anything later is a replay).
 */
import { constantTimeEqual } from "../crypto/primitives.ts";
import { COOKIE_ROTATE_MS } from "./constants.ts";
import { cookie, type PendingConfirm } from "./handshake.ts";
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

/** An INIT answered: its RESP (sent again while its session is pending) and, until the CONFIRM, that session. */
export interface Answer {
  expiryMs: number;
  resp: Uint8Array;
  session: Session;
  /** What checks the CONFIRM, and where the INIT came from (its cookie proved that source receives our answers). */
  confirm: PendingConfirm & { initFrom: PeerAddress };
  /** Still waiting for its CONFIRM (false once confirmed). */
  pending: boolean;
}

/**
 * Per link, the INITs answered until their cookie expires, by client nonce (a repeat gets the
 * same RESP while pending, anything later is a replay) and by the responder's index (the CONFIRM
 * names it). Any number of sessions may be pending on a link at once, each confirmed only by
 * its own CONFIRM: an INIT from anyone (a relay, an attacker with a cookie of its own) adds one,
 * never replaces another's (docs/protocol.md "Threat model").
 */
export class AnsweredInits {
  /**
   * By link index. A removed link's entry goes with it: reloads that replace links (a new
   * socket) add an index each time, and two empty Maps per removed link stayed (~200 B a reload).
   */
  private readonly byLink = new Map<number, { nonces: Map<string, Answer>; indices: Map<number, Answer> }>();
  private nextIndex = 0;

  constructor(links: number) {
    for (let i = 0; i < links; i++) this.addLink();
  }

  /** The next link index (link indices are never reused: src/core/linktable.ts). */
  addLink(): void {
    this.byLink.set(this.nextIndex++, { nonces: new Map(), indices: new Map() });
  }

  removeLink(index: number): void {
    this.byLink.delete(index);
  }

  find(link: number, nonce: Uint8Array): Answer | undefined {
    return this.byLink.get(link)?.nonces.get(hex(nonce));
  }

  /** The session pending on `link` under the responder's index `index`, if any and not expired. */
  pending(link: number, index: number, nowMs: number): Answer | undefined {
    const a = this.byLink.get(link)?.indices.get(index);
    return a && a.pending && a.expiryMs > nowMs ? a : undefined;
  }

  /** Whether a responder index is held by an answered INIT of any link (new indices avoid it). */
  usesIndex(index: number): boolean {
    for (const l of this.byLink.values()) if (l.indices.has(index)) return true;
    return false;
  }

  /** Confirmed: no longer pending (its nonce stays remembered until expiry, as a replay). */
  confirmed(link: number, a: Answer): void {
    a.pending = false;
    this.byLink.get(link)?.indices.delete(a.session.localIndex);
  }

  /**
   * Until its cookie expires. Bounded by the handshake limits: at most the global rate times a
   * cookie's lifetime. Nothing is kept for a link removed meanwhile.
   */
  remember(link: number, nonce: Uint8Array, a: Omit<Answer, "expiryMs" | "pending">, nowMs: number): void {
    const l = this.byLink.get(link);
    if (!l) return;
    const { nonces, indices } = l;
    for (const [k, e] of nonces) {
      if (e.expiryMs > nowMs) break;
      nonces.delete(k);
      if (indices.get(e.session.localIndex) === e) indices.delete(e.session.localIndex);
    }
    const entry = { ...a, expiryMs: nowMs + 2 * COOKIE_ROTATE_MS, pending: true };
    nonces.set(hex(nonce), entry);
    indices.set(a.session.localIndex, entry);
  }
}

function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, "0");
  return s;
}
