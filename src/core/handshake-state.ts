/**
 * The initiator's handshake on one link, as a tagged union (docs/protocol.md, "State machine,
 * initiator"): which message it last sent (sent again until answered), when the handshake
 * started and when that message last left. handshakes.ts drives the transitions; the functions
 * here are the rules every phase shares.
 *
 *   idle ──HELLO──▶ hello ──CHALLENGE──▶ init ──RESP (Tb valid)──▶ confirm ──heard under it──▶ idle
 *
 * The responder keeps no per-link handshake state of its own besides the pending sessions
 * (cookies.ts `AnsweredInits`): HELLO is answered statelessly, an INIT creates a session directly.
 */
import { HANDSHAKE_GIVE_UP_MS, HANDSHAKE_RETRY_MS } from "./constants.ts";
import type { InitState } from "./handshake.ts";
import type { Session } from "./session.ts";

interface InFlight {
  /** The message sent last, sent again until answered. */
  message: Uint8Array;
  startMs: number;
  sentMs: number;
}

export type HandshakeState =
  | { phase: "idle"; localIndex?: undefined }
  /** HELLO sent with nonce Nc, waiting for the CHALLENGE. */
  | (InFlight & { phase: "hello"; nonce: Uint8Array; localIndex?: undefined })
  /**
   * INIT sent, waiting for the RESP. One INIT per distinct CHALLENGE seen for our Nc (at most
   * MAX_INITS; each holds its secret scalar and its own index): a CHALLENGE cannot be
   * authenticated, so a forged or relayed one must not make us ignore the real one that follows
   * (docs/protocol.md "State machine, initiator"). `localIndex` is the first INIT's;
   * `stretched`: the password was stretched for a new salt in this handshake (once at most).
   */
  | (InFlight & { phase: "init"; nonce: Uint8Array; inits: InitState[]; localIndex: number; respChecks: number; stretched: boolean })
  /** CONFIRM sent, waiting to hear the responder under the new session. */
  | (InFlight & { phase: "confirm"; session: Session; localIndex: number });

export const IDLE: HandshakeState = Object.freeze({ phase: "idle" });

/** INITs kept at once for one HELLO (one per distinct CHALLENGE; the real one is among the first few). */
export const MAX_INITS = 4;

/** RESPs checked (one X25519 each) for one HELLO: the real one, sent again a few times, and a few forged. */
export const MAX_RESP_CHECKS = 4 * MAX_INITS;

/** Whether a handshake is under way (some message waits for its answer). */
export function inProgress(st: HandshakeState): st is Exclude<HandshakeState, { phase: "idle" }> {
  return st.phase !== "idle";
}

/** A handshake dropped: its secret scalar is zeroed, not just forgotten. */
export function abandon(st: HandshakeState): HandshakeState {
  if (st.phase === "init") for (const i of st.inits) i.scalar.fill(0);
  return IDLE;
}

/** How long an unanswered message waits before it is sent again. */
export function retryMs(srttMs: number | undefined): number {
  return Math.max(HANDSHAKE_RETRY_MS, srttMs !== undefined ? 2 * srttMs : 0);
}

/** When the initiator next has something to do: send again, or start over. */
export function handshakeDeadline(st: HandshakeState, srttMs: number | undefined): number {
  if (st.phase === "idle") return Number.POSITIVE_INFINITY;
  return Math.min(st.startMs + HANDSHAKE_GIVE_UP_MS, st.sentMs + retryMs(srttMs));
}

/**
 * Not done HANDSHAKE_GIVE_UP_MS after its HELLO: a new HELLO. Compared as handshakeDeadline adds:
 * `now − start ≥ span` can be false at `now = start + span` in floating point, and a timer run at
 * that deadline then did nothing and found it still due, for ever (a livelock in the simulator).
 */
export function givenUp(st: HandshakeState, nowMs: number): boolean {
  return st.phase !== "idle" && nowMs >= st.startMs + HANDSHAKE_GIVE_UP_MS;
}

export function retryDue(st: HandshakeState, nowMs: number, srttMs: number | undefined): boolean {
  return st.phase !== "idle" && nowMs >= st.sentMs + retryMs(srttMs); // as givenUp: the deadline's own sum
}
