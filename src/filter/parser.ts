/**
 * Parser of the pcap-filter language into an AST, following libpcap's grammar (docs/filters.md):
 *
 *   expr   := term ((and | or) (term | id))*         and/or: one precedence, left to right
 *   term   := not term | '(' expr ')' | head id | proto | arith relop arith | less N | greater N | …
 *   head   := [proto] [src|dst|src or dst|src and dst] [host|net|port|portrange] | [proto] proto
 *   id     := not id | NUM | ADDR[/len | mask ADDR] | NAME | '(' id ((and|or) id)* ')'
 *
 * An `id` after and/or takes the qualifiers of the term before it (`host a or b`, `tcp port 22
 * or 80`). Arithmetic has libpcap's precedences (| < & < shifts < + - < * /, unary minus
 * highest) and its quirk for % and ^, which have none: whatever follows them is their right
 * operand (`1 + 2 % 3 * 4` is `1 + (2 % (3 * 4))`).
 */
import { FilterError, type Token, tokenize } from "./lexer.ts";

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

const QERR: Qual = { proto: "default", dir: "default", addr: "default", set: false };

/** Protocol names the grammar accepts as a qualifier or on their own. */
export const PNAMES = new Set([
  "link", "ip", "arp", "rarp", "sctp", "tcp", "udp", "icmp", "igmp", "igrp", "pim", "vrrp", "carp", "atalk", "aarp", "decnet",
  "lat", "sca", "mopdl", "moprc", "ip6", "icmp6", "ah", "esp", "iso", "esis", "isis", "l1", "l2", "iih", "lsp", "snp", "psnp",
  "csnp", "clnp", "stp", "ipx", "netbeui", "radio",
]);
const DQUALS = new Set(["src", "dst", "addr1", "addr2", "addr3", "addr4", "ra", "ta"]);
const AQUALS = new Set(["host", "net", "port", "portrange"]);
/** Keywords of link types and protocols mlvpn has no use for: a clear error, not a syntax error. */
const UNSUPPORTED = new Set([
  "inbound", "outbound", "ifindex", "vlan", "mpls", "pppoed", "pppoes", "geneve", "lane", "llc", "metac", "bcc", "oam", "oamf4",
  "oamf4ec", "oamf4sc", "sc", "ilmic", "vpi", "vci", "connectmsg", "metaconnect", "ifname", "rset", "rnr", "srnr", "reason",
  "action", "fisu", "lssu", "msu", "hfisu", "hlssu", "hmsu", "sio", "opc", "dpc", "sls", "hsio", "hopc", "hdpc", "hsls", "type",
  "subtype", "dir",
]);

/** Binary operators' precedence; % and ^ have none in libpcap's grammar (always shifted). */
const PREC: Record<string, number | undefined> = { "|": 1, "&": 2, "<<": 3, ">>": 3, "+": 4, "-": 4, "*": 5, "/": 5, "%": undefined, "^": undefined };
const BINOPS = new Set(Object.keys(PREC));
const NEG_PREC = 6;
const RELOPS = new Set([">", ">=", "=", "<=", "<", "!="]);

/** Deeper nesting (parentheses, brackets, `not`) is refused: no real filter comes close. */
export const MAX_DEPTH = 100;
/** Longer expressions are refused. */
export const MAX_TOKENS = 2000;

class Fail {
  constructor(
    readonly tok: Token,
    readonly message: string,
  ) {}
}

export class Parser {
  private i = 0;
  /** The furthest failure: the error reported when every alternative failed. */
  private worst: Fail | undefined;
  private readonly t: Token[];

  constructor(text: string) {
    this.t = tokenize(text);
    if (this.t.length > MAX_TOKENS) {
      const tok = this.t[MAX_TOKENS]!;
      throw new FilterError(`expression too long (more than ${MAX_TOKENS} tokens)`, tok.pos, tok.raw);
    }
    // The parser recurses once per open parenthesis or bracket and per prefix `not`/`-`.
    let open = 0;
    let prefixes = 0;
    for (const tok of this.t) {
      const op = tok.kind === "op" ? tok.text : "";
      if (op === "(" || op === "[") open++;
      else if (op === "not" || op === "-") prefixes++;
      else if (op === ")" || op === "]") (open = Math.max(0, open - 1)), (prefixes = 0);
      else prefixes = 0;
      if (open + prefixes > MAX_DEPTH) throw new FilterError(`expression nested too deeply (more than ${MAX_DEPTH} levels)`, tok.pos, tok.raw);
    }
  }


