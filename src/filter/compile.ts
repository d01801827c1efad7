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
 */
import { FilterError, parseIpv6, type Token } from "./lexer.ts";
import type { Arith, Node, Qual } from "./parser.ts";

export type LinkType = "raw" | "ether" | "sll" | "sll2";

/** (packet, captured length, length on the wire) → match. */
export type Pred = (p: Uint8Array, cap: number, wire: number) => boolean;

/** Generated JavaScript: a boolean expression (tests) or a number expression (values) over p, c, w. */
export type Code = string;

interface Value {
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
const SHL = (a: number, b: number): number => (b > 31 ? 0 : (a << b) >>> 0);
const SHR = (a: number, b: number): number => (b > 31 ? 0 : a >>> b);

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

function generate(code: Code, temps: number): Pred {
  const make = new Function("S", `"use strict"; return function match(p, c, w) { let ${locals(temps)}; const r = ${code}; S.f = f; return r && !f; };`);
  return make(lastMatch) as Pred;
}

const and2 = (a: Code, b: Code): Code => `(${a} && ${b})`;
const or2 = (a: Code, b: Code): Code => `(${a} || ${b})`;
const TRUE: Code = "true";
const FALSE: Code = "false";
const hex = (n: number): string => `0x${n.toString(16)}`;

const PROTO_NUMBERS = new Map<string, number>([
  ["ip", 0], ["hopopt", 0], ["icmp", 1], ["igmp", 2], ["ggp", 3], ["ipencap", 4], ["st", 5], ["tcp", 6], ["egp", 8], ["igp", 9],
  ["pup", 12], ["udp", 17], ["hmp", 20], ["xns-idp", 22], ["rdp", 27], ["iso-tp4", 29], ["dccp", 33], ["xtp", 36], ["ddp", 37],
  ["idpr-cmtp", 38], ["ipv6", 41], ["ipv6-route", 43], ["ipv6-frag", 44], ["idrp", 45], ["rsvp", 46], ["gre", 47], ["esp", 50],
  ["ah", 51], ["skip", 57], ["ipv6-icmp", 58], ["icmp6", 58], ["ipv6-nonxt", 59], ["ipv6-opts", 60], ["rspf", 73], ["vmtp", 81],
  ["eigrp", 88], ["ospf", 89], ["ax.25", 93], ["ipip", 94], ["etherip", 97], ["encap", 98], ["pim", 103], ["ipcomp", 108],
  ["vrrp", 112], ["l2tp", 115], ["isis", 124], ["sctp", 132], ["fc", 133], ["mobility-header", 135], ["udplite", 136],
  ["mpls-in-ip", 137], ["manet", 138], ["hip", 139], ["shim6", 140], ["wesp", 141], ["rohc", 142], ["ethernet", 143],
]);
const ETHER_PROTOS = new Map<string, number>([["ip", 0x0800], ["ip6", 0x86dd], ["arp", 0x0806], ["rarp", 0x8035], ["loopback", 0x9000]]);

/** Transport protocols reached through the IPv4 header length (`tcp[…]`, `udp[…]`…). */
const TRANSPORT = new Map<string, number>([
  ["tcp", 6], ["udp", 17], ["icmp", 1], ["igmp", 2], ["igrp", 9], ["pim", 103], ["vrrp", 112], ["carp", 112], ["sctp", 132],
]);
/** How a protocol name alone reads: IP protocol number and which IP versions it covers. */
const ABBREV_PROTO = new Map<string, { v: number; on: "default" | "ip" | "ip6" }>([
  ["tcp", { v: 6, on: "default" }], ["udp", { v: 17, on: "default" }], ["sctp", { v: 132, on: "default" }],
  ["icmp", { v: 1, on: "ip" }], ["icmp6", { v: 58, on: "ip6" }], ["igmp", { v: 2, on: "ip" }], ["igrp", { v: 9, on: "ip" }],
  ["pim", { v: 103, on: "default" }], ["vrrp", { v: 112, on: "ip" }], ["carp", { v: 112, on: "ip" }],
  ["ah", { v: 51, on: "default" }], ["esp", { v: 50, on: "default" }],
]);

const TUN_HINT = "no link-layer header in tun mode (raw IP packets)";

export class Compiler {
  /** Offset of the network-layer header. */
  private readonly nl: number;
  /** Offset of the EtherType (or cooked protocol) field; -1 for raw IP. */
  private readonly typeOff: number;

