/**
 * What the filter compiler (src/filter/compile.ts) generates, and how it becomes a function:
 * JavaScript source over the packet `p`, its captured length `c` and its length on the wire
 * `w`, built with `new Function` once per expression or list, with the small code-building
 * helpers the compiler's parts share.
 */

export type LinkType = "raw" | "ether" | "sll" | "sll2";

/** (packet, captured length, length on the wire) → match. */
export type Pred = (p: Uint8Array, cap: number, wire: number) => boolean;

/** Generated JavaScript: a boolean expression (tests) or a number expression (values) over p, c, w. */
export type Code = string;

/** An arithmetic value being compiled. */
export interface Value {
  /** The protocol check that must hold before the value is read (libpcap's block). */
  guard?: Code;
  val: Code;
  konst?: number;
}

/** Whether the last single-expression match read past the captured bytes; set by the generated code. */
const lastMatch = { f: false };

export function runPred(pred: Pred, p: Uint8Array, cap: number, wire: number): boolean {
  return pred(p, cap, wire);
}

/** Whether the last match read past the captured bytes (and so rejected the packet). */
export function lastMatchHitEnd(): boolean {
  return lastMatch.f;
}

/** libpcap's interpreter shifts by 32 or more to 0 (used to fold constants). */
export const SHL = (a: number, b: number): number => (b > 31 ? 0 : (a << b) >>> 0);
export const SHR = (a: number, b: number): number => (b > 31 ? 0 : a >>> b);

/** (packet, captured length, wire length, usable flag per entry) → index of the first usable entry that matches, or -1. */
export type ListPred = (p: Uint8Array, cap: number, wire: number, usable: Uint8Array) => number;

// The generated code reads the packet inline: `f` records a read past the captured bytes (the
// packet is then rejected), t0…tN hold intermediate offsets and values.
const locals = (temps: number): string => ["f = false", ...Array.from({ length: temps }, (_, i) => `t${i} = 0`)].join(", ");

/** One function for a whole list: each entry's test inlined, in order. */
export function generateList(codes: readonly Code[], temps: number): ListPred {
  const body = codes.map((code, i) => `if (u[${i}] === 1) { f = false; if (${code} && !f) return ${i}; }`).join("\n");
  // Only numbers and operators from the parsed expressions appear in the code, never their text.
  return new Function(`"use strict"; return function first(p, c, w, u) { let ${locals(temps)};\n${body}\nreturn -1; };`)() as ListPred;
}

export function generate(code: Code, temps: number): Pred {
  const make = new Function("S", `"use strict"; return function match(p, c, w) { let ${locals(temps)}; const r = ${code}; S.f = f; return r && !f; };`);
  return make(lastMatch) as Pred;
}

export const and2 = (a: Code, b: Code): Code => `(${a} && ${b})`;
export const or2 = (a: Code, b: Code): Code => `(${a} || ${b})`;
export const TRUE: Code = "true";
export const FALSE: Code = "false";
export const hex = (n: number): string => `0x${n.toString(16)}`;