  parse(): Node {
    try {
      if (this.peek().kind === "end") return { k: "true" };
      const { node } = this.expr(QERR);
      if (this.peek().kind !== "end") this.fail(this.peek(), "syntax error");
      return node;
    } catch (e) {
      if (e instanceof Fail) {
        const f = this.worst && this.worst.tok.pos > e.tok.pos ? this.worst : e;
        throw new FilterError(f.message, f.tok.pos, f.tok.raw);
      }
      throw e;
    }
  }

  // ---------------------------------------------------------------- helpers

  private peek(n = 0): Token {
    return this.t[Math.min(this.i + n, this.t.length - 1)]!;
  }

  private next(): Token {
    const tok = this.peek();
    if (tok.kind !== "end") this.i++;
    return tok;
  }

  private is(tok: Token, kind: Token["kind"], text?: string): boolean {
    return tok.kind === kind && (text === undefined || tok.text === text);
  }

  private isOp(text: string, n = 0): boolean {
    return this.is(this.peek(n), "op", text);
  }

  private fail(tok: Token, message: string): never {
    const f = new Fail(tok, message);
    if (!this.worst || tok.pos >= this.worst.tok.pos) this.worst = f;
    throw f;
  }

  private expectOp(text: string): Token {
    if (!this.isOp(text)) this.fail(this.peek(), this.peek().kind === "end" ? `syntax error: '${text}' expected` : "syntax error");
    return this.next();
  }

  /** Tries alternatives in order from the same token; the first that parses wins. */
  private attempt<T>(...alts: (() => T)[]): T {
    const start = this.i;
    let last: Fail | undefined;
    for (const alt of alts) {
      try {
        return alt();
      } catch (e) {
        if (!(e instanceof Fail)) throw e;
        last = e;
        this.i = start;
      }
    }
    throw last!;
  }

  // ---------------------------------------------------------------- boolean level

  private expr(outer: Qual): { node: Node; q: Qual } {
    let { node, q } = this.term(outer);
    while (this.isOp("and") || this.isOp("or")) {
      const op = this.next().text as "and" | "or";
      const qBefore = q;
      const right = this.attempt(
        () => {
          const id = this.id(qBefore);
          const f = this.peek();
          if (!(f.kind === "end" || this.isOp("and") || this.isOp("or") || this.isOp(")"))) this.fail(f, "syntax error");
          return { node: id, q: qBefore };
        },
        () => this.term(qBefore),
      );
      node = { k: op, a: node, b: right.node };
      q = right.q;
    }
    return { node, q };
  }

