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
import { type Node, QERR, type Qual } from "./ast.ts";
import { ArithParser, PNAMES } from "./arith.ts";
import { FilterError } from "./lexer.ts";

export { type Arith, formatFilter, type Node, type Qual } from "./ast.ts";
export { PNAMES } from "./arith.ts";
export { MAX_DEPTH, MAX_TOKENS } from "./token-stream.ts";

const DQUALS = new Set(["src", "dst", "addr1", "addr2", "addr3", "addr4", "ra", "ta"]);
const AQUALS = new Set(["host", "net", "port", "portrange"]);
/** Keywords of link types and protocols mlvpn has no use for: a clear error, not a syntax error. */
const UNSUPPORTED = new Set([
  "inbound", "outbound", "ifindex", "vlan", "mpls", "pppoed", "pppoes", "geneve", "lane", "llc", "metac", "bcc", "oam", "oamf4",
  "oamf4ec", "oamf4sc", "sc", "ilmic", "vpi", "vci", "connectmsg", "metaconnect", "ifname", "rset", "rnr", "srnr", "reason",
  "action", "fisu", "lssu", "msu", "hfisu", "hlssu", "hmsu", "sio", "opc", "dpc", "sls", "hsio", "hopc", "hdpc", "hsls", "type",
  "subtype", "dir",
]);

export class Parser extends ArithParser {
  parse(): Node {
    return this.reporting(() => {
      if (this.peek().kind === "end") return { k: "true" };
      const { node } = this.expr(QERR);
      if (this.peek().kind !== "end") this.fail(this.peek(), "syntax error");
      return node;
    });
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
}

export function parseFilter(text: string): Node {
  return new Parser(text).parse();
}