  constructor(private readonly linktype: LinkType) {
    this.nl = { raw: 0, ether: 14, sll: 16, sll2: 20 }[linktype];
    this.typeOff = { raw: -1, ether: 12, sll: 14, sll2: 0 }[linktype];
  }

  compile(n: Node, source: string): Pred {
    return generate(this.code(n, source), this.temps);
  }

  /** Temporaries t0…tN the generated code uses so far. */
  temps = 0;

  private tmp(): string {
    return `t${this.temps++}`;
  }

  /** A big-endian load of 1, 2 or 4 bytes at `off` from the packet's start; past the captured bytes: 0 and `f` set. */
  private ld(size: number, off: Code | number): Code {
    const bytes = (o: string) =>
      size === 1 ? `p[${o}]` : size === 2 ? `(p[${o}] << 8 | p[${o} + 1])` : `((p[${o}] << 24 | p[${o} + 1] << 16 | p[${o} + 2] << 8 | p[${o} + 3]) >>> 0)`;
    if (typeof off === "number") return `(c >= ${off + size} ? ${bytes(String(off))} : (f = true, 0))`;
    const t = this.tmp();
    return `((${t} = ${off}) + ${size} <= c ? ${bytes(t)} : (f = true, 0))`;
  }

  /** The generated test for one expression (see generateList). */
  code(n: Node, source: string): Code {
    const { pred, konst } = this.node(n);
    if (konst === false) throw new FilterError("expression rejects all packets", 0, source.trim());
    return pred;
  }

