/**
 * The syntax tree of a pcap-filter expression (src/filter/parser.ts builds it,
 * src/filter/compile.ts compiles it) and its printing back as text with every implicit
 * qualifier written out (what `--check` shows).
 */
import type { Token } from "./lexer.ts";

export interface Qual {
  proto: string;
  dir: string;
  addr: string;
  /** False after a term that sets no qualifiers (libpcap's qerr): an id may not follow. */
  set: boolean;
}

export type Arith =
  | { k: "num"; v: number; tok: Token }
  | { k: "len"; tok: Token }
  | { k: "load"; proto: string; idx: Arith; size: number; tok: Token; sizeTok?: Token }
  | { k: "bin"; op: string; a: Arith; b: Arith; tok: Token }
  | { k: "neg"; a: Arith; tok: Token };

export type Node =
  | { k: "and" | "or"; a: Node; b: Node }
  | { k: "not"; a: Node }
  | { k: "rel"; op: string; a: Arith; b: Arith; tok: Token }
  | { k: "abbrev"; proto: string; tok: Token }
  | { k: "id"; q: Qual; value: Token; prefix?: Token; mask?: Token }
  | { k: "less" | "greater"; n: number; tok: Token }
  | { k: "cast"; proto: string; what: "broadcast" | "multicast"; tok: Token }
  | { k: "byte"; idx: number; op: string; val: number; tok: Token }
  | { k: "true" };

/** No qualifiers (libpcap's qerr): what a term that sets none leaves for the ids after it. */
export const QERR: Qual = { proto: "default", dir: "default", addr: "default", set: false };

const quote = (q: Qual): string => {
  const parts: string[] = [];
  if (q.proto !== "default") parts.push(q.proto === "link" ? "ether" : q.proto);
  if (q.dir === "or") parts.push("src or dst");
  else if (q.dir === "and") parts.push("src and dst");
  else if (q.dir !== "default") parts.push(q.dir);
  if (q.addr !== "default") parts.push(q.addr);
  return parts.join(" ");
};

function arithText(a: Arith, top = true): string {
  switch (a.k) {
    case "num":
      return a.tok.raw;
    case "len":
      return "len";
    case "load":
      return `${a.proto === "link" ? "ether" : a.proto}[${arithText(a.idx)}${a.sizeTok ? `:${a.size}` : ""}]`;
    case "neg":
      return `-${arithText(a.a, false)}`;
    case "bin": {
      const s = `${arithText(a.a, false)} ${a.op} ${arithText(a.b, false)}`;
      return top ? s : `(${s})`;
    }
  }
}

/**
 * The expression as parsed, every qualifier written out and parentheses where and/or nest:
 * what `--check` shows (`tcp port 22 or 80` → `tcp port 22 or tcp port 80`).
 */
export function formatFilter(n: Node): string {
  switch (n.k) {
    case "true":
      return "";
    case "and":
    case "or": {
      const side = (c: Node, left: boolean) => ((c.k === "and" || c.k === "or") && (c.k !== n.k || !left) ? `(${formatFilter(c)})` : formatFilter(c));
      return `${side(n.a, true)} ${n.k} ${side(n.b, false)}`;
    }
    case "not":
      return n.a.k === "and" || n.a.k === "or" ? `not (${formatFilter(n.a)})` : `not ${formatFilter(n.a)}`;
    case "rel":
      return `${arithText(n.a)} ${n.op} ${arithText(n.b)}`;
    case "abbrev":
      return n.proto;
    case "id": {
      const v = n.value.kind === "id" && n.value.raw.startsWith("\\") ? n.value.raw : n.value.raw;
      const value = n.prefix ? `${v}/${n.prefix.raw}` : n.mask ? `${v} mask ${n.mask.raw}` : v;
      const q = quote(n.q);
      return q ? `${q} ${value}` : value;
    }
    case "less":
    case "greater":
      return `${n.k} ${n.n}`;
    case "cast":
      return n.proto === "default" ? n.what : `${n.proto === "link" ? "ether" : n.proto} ${n.what}`;
    case "byte":
      return `byte ${n.idx} ${n.op} ${n.val}`;
  }
}
