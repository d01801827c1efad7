/**
 * Handshake orchestration for every link of a tunnel: when the initiator sends INIT, how the
 * responder answers, and when a new session takes over. The messages themselves are built and
 * checked in handshake.ts; the tunnel (tunnel.ts) owns the links and calls in here for every
 * handshake datagram and on its health tick.
 */
import type { DropCounters } from "./stats.ts";
import { consumeInit, consumeResp, createInit, createResp, type HandshakeSecrets, respReceiver } from "./handshake.ts";
import { HANDSHAKE_BURST, HANDSHAKE_RATE_PER_SEC, SEEN_INITS } from "./constants.ts";
import { type Link, type PeerAddress } from "./link.ts";
import { KeyedRateLimiter } from "./ratelimit.ts";
import type { Session } from "./session.ts";
import { HANDSHAKE_SIZE } from "../wire/layout.ts";

export type LogLevel = "warn" | "info" | "debug";

/** What the handshakes need from the tunnel. */
export interface HandshakeHost {
  readonly mode: "client" | "server";
  readonly secrets: HandshakeSecrets;
  readonly drops: DropCounters;
  /** This process's random instance id. */
  readonly instance: number;
  now(): number;
  fill(buf: Uint8Array): void;
  /** A receiver index unused by any session of any link. */
  newLocalIndex(): number;
  /** Sends a handshake message on a link and counts it. */
  transmit(link: Link, message: Uint8Array, to: PeerAddress): void;
  /** A log line, rate-limited by `key`. */
  logLimited(level: LogLevel, token: string, key: string, message: string): void;
  /** Makes a session with proven keys the link's current one (link up if it was not). */
  established(link: Link, s: Session): void;
  sendKeepalive(link: Link): void;
}

export class Handshakes {
  private readonly limiter = new KeyedRateLimiter(HANDSHAKE_RATE_PER_SEC, HANDSHAKE_BURST);
  private readonly seenInits: Set<string>[];

  constructor(private readonly host: HandshakeHost, links: number) {
    this.seenInits = Array.from({ length: links }, () => new Set<string>());
  }

  addLink(): void {
    this.seenInits.push(new Set());
  }

  removeLink(index: number): void {
    this.seenInits[index]!.clear();
  }

  /** Responder: an INIT for this link. Nothing changes until the peer confirms the keys. */
  receiveInit(link: Link, d: Uint8Array, from: PeerAddress): void {
    const h = this.host;
    if (h.mode !== "server") return h.drops.add("unexpected-handshake");
    if (d.length !== HANDSHAKE_SIZE) return h.drops.add("bad-size");
    if (!this.limiter.allow(from.address, h.now())) return h.drops.add("handshake-rate");
    const check = consumeInit(h.secrets, d);
    if (!check.ok) {
      h.drops.add(check.reason);
      const why = check.reason === "bad-mac" ? "wrong password, or not an mlvpn peer" : `the peer uses another cipher than ${h.secrets.cipher}`;
      return h.logLimited("warn", "protocol", `init:${check.reason}:${from.address}`, `[${link.name}] handshake from ${fmt(from)} refused: ${why}`);
    }
    const seen = this.seenInits[link.index]!;
    const id = macId(d);
    if (seen.has(id)) return h.drops.add("replay");
    seen.add(id);
    if (seen.size > SEEN_INITS) seen.delete(seen.values().next().value!);
    const resp = createResp(h.secrets, d, check.init, h.newLocalIndex(), h.instance, this.freshBytes(32), h.now());
    if (!resp) return h.drops.add("bad-key");
    link.next = resp.session;
    h.transmit(link, resp.message, from);
  }

  /** Initiator: the answer to our INIT. */
  receiveResp(link: Link, d: Uint8Array): void {
    const h = this.host;
    if (h.mode !== "client") return h.drops.add("unexpected-handshake");
    if (d.length !== HANDSHAKE_SIZE) return h.drops.add("bad-size");
    const sent = link.initSent;
    if (!sent || respReceiver(d) !== sent.localIndex) return h.drops.add("unknown-session");
    const session = consumeResp(h.secrets, sent, d, h.now());
    if (!session) {
      h.drops.add("bad-mac");
      return h.logLimited("warn", "protocol", `resp:${link.index}`, `[${link.name}] handshake answer refused: wrong password, or not an mlvpn peer`);
    }
    link.initSent = undefined;
    link.handshakeWanted = false;
    link.lastRecvMs = h.now();
    h.established(link, session);
    // The first packet under the new keys confirms them to the responder.
    h.sendKeepalive(link);
  }

  /** A packet under a session waiting for confirmation: the peer proved it holds the keys. */
  confirmedByPacket(link: Link, s: Session): void {
    s.confirmed = true;
    this.host.established(link, s);
  }

  /** Initiator: sends a fresh INIT on the link (when it has a peer address). */
  transmitInit(link: Link): void {
    const h = this.host;
    if (!link.peer) return;
    link.initSent = createInit(h.secrets, h.newLocalIndex(), h.instance, this.freshBytes(32), h.now());
    h.transmit(link, link.initSent.message, link.peer);
  }

  private freshBytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    this.host.fill(b);
    return b;
  }
}

export function fmt(p: PeerAddress): string {
  return p.address.includes(":") ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`;
}

function macId(init: Uint8Array): string {
  let s = "";
  for (let i = HANDSHAKE_SIZE - 16; i < HANDSHAKE_SIZE; i++) s += init[i]!.toString(16).padStart(2, "0");
  return s;
}