  private term(outer: Qual): { node: Node; q: Qual } {
    const tok = this.peek();
    if (this.isOp("not")) {
      this.next();
      const inner = this.term(outer);
      return { node: { k: "not", a: inner.node }, q: inner.q };
    }
    if (this.isOp("(")) {
      return this.attempt(
        () => ({ node: this.relation(), q: QERR }),
        () => {
          this.next();
          const inner = this.expr(outer);
          this.expectOp(")");
          return { node: inner.node, q: outer };
        },
      );
    }
    if (tok.kind === "num" || this.isOp("-") || this.is(tok, "kw", "len")) return { node: this.relation(), q: QERR };
    if (tok.kind !== "kw") return this.fail(tok, "syntax error");
    const kw = tok.text;
    if (UNSUPPORTED.has(kw)) throw new FilterError(`'${tok.raw}' is not supported by mlvpn's filters`, tok.pos, tok.raw);
    if (kw === "less" || kw === "greater") {
      this.next();
      const n = this.peek();
      if (n.kind !== "num") this.fail(n, "syntax error: a number must follow");
      this.next();
      return { node: { k: kw, n: n.value, tok }, q: QERR };
    }
    if (kw === "byte") return { node: this.byteop(), q: QERR };
    if (kw === "broadcast" || kw === "multicast") {
      this.next();
      return { node: { k: "cast", proto: "default", what: kw, tok }, q: QERR };
    }
    let proto = "default";
    if (PNAMES.has(kw)) {
      if (this.isOp("[", 1)) return { node: this.relation(), q: QERR };
      const after = this.peek(1);
      if (after.kind === "kw" && (after.text === "broadcast" || after.text === "multicast")) {
        this.next();
        this.next();
        return { node: { k: "cast", proto: kw, what: after.text as "broadcast" | "multicast", tok }, q: QERR };
      }
      const startsHead = after.kind === "kw" && (DQUALS.has(after.text) || AQUALS.has(after.text) || ["proto", "protochain", "gateway"].includes(after.text));
      if (!startsHead) {
        this.next();
        return { node: { k: "abbrev", proto: kw, tok }, q: QERR };
      }
      proto = kw;
      this.next();
    }
    const q = this.head(proto);
    return { node: this.id(q), q };
  }

  private head(proto: string): Qual {
    const tok = this.peek();
    if (tok.kind === "kw" && ["proto", "protochain", "gateway"].includes(tok.text)) {
      this.next();
      return { proto, dir: "default", addr: tok.text, set: true };
    }
    let dir = "default";
    if (tok.kind === "kw" && DQUALS.has(tok.text)) {
      this.next();
      dir = tok.text;
      if ((dir === "src" || dir === "dst") && (this.isOp("and") || this.isOp("or"))) {
        const other = this.peek(1);
        if (other.kind === "kw" && other.text === (dir === "src" ? "dst" : "src")) {
          dir = this.next().text;
          this.next();
        }
      }
    }
    let addr = "default";
    const a = this.peek();
    if (a.kind === "kw" && AQUALS.has(a.text)) {
      this.next();
      addr = a.text;
    } else if (dir === "default") {
      this.fail(a, "syntax error");
    }
    return { proto, dir, addr, set: true };
  }

  private id(q: Qual): Node {
    const tok = this.peek();
    if (this.isOp("not")) {
      this.next();
      return { k: "not", a: this.id(q) };
    }
    if (this.isOp("(")) {
      return this.attempt(
        () => this.parenNumber(q),
        () => {
          this.next();
          let node: Node;
          let first: "nid" | "pnum";
          if (this.peek().kind === "num" || this.isOp("(")) {
            node = this.attempt(
              () => {
                first = "pnum";
                return this.numberId(q);
              },
              () => {
                first = "nid";
                return this.id(q);
              },
            );
          } else {
            first = "nid";
            node = this.nid(q);
          }
          let joined = false;
          while (this.isOp("and") || this.isOp("or")) {
            const op = this.next().text as "and" | "or";
            node = { k: op, a: node, b: this.id(q) };
            joined = true;
          }
          if (first! === "pnum" && !joined) this.fail(this.peek(), "syntax error");
          this.expectOp(")");
          return node;
        },
      );
    }
    if (tok.kind === "num") return this.numberId(q);
    return this.nid(q);
  }

  /** `( ( 80 ) )`: a parenthesized number is a number. */
  private parenNumber(q: Qual): Node {
    this.expectOp("(");
    const inner = this.isOp("(") ? this.parenNumber(q) : this.numberId(q);
    this.expectOp(")");
    return inner;
  }

  private numberId(q: Qual): Node {
    const tok = this.peek();
    if (tok.kind !== "num") this.fail(tok, "syntax error");
    this.next();
    return { k: "id", q, value: tok };
  }

