/** Timing and limits of the protocol and of this implementation. */

// ---- protocol timing ----
/** Keepalives, handshake retries, timeouts and tolerance checks run on this tick. */
export const HEALTH_TICK_MS = 1000;
/** A client starts a new handshake when it has heard nothing on an up link for a tick plus
 * this long (at least twice the RTT): the peer sends a keepalive every tick, so this is how a
 * restarted server is found again within a few seconds. */
export const SILENCE_REHANDSHAKE_MS = 500;
/** A link silent for this long is left out of scheduling (while another link is fresh). */
export const SUSPECT_AFTER_MS = 2500;
/** The client renews a link's keys after this long (forward secrecy and nonce hygiene). */
export const REKEY_AFTER_MS = 120_000;
export const REKEY_AFTER_MESSAGES = 2 ** 31;
/** A session older than this is not used any more, whatever happens. */
export const REJECT_AFTER_MS = 180_000;
/** An echoed keepalive timestamp older than this gives no RTT sample. */
export const MAX_ECHO_HOLD_MS = 2000;
export const MAX_RTT_SAMPLE_MS = 60_000;

// ---- implementation limits ----
/** Handshakes (curve work) per source address, counted only for INITs whose cookie is valid. */
export const HANDSHAKE_RATE_PER_SEC = 5;
export const HANDSHAKE_BURST = 10;
/** Handshakes (curve work) per second for all sources together, same counting. */
export const HANDSHAKE_GLOBAL_PER_SEC = 200;
/** The responder's cookie key changes this often; a cookie is good for one to two periods. */
export const COOKIE_ROTATE_MS = 10_000;
/** The initiator sends a handshake message again after this long without an answer (or 2 × srtt if longer). */
export const HANDSHAKE_RETRY_MS = 250;
/** The initiator starts over (new HELLO) when a handshake has not completed after this long. */
export const HANDSHAKE_GIVE_UP_MS = 5000;
/** One-way delay assumed for a link before any RTT is known. */
export const DEFAULT_OWD_MS = 25;
/** Reorder hold time: floor, ceiling, and the default before any RTT sample. */
export const REORDER_HOLD_MIN_MS = 10;
export const REORDER_HOLD_MAX_MS = 1000;
/**
 * The shortest retransmission timeout of a common TCP (Linux: srtt + at least 200 ms,
 * TCP_RTO_MIN). A hole held longer than this beyond the links' delay spread outlasts the
 * sender's timer: TCP times out (window back to one packet), and its retransmission then waits
 * behind the same hole. So the part of a hold that waits for jitter or a resend stays below it.
 */
export const TCP_MIN_RTO_MS = 200;
export const REORDER_HOLD_DEFAULT_MS = 100;
