/**
 * Handshake orchestration for every link of a tunnel (protocol v2, docs/protocol.md
 * "Handshake"): when the initiator sends what, how the responder answers, what it refuses
 * before doing any curve work, and when a new session takes over. The messages are built and
 * checked in handshake.ts; the tunnel (tunnel.ts) owns the links and calls in here for every
 * handshake datagram, on its health tick, and for the first packet under a pending session.
 *
 * Responder, in order of cost: HELLO is answered statelessly (one HMAC, a CHALLENGE of the same
 * size). An INIT must carry a cookie made for this link, this source address and port and its
 * nonce within the last one or two cookie periods (one or two HMACs); only then is it looked up
 * among the nonces already answered (a replay), counted against the per-source and global limits,
 * and given curve work. Junk, spoofed sources and replays thus never spend a limit, never cause
 * curve work, and never touch a session.
 */
import type { CipherName } from "../crypto/aead.ts";
import { constantTimeEqual } from "../crypto/primitives.ts";
import { AnsweredInits, CookieKeys } from "./cookies.ts";
import { HANDSHAKE_BURST, HANDSHAKE_GLOBAL_PER_SEC, HANDSHAKE_RATE_PER_SEC, HANDSHAKE_RETRY_MS } from "./constants.ts";
import { describeRoam, fmt } from "./describe.ts";
import { abandon, givenUp, handshakeDeadline, IDLE, inProgress, MAX_INITS, MAX_RESP_CHECKS, retryDue } from "./handshake-state.ts";
import {
  consumeConfirm,
  consumeResp,
  confirmReceiver,
  createChallenge,
  createHello,
  createInit,
  createResp,
  type HandshakeSecrets,
  helloNonce,
  parseChallenge,
  parseInit,
  type PendingConfirm,
  respReceiver,
} from "./handshake.ts";
import type { Link, PeerAddress } from "./link.ts";
import type { LogLevel } from "./ports.ts";
import { KeyedRateLimiter } from "./ratelimit.ts";
import { roam } from "./peers.ts";
import type { Session } from "./session.ts";
import type { DropCounters } from "./stats.ts";
import { CIPHER_IDS, CONFIRM_SIZE, COOKIE_SIZE, INIT_COOKIE_OFF, KEY_SIZE, NONCE_SIZE, RESP_SIZE, SALT_SIZE } from "../wire/layout.ts";


/** What the handshakes need from the tunnel. */
export interface HandshakeHost {
  readonly mode: "client" | "server";
  readonly secrets: HandshakeSecrets;
  /** cleartext_data of this end: used only if the other end enables it too. */
  readonly cleartextData: boolean;
  readonly drops: DropCounters;
  /** This process's random instance id (sent masked, readable only by the peer). */
  readonly instance: number;
  now(): number;
  fill(buf: Uint8Array): void;
  /** A receiver index unused by any session of any link. */
  newLocalIndex(): number;
  /** Sends a handshake message on a link and counts it. */
  transmit(link: Link, message: Uint8Array, to: PeerAddress): void;
  /** A log line, rate-limited by `key` (one key per reason, never per source). */
  logLimited(level: LogLevel, token: string, key: string, message: string): void;
  /** Makes a session with proven keys the link's current one (link up if it was not). */
  established(link: Link, s: Session): void;
  sendKeepalive(link: Link): void;
}

/**
 * Initiator: whether a handshake answer comes from the port this link sends to. The server
 * answers from the socket the HELLO/INIT reached, whatever address a NAT or a multi-homed host
 * shows; an answer from another port was relayed, e.g. an attacker replaying our HELLO to another
 * link's port and the CHALLENGE back to us, which would pair this link with the server's other
 * link (docs/protocol.md "Threat model").
 */
function fromServerPort(link: Link, from: PeerAddress): boolean {
  return link.peer !== undefined && link.peer.port === from.port;
}

/**
 * The link's identity in the handshake (handshake.ts `channelId`): the server's UDP port for it,
 * as each end configures it (`remoteport` on the client, `bindport` on the server).
 */
function serverPort(h: HandshakeHost, link: Link): number {
  return (h.mode === "client" ? link.config.remoteport : link.config.bindport) ?? 0;
}

/** The cookie an INIT carries (compared with a new CHALLENGE's). */
function initCookie(m: Uint8Array): Uint8Array {
  return m.subarray(INIT_COOKIE_OFF, INIT_COOKIE_OFF + COOKIE_SIZE);
}

/** Salts whose stretched password the initiator keeps (the server's, and one more). */
const STRETCHED_SALTS = 2;

const CIPHER_NAMES = Object.fromEntries(Object.entries(CIPHER_IDS).map(([name, id]) => [id, name])) as Record<number, CipherName>;