  private err(tok: Token, message: string): never {
    throw new FilterError(message, tok.pos, tok.raw);
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

  // ---------------------------------------------------------------- link and network layer

  private etherType(v: number, tok: Token): Code {
    if (this.linktype === "raw") this.err(tok, `ether proto: ${TUN_HINT}; use ip or ip6`);
    if (v <= 1500 || v === 0x8137 || v === 0x809b || v === 0x80f3) this.err(tok, `ether proto ${v}: 802.2 LLC protocols are not supported by mlvpn's filters`);
    return `(${this.ld(2, this.typeOff)} === ${hex(v)})`;
  }

  private isIp(): Code {
    if (this.linktype === "raw") return `((${this.ld(1, 0)} & 0xf0) === 0x40)`;
    return `(${this.ld(2, this.typeOff)} === 0x800)`;
  }

  private isIp6(): Code {
    if (this.linktype === "raw") return `((${this.ld(1, 0)} & 0xf0) === 0x60)`;
    return `(${this.ld(2, this.typeOff)} === 0x86dd)`;
  }

  private isArp(proto: "arp" | "rarp", tok: Token): Code {
    if (this.linktype === "raw") this.err(tok, `${proto}: ${TUN_HINT}, so there is no ${proto.toUpperCase()}`);
    return `(${this.ld(2, this.typeOff)} === ${proto === "arp" ? "0x806" : "0x8035"})`;
  }

  private ipProto(v: number): Code {
    return and2(this.isIp(), `(${this.ld(1, this.nl + 9)} === ${v})`);
  }

  /** libpcap also accepts the protocol after an IPv6 fragment header (next header 44). */
  private ip6Proto(v: number): Code {
    const t = this.tmp();
    return and2(this.isIp6(), `((${t} = ${this.ld(1, this.nl + 6)}) === ${v} || (${t} === 44 && ${this.ld(1, this.nl + 40)} === ${v}))`);
  }

  private proto(v: number, on: string, tok: Token): Code {
    switch (on) {
      case "default":
        return or2(this.ipProto(v), this.ip6Proto(v));
      case "ip":
        return this.ipProto(v);
      case "ip6":
        return this.ip6Proto(v);
      case "link":
        return this.etherType(v, tok);
      default:
        return this.err(tok, `'${on} proto' is not a valid combination`);
    }
  }

  private abbrev(proto: string, tok: Token): Code {
    if (proto === "ip") return this.isIp();
    if (proto === "ip6") return this.isIp6();
    if (proto === "arp" || proto === "rarp") return this.isArp(proto, tok);
    if (proto === "link") return this.err(tok, `'${tok.raw}' alone is not a filter: write e.g. ether host, ether proto or ether[0]`);
    const a = ABBREV_PROTO.get(proto);
    if (!a) return this.err(tok, `'${tok.raw}' is not supported by mlvpn's filters`);
    return this.proto(a.v, a.on, tok);
  }

  private notFragment(): Code {
    return `((${this.ld(2, this.nl + 6)} & 0x1fff) === 0)`;
  }

  private cast(proto: string, what: "broadcast" | "multicast", tok: Token): Code {
    if (proto === "ip") {
      const dst = this.nl + 16;
      if (what === "multicast") return and2(this.isIp(), `(${this.ld(1, dst)} >= 224)`);
      // tcpdump reading a file knows no netmask: broadcast is 0.0.0.0 or 255.255.255.255.
      return and2(this.isIp(), `(${this.ld(4, dst)} === 0 || ${this.ld(4, dst)} === 0xffffffff)`);
    }
    if (proto === "ip6" && what === "multicast") return and2(this.isIp6(), `(${this.ld(1, this.nl + 24)} === 0xff)`);
    if (proto === "default" || proto === "link") {
      if (this.linktype !== "ether") this.err(tok, `link-layer ${what}: ${this.linktype === "raw" ? TUN_HINT : "only on Ethernet"}; use ip ${what}`);
      if (what === "multicast") return `((${this.ld(1, 0)} & 1) !== 0)`;
      return `(${this.ld(4, 2)} === 0xffffffff && ${this.ld(2, 0)} === 0xffff)`;
    }
    return this.err(tok, `'${proto} ${what}' is not supported`);
  }

  private byteop(idx: number, op: string, val: number): Code {
    const b = this.ld(1, idx);
    switch (op) {
      case "=":
        return `(${b} === ${val})`;
      case "<":
        return `(${b} < ${val})`;
      case ">":
        return `(${b} > ${val})`;
      default:
        return `((${b} ${op} ${val}) !== 0)`;
    }
  }

  // ---------------------------------------------------------------- arithmetic

  private relation(op: string, a: Value, b: Value): { pred: Code; konst?: boolean } {
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

  private arith(a: Arith): Value {
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

  private binary(op: string, x: Value, y: Value, tok: Token): Value {
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

  private load(a: Extract<Arith, { k: "load" }>): Value {
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

  // ---------------------------------------------------------------- qualified ids

  private id(n: Extract<Node, { k: "id" }>): Code {
    const { q, value: v } = n;
    if (!q.set) this.err(v, "nothing to qualify this value (write host, net, port… before it)");
    if (["addr1", "addr2", "addr3", "addr4", "ra", "ta"].includes(q.dir)) this.err(v, `'${q.dir}' is an 802.11 qualifier, not supported by mlvpn's filters`);
    if (q.addr === "gateway") this.err(v, "'gateway' needs host name lookups: not supported by mlvpn's filters");
    if (q.addr === "protochain") this.err(v, "'protochain' is not supported by mlvpn's filters");
    switch (v.kind) {
      case "num":
        return this.numberId(q, v);
      case "hid":
        return this.ipv4Id(q, v, n.prefix, n.mask);
      case "hid6":
        return this.ipv6Id(q, v, n.prefix);
      case "eid":
        return this.macId(q, v);
      case "aid":
        return this.err(v, "ARCnet addresses are not supported by mlvpn's filters");
      default:
        return this.nameId(q, v);
    }
  }

  private numberId(q: Qual, v: Token): Code {
    switch (q.addr) {
      case "port":
      case "portrange":
        if (v.value > 65535) this.err(v, `illegal port number ${v.value} > 65535`);
        return this.ports(q, v, v.value, v.value);
      case "proto":
        return this.proto(v.value, q.proto, v);
      default: {
        if (q.proto === "link") this.err(v, "illegal link layer address");
        // A bare number: `net 10` is 10.0.0.0/8, `host 10` is 0.0.0.10 (libpcap's promotion).
        let addr = v.value;
        let mask = 0xffffffff;
        if (q.addr === "net") {
          while (addr !== 0 && (addr & 0xff000000) === 0) {
            addr = (addr << 8) >>> 0;
            mask = (mask << 8) >>> 0;
          }
        }
        return this.hosts4(q, v, addr, mask);
      }
    }
  }

  private ipv4(tok: Token): { v: number; bits: number } {
    const parts = tok.raw.split(".");
    if (!parts.every((p) => /^[0-9]+$/.test(p) && Number(p) <= 255)) this.err(tok, `invalid IPv4 address ${tok.raw}`);
    let v = 0;
    for (const p of parts) v = ((v << 8) | Number(p)) >>> 0;
    return { v, bits: parts.length * 8 };
  }

  private ipv4Id(q: Qual, tok: Token, prefix?: Token, maskTok?: Token): Code {
    if (["port", "portrange", "proto"].includes(q.addr)) this.err(tok, `'${q.addr}' modifier applied to IP address`);
    if (q.proto === "link") this.err(tok, "illegal link layer address");
    const { v, bits } = this.ipv4(tok);
    let addr = bits === 32 ? v : (v << (32 - bits)) >>> 0;
    let mask = bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    if (prefix || maskTok) {
      if (q.addr !== "net") this.err(tok, "Mask syntax for networks only");
      if (prefix) {
        if (prefix.value > 32) this.err(prefix, "mask length must be <= 32");
        mask = prefix.value === 0 ? 0 : (0xffffffff << (32 - prefix.value)) >>> 0;
      } else {
        const m = this.ipv4(maskTok!);
        mask = m.bits === 32 ? m.v : (m.v << (32 - m.bits)) >>> 0;
      }
      if ((addr & ~mask) !== 0) this.err(tok, `non-network bits set in "${tok.raw}${prefix ? `/${prefix.raw}` : ` mask ${maskTok!.raw}`}"`);
      addr = (addr & mask) >>> 0;
    }
    return this.hosts4(q, tok, addr, mask);
  }

  /** IPv4 host/net: IP, and on a link with a header also ARP and RARP when no protocol is named. */
  private hosts4(q: Qual, tok: Token, addr: number, mask: number): Code {
    const check = (src: number, dst: number): Code => {
      // A zero mask compares nothing: libpcap's optimizer drops the load too.
      const one = (off: number): Code => (mask === 0 ? TRUE : mask === 0xffffffff ? `(${this.ld(4, off)} === ${hex(addr)})` : `(((${this.ld(4, off)} & ${hex(mask)}) >>> 0) === ${hex(addr)})`);
      switch (q.dir) {
        case "src":
          return one(src);
        case "dst":
          return one(dst);
        case "and":
          return and2(one(src), one(dst));
        default:
          return or2(one(src), one(dst));
      }
    };
    const nl = this.nl;
    const ip = and2(this.isIp(), check(nl + 12, nl + 16));
    switch (q.proto) {
      case "default":
        if (this.linktype === "raw") return ip;
        return or2(ip, or2(and2(this.isArp("arp", tok), check(nl + 14, nl + 24)), and2(this.isArp("rarp", tok), check(nl + 14, nl + 24))));
      case "ip":
        return ip;
      case "arp":
      case "rarp":
        return and2(this.isArp(q.proto, tok), check(nl + 14, nl + 24));
      case "ip6":
        return this.err(tok, "'ip6' modifier applied to ip host");
      default:
        return this.err(tok, `'${q.proto}' modifier applied to ${q.addr === "net" ? "net" : "host"}`);
    }
  }

  private ipv6Id(q: Qual, tok: Token, prefix?: Token): Code {
    if (["port", "portrange", "proto"].includes(q.addr)) this.err(tok, `'${q.addr}' modifier applied to IP address`);
    const bytes = parseIpv6(tok.raw);
    if (!bytes) return this.err(tok, `bogus IPv6 address ${tok.raw}`);
    const len = prefix ? prefix.value : 128;
    if (len > 128) this.err(prefix!, "mask length must be <= 128");
    if (q.addr !== "net" && len !== 128) this.err(tok, "Mask syntax for networks only");
    if (q.proto !== "default" && q.proto !== "ip6") this.err(tok, q.proto === "ip" ? "'ip' modifier applied to ip6 host" : `'${q.proto}' modifier applied to ${q.addr === "net" ? "net" : "host"}`);
    const words: { i: number; v: number; m: number }[] = [];
    for (let i = 0; i < 4; i++) {
      const bitsHere = Math.max(0, Math.min(32, len - 32 * i));
      const m = bitsHere === 0 ? 0 : (0xffffffff << (32 - bitsHere)) >>> 0;
      const v = ((bytes[4 * i]! << 24) | (bytes[4 * i + 1]! << 16) | (bytes[4 * i + 2]! << 8) | bytes[4 * i + 3]!) >>> 0;
      if ((v & ~m) !== 0) this.err(tok, `non-network bits set in "${tok.raw}/${prefix?.raw}"`);
      if (m !== 0) words.push({ i, v, m });
    }
    const one = (base: number): Code => (words.length === 0 ? TRUE : `(${words.map((w) => `((${this.ld(4, base + 4 * w.i)} & ${hex(w.m)}) >>> 0) === ${hex(w.v)}`).join(" && ")})`);
    const src = one(this.nl + 8);
    const dst = one(this.nl + 24);
    const check = q.dir === "src" ? src : q.dir === "dst" ? dst : q.dir === "and" ? and2(src, dst) : or2(src, dst);
    return and2(this.isIp6(), check);
  }

  private macId(q: Qual, tok: Token): Code {
    if (!(q.proto === "link" && (q.addr === "host" || q.addr === "default"))) this.err(tok, "ethernet address used in non-ether expression");
    if (this.linktype !== "ether") this.err(tok, `ether host: ${this.linktype === "raw" ? TUN_HINT : "only on Ethernet"}`);
    const digits = tok.raw.replace(/[^0-9A-Fa-f]/g, "");
    const groups = tok.raw.split(/[:.-]/);
    let bytes: number[];
    if (groups.length === 6) bytes = groups.map((g) => parseInt(g, 16));
    else bytes = Array.from({ length: 6 }, (_, i) => parseInt(digits.slice(2 * i, 2 * i + 2), 16));
    const hi = (bytes[0]! << 8) | bytes[1]!;
    const lo = ((bytes[2]! << 24) | (bytes[3]! << 16) | (bytes[4]! << 8) | bytes[5]!) >>> 0;
    const one = (off: number): Code => `(${this.ld(4, off + 2)} === ${hex(lo)} && ${this.ld(2, off)} === ${hex(hi)})`;
    const src = one(6);
    const dst = one(0);
    return q.dir === "src" ? src : q.dir === "dst" ? dst : q.dir === "and" ? and2(src, dst) : or2(src, dst);
  }

  private nameId(q: Qual, tok: Token): Code {
    const name = tok.text;
    switch (q.addr) {
      case "portrange": {
        const m = /^([0-9]+)-([0-9]+)$/.exec(name);
        if (!m) return this.err(tok, `port range ${JSON.stringify(name)}: write it as two numbers, e.g. 10000-20000 (service names are not supported)`);
        let lo = Number(m[1]);
        let hi = Number(m[2]);
        if (lo > 65535 || hi > 65535) this.err(tok, `illegal port number ${Math.max(lo, hi)} > 65535`);
        if (lo > hi) [lo, hi] = [hi, lo];
        return this.ports(q, tok, lo, hi);
      }
      case "port":
        return this.err(tok, `unknown port ${JSON.stringify(name)}: write the port number (service names are not supported)`);
      case "proto": {
        const v = q.proto === "link" ? ETHER_PROTOS.get(name) : PROTO_NUMBERS.get(name);
        if (v === undefined) return this.err(tok, `unknown ${q.proto === "link" ? "ether proto" : "ip proto"} ${JSON.stringify(name)}`);
        return this.proto(v, q.proto, tok);
      }
      default:
        return this.err(tok, `${JSON.stringify(name)} is not an address: host names are not supported (no name lookups in filters), write the address`);
    }
  }

  private ports(q: Qual, tok: Token, lo: number, hi: number): Code {
    const kind = q.addr;
    let protos: number[];
    switch (q.proto) {
      case "default":
        protos = [132, 6, 17];
        break;
      case "tcp":
        protos = [6];
        break;
      case "udp":
        protos = [17];
        break;
      case "sctp":
        protos = [132];
        break;
      default:
        return this.err(tok, `illegal qualifier of '${kind}'`);
    }
    const inRange = (v: Code): Code => {
      if (lo === hi) return `${v} === ${lo}`;
      const t = this.tmp();
      return `((${t} = ${v}) >= ${lo} && ${t} <= ${hi})`;
    };
    const dirCheck = (src: Code, dst: Code): Code => {
      switch (q.dir) {
        case "src":
          return `(${inRange(src)})`;
        case "dst":
          return `(${inRange(dst)})`;
        case "and":
          return `(${inRange(src)} && ${inRange(dst)})`;
        default:
          return `(${inRange(src)} || ${inRange(dst)})`;
      }
    };
    const nl = this.nl;
    const v6 = dirCheck(this.ld(2, nl + 40), this.ld(2, nl + 42));
    const th = `${nl} + ((${this.ld(1, nl)} & 0xf) << 2)`;
    const v4 = dirCheck(this.ld(2, th), this.ld(2, `${th} + 2`));
    const hasProto = (off: number): Code => {
      if (protos.length === 1) return `${this.ld(1, off)} === ${protos[0]}`;
      const t = this.tmp();
      return `((${t} = ${this.ld(1, off)}) === 132 || ${t} === 6 || ${t} === 17)`;
    };
    return `(${this.isIp6()} ? (${hasProto(nl + 6)}) && ${v6} : ${this.isIp()} && (${hasProto(nl + 9)}) && ${this.notFragment()} && ${v4})`;
  }
}
