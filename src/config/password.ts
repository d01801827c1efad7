/**
 * A rough strength estimate of the password, for `--check` (a warning, never an error), and the
 * random secret `mlvpn genkey` prints. With the CPace handshake (docs/protocol.md) a password can
 * only be guessed online, one guess per handshake with the server, rate-limited; a word-list
 * password still falls to a patient attacker, so `--check` says so below WEAK_BITS.
 */
export const WEAK_BITS = 50;

/**
 * Estimated entropy in bits, without a word list: a run of 3 or more letters counts as words of
 * a 7776-word list (one per 6 letters, at least one: ~12.9 bits each), a space as 1 bit, any
 * other character log2 of the size of the character classes used; the whole is capped at twice
 * the number of distinct characters times that (repetitions add little).
 */
export function passwordBits(password: string): number {
  const chars = [...password.normalize("NFC")];
  if (chars.length === 0) return 0;
  let pool = 0;
  if (chars.some((c) => /[a-z]/.test(c))) pool += 26;
  if (chars.some((c) => /[A-Z]/.test(c))) pool += 26;
  if (chars.some((c) => /[0-9]/.test(c))) pool += 10;
  if (chars.some((c) => /[ -/:-@[-`{-~]/.test(c))) pool += 33;
  if (chars.some((c) => c > "~")) pool += 100;
  const perChar = Math.log2(pool);
  let bits = 0;
  for (const token of password.normalize("NFC").match(/\p{L}{3,}|\s|[^]/gu) ?? []) {
    if (token.length >= 3) bits += Math.max(1, Math.round(token.length / 6)) * Math.log2(7776);
    else if (/\s/.test(token)) bits += 1;
    else bits += perChar;
  }
  return Math.round(Math.min(bits, 2 * new Set(chars).size * perChar));
}

/** The warning for `--check`, or undefined for a strong enough password. */
export function passwordWarning(password: string): string | undefined {
  const bits = passwordBits(password);
  if (bits >= WEAK_BITS) return undefined;
  return `the password is weak (about ${bits} bits): it cannot be guessed from captured traffic, but anyone may try guesses online against the server; use a longer one, or a random one from 'mlvpn genkey'`;
}

/** 256 random bits as base64url (43 characters, no padding): paste it as the password on both ends. */
export function generateKey(random: (b: Uint8Array) => void): string {
  const b = new Uint8Array(32);
  random(b);
  return Buffer.from(b).toString("base64url");
}