export class Handshakes {
  private readonly perSource = new KeyedRateLimiter(HANDSHAKE_RATE_PER_SEC, HANDSHAKE_BURST);
  private readonly global = new KeyedRateLimiter(HANDSHAKE_GLOBAL_PER_SEC, HANDSHAKE_GLOBAL_PER_SEC, 1);
  /** Responder: the salt sent in CHALLENGE (random per process start) and the stretched password. */
  private readonly salt = new Uint8Array(SALT_SIZE);
  private prs: Uint8Array | undefined;
  /** Responder: cookie keys (cookies.ts). */
  private readonly cookies: CookieKeys;
  /** Responder, per link: the INITs already answered, with their RESP (cookies.ts). */
  private readonly answered: AnsweredInits;
  /**
   * Responder: what checks a CONFIRM sent again for a session already confirmed (our keepalive
   * was lost), until the initiator has used the session.
   */
  private readonly confirmedSessions = new WeakMap<Session, PendingConfirm & { answeredMs: number; initFrom: PeerAddress }>();
  /**
   * Initiator: the password stretched for the responder's salts, the last STRETCHED_SALTS used
   * (a forged CHALLENGE's salt does not evict the real one).
   */
  private readonly stretched: { salt: Uint8Array; prs: Uint8Array }[] = [];

  constructor(private readonly host: HandshakeHost, links: number) {
    this.answered = new AnsweredInits(links);
    this.cookies = new CookieKeys((n) => this.freshBytes(n), host.now());
    if (host.mode === "server") {
      host.fill(this.salt);
      this.prs = host.secrets.crypto.stretch(host.secrets.password, this.salt);
    }
  }

  addLink(): void {
    this.answered.addLink();
  }

  removeLink(index: number): void {
    this.answered.removeLink(index);
  }

  // ---------------------------------------------------------------- responder

  /** HELLO: answered at once with a CHALLENGE of the same size; no state, no limit, no curve work. */
  receiveHello(link: Link, d: Uint8Array, from: PeerAddress): void {
    const h = this.host;
    if (h.mode !== "server") return h.drops.add("unexpected-handshake");
    const nonce = helloNonce(d);
    if (!nonce) return h.drops.add("bad-size");
    h.transmit(link, createChallenge(nonce, this.cookies.issue(link.index, from, nonce, h.now()), this.salt), from);
  }

  /** INIT: cookie, replay, limits, cipher — then CPace. Nothing changes until the CONFIRM. */
  receiveInit(link: Link, d: Uint8Array, from: PeerAddress): void {
    const h = this.host;
    if (h.mode !== "server") return h.drops.add("unexpected-handshake");
    const init = parseInit(d);
    if (!init) return h.drops.add("bad-size");
    if (!this.cookies.valid(link.index, from, init.nonce, init.cookie, h.now())) {
      h.drops.add("bad-cookie");
      return h.logLimited("debug", "protocol", "init:bad-cookie", `[${link.name}] handshake from ${fmt(from)} ignored: no valid cookie (old, replayed, from another address or for another link)`);
    }
    const earlier = this.answered.find(link.index, init.nonce);
    if (earlier) {
      // The initiator sending its INIT again (our RESP was lost) gets the same RESP; anything later is a replay.
      if (!earlier.pending) return h.drops.add("replay");
      return h.transmit(link, earlier.resp, from);
    }
    const now = h.now();
    // Only now, with a cookie proving the source receives our answers, does it count.
    if (!this.perSource.allow(from.address, now) || !this.global.allow("", now)) return h.drops.add("handshake-rate");
    if (init.cipher !== CIPHER_IDS[h.secrets.cipher]) {
      h.drops.add("cipher-mismatch");
      const theirs = CIPHER_NAMES[init.cipher] ?? `cipher #${init.cipher}`;
      return h.logLimited("warn", "protocol", "init:cipher-mismatch", `[${link.name}] handshake from ${fmt(from)} refused: the peer uses ${theirs}, this end ${h.secrets.cipher}`);
    }
    const resp = createResp(h.secrets, this.prs!, d, init, serverPort(h, link), this.newIndex(), h.instance, h.cleartextData, this.freshBytes(KEY_SIZE), now);
    if (!resp) return h.drops.add("bad-key");
    // Pending beside any other (cookies.ts AnsweredInits): the link's sessions change only at a CONFIRM.
    this.answered.remember(link.index, init.nonce, { resp: resp.message, session: resp.session, confirm: { ...resp.confirm, initFrom: { address: from.address, port: from.port } } }, now);
    h.transmit(link, resp.message, from);
  }

