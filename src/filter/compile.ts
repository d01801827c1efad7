/**
 * Compiles a parsed pcap-filter expression into a matcher: JavaScript generated once per
 * expression (straight-line code over the packet's bytes, only numbers from the parsed
 * expression in it), then run per packet without allocating. The meaning of each primitive is
 * the code libpcap 1.10 generates for it (docs/filters.md), including its corner cases:
 *   - a load beyond the captured bytes rejects the packet, whatever the rest of the expression;
 *   - `tcp`, `udp`, `proto N` on IPv6 look at the fixed header's next header, or at the one
 *     after a fragment header; `port` and `tcp[…]` only at the fixed header (no extension walk);
 *   - `port`, `portrange` and `tcp[…]`/`udp[…]`/`icmp[…]` need an IPv4 first fragment (offset 0);
 *     `tcp[…]` never matches IPv6;
 *   - in `a OP b` only the left operand's protocol check is kept (libpcap drops the right one:
 *     `0 - tcp[0] = 0` reads a UDP packet as TCP), while `a = b` checks both.
 * Link types: raw IP (the tun), Ethernet (tap), Linux cooked captures (for pcap files).
 *
 * One concern per file, each class extending the one before: link-layer.ts (loads, link and
 * network layer tests), addresses.ts (host, net, port, proto ids), this file (the boolean
 * structure and the arithmetic); codegen.ts turns the generated code into functions.
 */
import { AddressCompiler } from "./addresses.ts";
import type { Arith, Node } from "./ast.ts";
import { and2, type Code, FALSE, generate, or2, type Pred, SHL, SHR, TRUE, type Value } from "./codegen.ts";
import { FilterError, type Token } from "./lexer.ts";
import { TRANSPORT } from "./protocols.ts";

export class Compiler extends AddressCompiler {
  compile(n: Node, source: string): Pred {
    return generate(this.code(n, source), this.temps);
  }

  /** The generated test for one expression (see generateList). */
  code(n: Node, source: string): Code {
    const { pred, konst } = this.node(n);
    if (konst === false) throw new FilterError("expression rejects all packets", 0, source.trim());
    return pred;
  }

  private node(n: Node): { pred: Code; konst?: boolean } {
    switch (n.k) {
      case "true":
        return { pred: TRUE, konst: true };
      case "and":
      case "or": {
        const a = this.node(n.a);
        const b = this.node(n.b);
        if (n.k === "and") {
          if (a.konst === false || b.konst === false) return { pred: FALSE, konst: false };
          if (a.konst === true) return b;
          if (b.konst === true) return a;
          return { pred: and2(a.pred, b.pred) };
        }
        if (a.konst === true || b.konst === true) return { pred: TRUE, konst: true };
        if (a.konst === false) return b;
        if (b.konst === false) return a;
        return { pred: or2(a.pred, b.pred) };
      }
      case "not": {
        const a = this.node(n.a);
        if (a.konst !== undefined) return { pred: a.konst ? FALSE : TRUE, konst: !a.konst };
        return { pred: `!${a.pred}` };
      }
      case "rel":
        return this.relation(n.op, this.arith(n.a), this.arith(n.b));
      case "abbrev":
        return { pred: this.abbrev(n.proto, n.tok) };
      case "less":
        return { pred: `(w <= ${n.n})` };
      case "greater":
        return { pred: `(w >= ${n.n})` };
      case "cast":
        return { pred: this.cast(n.proto, n.what, n.tok) };
      case "byte":
        return { pred: this.byteop(n.idx, n.op, n.val) };
      case "id":
        return { pred: this.id(n) };
    }
  }

  // ---------------------------------------------------------------- arithmetic

  protected relation(op: string, a: Value, b: Value): { pred: Code; konst?: boolean } {
    const guard = a.guard && b.guard ? and2(a.guard, b.guard) : (a.guard ?? b.guard);
    if (a.konst !== undefined && b.konst !== undefined) {
      const x = a.konst;
      const y = b.konst;
      const k = op === ">" ? x > y : op === ">=" ? x >= y : op === "=" ? x === y : op === "<=" ? x <= y : op === "<" ? x < y : x !== y;
      // Folded like libpcap's optimizer: what remains is the protocol check, if any.
      if (!k) return { pred: FALSE, konst: false };
      return guard ? { pred: guard } : { pred: TRUE, konst: true };
    }
    const js = op === "=" ? "===" : op === "!=" ? "!==" : op;
    const test = `(${a.val} ${js} ${b.val})`;
    return { pred: guard ? and2(guard, test) : test };
  }

