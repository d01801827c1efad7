/**
 * The arithmetic level of the pcap-filter grammar (src/filter/parser.ts has the whole grammar):
 * comparisons `arith relop arith`, loads `proto[expr:size]`, `len`, and `byte N op V`, with
 * libpcap's operator precedences and its quirk for % and ^, which have none: whatever follows
 * them is their right operand (`1 + 2 % 3 * 4` is `1 + (2 % (3 * 4))`).
 */
import type { Arith, Node } from "./ast.ts";
import type { Token } from "./lexer.ts";
import { TokenStream } from "./token-stream.ts";

/** Protocol names the grammar accepts as a qualifier or on their own. */
export const PNAMES = new Set([
  "link", "ip", "arp", "rarp", "sctp", "tcp", "udp", "icmp", "igmp", "igrp", "pim", "vrrp", "carp", "atalk", "aarp", "decnet",
  "lat", "sca", "mopdl", "moprc", "ip6", "icmp6", "ah", "esp", "iso", "esis", "isis", "l1", "l2", "iih", "lsp", "snp", "psnp",
  "csnp", "clnp", "stp", "ipx", "netbeui", "radio",
]);

/** Binary operators' precedence; % and ^ have none in libpcap's grammar (always shifted). */
const PREC: Record<string, number | undefined> = { "|": 1, "&": 2, "<<": 3, ">>": 3, "+": 4, "-": 4, "*": 5, "/": 5, "%": undefined, "^": undefined };
const BINOPS = new Set(Object.keys(PREC));
const NEG_PREC = 6;
const RELOPS = new Set([">", ">=", "=", "<=", "<", "!="]);

export class ArithParser extends TokenStream {
  protected byteop(): Node {
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

  protected relation(): Node {
    const a = this.arith();
    const op = this.peek();
    if (!(op.kind === "op" && RELOPS.has(op.text))) this.fail(op, "syntax error: a comparison (=, !=, <, <=, >, >=) was expected");
    this.next();
    const b = this.arith();
    return { k: "rel", op: op.text, a, b, tok: op };
  }

  /** Shift-reduce over operators, resolving as libpcap's bison grammar does. */
  protected arith(): Arith {
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

  protected atom(): Arith {
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