  /** CONFIRM: the initiator proves the keys; the pending session becomes the link's current one. */
  receiveConfirm(link: Link, d: Uint8Array, from: PeerAddress): void {
    const h = this.host;
    if (h.mode !== "server") return h.drops.add("unexpected-handshake");
    if (d.length !== CONFIRM_SIZE) return h.drops.add("bad-size");
    const index = confirmReceiver(d);
    const now = h.now();
    const answer = this.answered.pending(link.index, index, now);
    const current = link.current?.localIndex === index ? this.confirmedSessions.get(link.current) : undefined;
    const p = answer?.confirm ?? current;
    if (!p) return h.drops.add("unknown-session");
    // Once the initiator sent a packet under the session it knows we confirmed: a CONFIRM now is a copy.
    if (!answer && link.current!.replay.highest >= 0) {
      this.confirmedSessions.delete(link.current!);
      return h.drops.add("replay");
    }
    const instance = consumeConfirm(p, d);
    if (instance === undefined) {
      h.drops.add("bad-mac");
      return h.logLimited("warn", "protocol", "confirm:bad-mac", `[${link.name}] handshake confirmation from ${fmt(from)} refused`);
    }
    if (answer) {
      const s = answer.session;
      this.answered.confirmed(link.index, answer);
      s.peerInstance = instance;
      // The peer is where the INIT came from, not where this CONFIRM did: a CONFIRM is a fixed
      // message, and a copy replayed from elsewhere (its original lost) must not send the link
      // there. At a rekey (the same client instance), only if the peer's address went silent
      // (the rule of roaming, peers.ts): an attacker relaying the handshake faster than the path
      // does not take over a live link. A restarted client (new instance) is followed at once.
      const sameClient = link.current !== undefined && link.current.peerInstance === instance;
      const was = roam(link, p.initFrom, now, !sameClient);
      if (was) h.logLimited("info", "net", "confirm:moved", describeRoam(link, was, p.initFrom));
      link.heard(now);
      h.established(link, s);
      this.confirmedSessions.set(s, { ...p, answeredMs: now });
    } else {
      // A CONFIRM sent again because our keepalive was lost: answered, but not faster than it is resent.
      if (now - current!.answeredMs < HANDSHAKE_RETRY_MS / 2) return h.drops.add("replay");
      current!.answeredMs = now;
    }
    // The initiator switches to the session when it hears from us under it.
    h.sendKeepalive(link);
  }

  // ---------------------------------------------------------------- initiator

  /** Health tick (the link needs new keys): start a handshake unless one is in progress. */
  initiate(link: Link): void {
    if (!inProgress(link.handshake)) this.start(link);
  }

  /** When the initiator next has something to do on this link (send again or start over). */
  deadline(link: Link): number {
    return handshakeDeadline(link.handshake, link.srttMs);
  }

  /** Sends the last handshake message again if unanswered, or starts over after HANDSHAKE_GIVE_UP_MS. */
  onTimer(link: Link): void {
    const st = link.handshake;
    const now = this.host.now();
    if (st.phase === "idle" || !link.peer) return;
    if (st.phase === "confirm" && st.session === link.current && st.session.replay.highest >= 0) {
      // The responder answered under the new session: it has our CONFIRM.
      link.handshake = IDLE;
      return;
    }
    if (givenUp(st, now)) return this.start(link);
    if (!retryDue(st, now, link.srttMs)) return;
    st.sentMs = now;
    if (st.phase === "init") for (const i of st.inits) this.host.transmit(link, i.message, link.peer);
    else this.host.transmit(link, st.message, link.peer);
  }

  /** Sends a fresh HELLO on the link (when it has a peer address). */
  start(link: Link): void {
    if (!link.peer) return;
    link.handshake = abandon(link.handshake);
    const nonce = this.freshBytes(NONCE_SIZE);
    const now = this.host.now();
    const message = createHello(nonce);
    link.handshake = { phase: "hello", nonce, message, startMs: now, sentMs: now };
    this.host.transmit(link, message, link.peer);
  }