  protected arith(a: Arith): Value {
    switch (a.k) {
      case "num":
        return { val: String(a.v), konst: a.v };
      case "len":
        return { val: "w" };
      case "neg": {
        const x = this.arith(a.a);
        if (x.konst !== undefined) {
          const v = -x.konst >>> 0;
          return { val: String(v), konst: v, guard: x.guard };
        }
        return { guard: x.guard, val: `(-${x.val} >>> 0)` };
      }
      case "bin":
        return this.binary(a.op, this.arith(a.a), this.arith(a.b), a.tok);
      case "load":
        return this.load(a);
    }
  }

  protected binary(op: string, x: Value, y: Value, tok: Token): Value {
    if ((op === "/" || op === "%") && y.konst === 0) this.err(tok, op === "/" ? "division by zero" : "modulus by zero");
    if ((op === "<<" || op === ">>") && y.konst !== undefined && y.konst > 31) this.err(tok, "shift by more than 31 bits");
    // libpcap keeps only the left operand's protocol check (see the header comment).
    const guard = x.guard;
    if (x.konst !== undefined && y.konst !== undefined) {
      const a = x.konst;
      const b = y.konst;
      const folded: Record<string, () => number> = {
        "+": () => (a + b) >>> 0,
        "-": () => (a - b) >>> 0,
        "*": () => Math.imul(a, b) >>> 0,
        "/": () => Math.floor(a / b),
        "%": () => a % b,
        "&": () => (a & b) >>> 0,
        "|": () => (a | b) >>> 0,
        "^": () => (a ^ b) >>> 0,
        "<<": () => SHL(a, b),
        ">>": () => SHR(a, b),
      };
      const v = folded[op]!();
      return { val: String(v), konst: v, guard };
    }
    // libpcap's optimizer turns `x & 0` and `x * 0` into 0 and drops the load of x with it.
    if ((op === "&" || op === "*") && y.konst === 0) return { val: "0", konst: 0, guard };
    const a = x.val;
    const b = y.val;
    // Both operands are read before a division by zero or a long shift decides (BPF's order).
    const ta = this.tmp();
    const tb = this.tmp();
    const code: Record<string, Code> = {
      "+": `((${a} + ${b}) >>> 0)`,
      "-": `((${a} - ${b}) >>> 0)`,
      "*": `(Math.imul(${a}, ${b}) >>> 0)`,
      "/": `(${ta} = ${a}, (${tb} = ${b}) === 0 ? (f = true, 0) : Math.floor(${ta} / ${tb}))`,
      "%": `(${ta} = ${a}, (${tb} = ${b}) === 0 ? (f = true, 0) : ${ta} % ${tb})`,
      "&": `((${a} & ${b}) >>> 0)`,
      "|": `((${a} | ${b}) >>> 0)`,
      "^": `((${a} ^ ${b}) >>> 0)`,
      "<<": `(${ta} = ${a}, (${tb} = ${b}) > 31 ? 0 : (${ta} << ${tb}) >>> 0)`,
      ">>": `(${ta} = ${a}, (${tb} = ${b}) > 31 ? 0 : ${ta} >>> ${tb})`,
    };
    return { guard, val: code[op]! };
  }

  protected load(a: Extract<Arith, { k: "load" }>): Value {
    if (a.size !== 1 && a.size !== 2 && a.size !== 4) this.err(a.sizeTok ?? a.tok, "data size must be 1, 2, or 4");
    const idx = this.arith(a.idx);
    const i = idx.val;
    let guard: Code | undefined;
    let val: Code;
    const nl = this.nl;
    const proto = a.proto;
    const transport = TRANSPORT.get(proto);
    if (proto === "link") {
      val = this.ld(a.size, i);
    } else if (proto === "ip" || proto === "ip6" || proto === "arp" || proto === "rarp") {
      guard = proto === "ip" ? this.isIp() : proto === "ip6" ? this.isIp6() : this.isArp(proto, a.tok);
      val = this.ld(a.size, `${nl} + ${i}`);
    } else if (transport !== undefined) {
      guard = and2(this.isIp(), and2(`(${this.ld(1, nl + 9)} === ${transport})`, this.notFragment()));
      val = this.ld(a.size, `${nl} + ((((${this.ld(1, nl)} & 0xf) << 2) + ${i}) >>> 0)`);
    } else if (proto === "icmp6") {
      guard = and2(this.isIp6(), `(${this.ld(1, nl + 6)} === 58)`);
      val = this.ld(a.size, `${nl + 40} + ${i}`);
    } else {
      return this.err(a.tok, `'${a.tok.raw}[…]' is not supported by mlvpn's filters`);
    }
    if (idx.guard) guard = guard ? and2(idx.guard, guard) : idx.guard;
    return { guard, val };
  }
}