  private nid(q: Qual): Node {
    const tok = this.peek();
    if (this.isOp("not")) {
      this.next();
      return { k: "not", a: this.id(q) };
    }
    switch (tok.kind) {
      case "id":
      case "eid":
      case "aid":
        this.next();
        return { k: "id", q, value: tok };
      case "hid":
      case "hid6": {
        this.next();
        if (this.isOp("/")) {
          this.next();
          const len = this.peek();
          if (len.kind !== "num") this.fail(len, "syntax error: a prefix length must follow '/'");
          this.next();
          return { k: "id", q, value: tok, prefix: len };
        }
        if (tok.kind === "hid" && this.is(this.peek(), "kw", "mask")) {
          this.next();
          const mask = this.peek();
          if (mask.kind !== "hid") this.fail(mask, "syntax error: a dotted netmask must follow 'mask'");
          this.next();
          return { k: "id", q, value: tok, mask };
        }
        return { k: "id", q, value: tok };
      }
      default:
        return this.fail(tok, "syntax error");
    }
  }

  private byteop(): Node {
    const tok = this.next();
    const idx = this.peek();
    if (idx.kind !== "num") this.fail(idx, "syntax error: a byte offset must follow 'byte'");
    this.next();
    const op = this.peek();
    if (!(op.kind === "op" && ["&", "|", "<", ">", "="].includes(op.text))) this.fail(op, "syntax error: one of & | < > = must follow");
    this.next();
    const val = this.peek();
    if (val.kind !== "num") this.fail(val, "syntax error: a number must follow");
    this.next();
    return { k: "byte", idx: idx.value, op: op.text, val: val.value, tok };
  }

  // ---------------------------------------------------------------- arithmetic

  private relation(): Node {
    const a = this.arith();
    const op = this.peek();
    if (!(op.kind === "op" && RELOPS.has(op.text))) this.fail(op, "syntax error: a comparison (=, !=, <, <=, >, >=) was expected");
    this.next();
    const b = this.arith();
    return { k: "rel", op: op.text, a, b, tok: op };
  }

  /** Shift-reduce over operators, resolving as libpcap's bison grammar does. */
  private arith(): Arith {
    const values: Arith[] = [];
    const ops: Token[] = [];
    const prec = (t: Token) => (t.text === "neg" ? NEG_PREC : PREC[t.text]);
    const reduce = () => {
      const op = ops.pop()!;
      if (op.text === "neg") {
        values.push({ k: "neg", a: values.pop()!, tok: op });
        return;
      }
      const b = values.pop()!;
      const a = values.pop()!;
      values.push({ k: "bin", op: op.text, a, b, tok: op });
    };
    for (;;) {
      while (this.isOp("-")) ops.push({ ...this.next(), text: "neg" });
      values.push(this.atom());
      const op = this.peek();
      if (!(op.kind === "op" && BINOPS.has(op.text))) break;
      for (;;) {
        const top = ops[ops.length - 1];
        if (!top) break;
        const pt = prec(top);
        const po = PREC[op.text];
        if (pt === undefined || po === undefined || pt < po) break;
        reduce();
      }
      ops.push(this.next());
    }
    while (ops.length > 0) reduce();
    return values[0]!;
  }

  private atom(): Arith {
    const tok = this.peek();
    if (tok.kind === "num") {
      this.next();
      return { k: "num", v: tok.value, tok };
    }
    if (this.is(tok, "kw", "len")) {
      this.next();
      return { k: "len", tok };
    }
    if (this.isOp("(")) {
      this.next();
      const inner = this.arith();
      this.expectOp(")");
      return inner;
    }
    if (tok.kind === "kw" && PNAMES.has(tok.text) && this.isOp("[", 1)) {
      this.next();
      this.next();
      const idx = this.arith();
      let size = 1;
      let sizeTok: Token | undefined;
      if (this.isOp(":")) {
        this.next();
        sizeTok = this.peek();
        if (sizeTok.kind !== "num") this.fail(sizeTok, "syntax error: a size (1, 2 or 4) must follow ':'");
        this.next();
        size = sizeTok.value;
      }
      this.expectOp("]");
      return { k: "load", proto: tok.text, idx, size, tok, sizeTok };
    }
    return this.fail(tok, "syntax error");
  }
}

export function parseFilter(text: string): Node {
  return new Parser(text).parse();
}

// ---------------------------------------------------------------- printing

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