  receiveChallenge(link: Link, d: Uint8Array, from: PeerAddress): void {
    const h = this.host;
    if (h.mode !== "client") return h.drops.add("unexpected-handshake");
    if (!fromServerPort(link, from)) return h.drops.add("unexpected-handshake");
    const st = link.handshake;
    const ch = parseChallenge(d);
    if (!ch) return h.drops.add("bad-size");
    if ((st.phase !== "hello" && st.phase !== "init") || !constantTimeEqual(ch.nonce, st.nonce) || !link.peer) return h.drops.add("unknown-session");
    // Another CHALLENGE for the same HELLO: the server's answer sent again (same cookie), or one
    // relayed from another link or forged, which we cannot tell from the real one before its RESP.
    // Each distinct one gets its own INIT (up to MAX_INITS), so a fake arriving first does not
    // make us ignore the real one.
    if (st.phase === "init" && (st.inits.length >= MAX_INITS || st.inits.some((i) => constantTimeEqual(initCookie(i.message), ch.cookie)))) return h.drops.add("replay");
    // Stretching the password for a salt not seen yet (a server restarted, or a forged CHALLENGE)
    // costs tens of ms and 16 MiB: once per HELLO at most.
    const known = this.stretchedFor(ch.salt);
    if (!known && st.phase === "init" && st.stretched) return h.drops.add("handshake-rate");
    const localIndex = this.newIndex(st.phase === "init" ? st.inits : []);
    const init = createInit(h.secrets, known ?? this.stretch(ch.salt), ch, serverPort(h, link), localIndex, h.cleartextData, this.freshBytes(KEY_SIZE));
    if (!init) return h.drops.add("bad-key");
    if (st.phase === "init") {
      st.inits.push(init);
      st.stretched ||= !known;
    } else {
      link.handshake = { phase: "init", nonce: st.nonce, inits: [init], message: init.message, startMs: st.startMs, sentMs: h.now(), localIndex, respChecks: 0, stretched: !known };
    }
    h.transmit(link, init.message, link.peer);
  }

  receiveResp(link: Link, d: Uint8Array, from: PeerAddress): void {
    const h = this.host;
    if (h.mode !== "client") return h.drops.add("unexpected-handshake");
    if (!fromServerPort(link, from)) return h.drops.add("unexpected-handshake");
    if (d.length !== RESP_SIZE) return h.drops.add("bad-size");
    const st = link.handshake;
    const sent = st.phase === "init" ? st.inits.find((i) => i.localIndex === respReceiver(d)) : undefined;
    if (st.phase !== "init" || !sent || !link.peer) return h.drops.add("unknown-session");
    // Each check costs an X25519: bounded per HELLO, so a flood of forged RESPs costs little.
    if (st.respChecks >= MAX_RESP_CHECKS) return h.drops.add("bad-mac");
    st.respChecks++;
    const r = consumeResp(h.secrets, sent, d, h.instance, h.now());
    if (!r) {
      // Refused, and nothing else changes: the real RESP (for this INIT or another) may follow.
      // A wrong password is refused again at each answer, until the handshake starts over.
      h.drops.add("bad-mac");
      return h.logLimited("warn", "protocol", "resp:bad-mac", `[${link.name}] handshake answer refused: wrong password, another cipher, relayed from another link, or not an mlvpn peer`);
    }
    abandon(st);
    // Tb proved the RESP comes from the peer: the link is heard from.
    link.heard(h.now());
    link.handshake = { phase: "confirm", session: r.session, message: r.confirm, startMs: st.startMs, sentMs: h.now(), localIndex: sent.localIndex };
    h.transmit(link, r.confirm, link.peer);
    if (link.current) {
      // A rekey: the old session carries on until the responder is heard under the new one.
      link.pend(r.session);
    } else {
      // Nothing to lose: the link comes up now. The CONFIRM, sent just before on the same path,
      // reaches the responder before our data; it drops anything under the session until then.
      h.established(link, r.session);
      h.sendKeepalive(link);
    }
  }

  /**
   * An authenticated packet under a link's pending session. Initiator: the responder confirmed
   * it, so it takes over (true). Responder: only a CONFIRM confirms, the packet is refused (false).
   */
  confirmedByPacket(link: Link, s: Session): boolean {
    if (this.host.mode === "server") return false;
    link.handshake = IDLE;
    this.host.established(link, s);
    return true;
  }

  // ---------------------------------------------------------------- helpers

  /** The stretched password for a salt already seen (the most recent first), else undefined. */
  private stretchedFor(salt: Uint8Array): Uint8Array | undefined {
    const i = this.stretched.findIndex((s) => constantTimeEqual(s.salt, salt));
    if (i < 0) return undefined;
    const [e] = this.stretched.splice(i, 1);
    this.stretched.unshift(e!);
    return e!.prs;
  }

  private stretch(salt: Uint8Array): Uint8Array {
    const prs = this.host.secrets.crypto.stretch(this.host.secrets.password, salt);
    this.stretched.unshift({ salt: salt.slice(), prs });
    for (const old of this.stretched.splice(STRETCHED_SALTS)) old.prs.fill(0);
    return prs;
  }

  /** A receiver index unused by any link's session or handshake, any answered INIT, and `also`. */
  private newIndex(also: readonly { localIndex: number }[] = []): number {
    for (let tries = 0; ; tries++) {
      const index = this.host.newLocalIndex();
      // 2^32 indices for a few thousand in use: a second try is already rare.
      if (tries >= 16 || (!this.answered.usesIndex(index) && !also.some((i) => i.localIndex === index))) return index;
    }
  }

  private freshBytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    this.host.fill(b);
    return b;
  }
}
