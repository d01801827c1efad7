/**
 * The filter compiler's base (src/filter/compile.ts): loads from the packet, and the tests of
 * the link and network layers (EtherType, IP version, IP protocol, broadcast and multicast,
 * `byte`), per link type: raw IP (the tun), Ethernet (tap), Linux cooked captures.
 */
import { and2, type Code, hex, type LinkType, or2 } from "./codegen.ts";
import { FilterError, type Token } from "./lexer.ts";
import { ABBREV_PROTO, TUN_HINT } from "./protocols.ts";

export class LinkLayerCompiler {
  /** Offset of the network-layer header. */
  protected readonly nl: number;
  /** Offset of the EtherType (or cooked protocol) field; -1 for raw IP. */
  protected readonly typeOff: number;

  constructor(protected readonly linktype: LinkType) {
    this.nl = { raw: 0, ether: 14, sll: 16, sll2: 20 }[linktype];
    this.typeOff = { raw: -1, ether: 12, sll: 14, sll2: 0 }[linktype];
  }

  /** Temporaries t0…tN the generated code uses so far. */
  temps = 0;

  protected tmp(): string {
    return `t${this.temps++}`;
  }

  /** A big-endian load of 1, 2 or 4 bytes at `off` from the packet's start; past the captured bytes: 0 and `f` set. */
  protected ld(size: number, off: Code | number): Code {
    const bytes = (o: string) =>
      size === 1 ? `p[${o}]` : size === 2 ? `(p[${o}] << 8 | p[${o} + 1])` : `((p[${o}] << 24 | p[${o} + 1] << 16 | p[${o} + 2] << 8 | p[${o} + 3]) >>> 0)`;
    if (typeof off === "number") return `(c >= ${off + size} ? ${bytes(String(off))} : (f = true, 0))`;
    const t = this.tmp();
    return `((${t} = ${off}) + ${size} <= c ? ${bytes(t)} : (f = true, 0))`;
  }

  protected err(tok: Token, message: string): never {
    throw new FilterError(message, tok.pos, tok.raw);
  }

  protected etherType(v: number, tok: Token): Code {
    if (this.linktype === "raw") this.err(tok, `ether proto: ${TUN_HINT}; use ip or ip6`);
    if (v <= 1500 || v === 0x8137 || v === 0x809b || v === 0x80f3) this.err(tok, `ether proto ${v}: 802.2 LLC protocols are not supported by mlvpn's filters`);
    return `(${this.ld(2, this.typeOff)} === ${hex(v)})`;
  }

  protected isIp(): Code {
    if (this.linktype === "raw") return `((${this.ld(1, 0)} & 0xf0) === 0x40)`;
    return `(${this.ld(2, this.typeOff)} === 0x800)`;
  }

  protected isIp6(): Code {
    if (this.linktype === "raw") return `((${this.ld(1, 0)} & 0xf0) === 0x60)`;
    return `(${this.ld(2, this.typeOff)} === 0x86dd)`;
  }

  protected isArp(proto: "arp" | "rarp", tok: Token): Code {
    if (this.linktype === "raw") this.err(tok, `${proto}: ${TUN_HINT}, so there is no ${proto.toUpperCase()}`);
    return `(${this.ld(2, this.typeOff)} === ${proto === "arp" ? "0x806" : "0x8035"})`;
  }

  protected ipProto(v: number): Code {
    return and2(this.isIp(), `(${this.ld(1, this.nl + 9)} === ${v})`);
  }

  /** libpcap also accepts the protocol after an IPv6 fragment header (next header 44). */
  protected ip6Proto(v: number): Code {
    const t = this.tmp();
    return and2(this.isIp6(), `((${t} = ${this.ld(1, this.nl + 6)}) === ${v} || (${t} === 44 && ${this.ld(1, this.nl + 40)} === ${v}))`);
  }

  protected proto(v: number, on: string, tok: Token): Code {
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

  protected abbrev(proto: string, tok: Token): Code {
    if (proto === "ip") return this.isIp();
    if (proto === "ip6") return this.isIp6();
    if (proto === "arp" || proto === "rarp") return this.isArp(proto, tok);
    if (proto === "link") return this.err(tok, `'${tok.raw}' alone is not a filter: write e.g. ether host, ether proto or ether[0]`);
    const a = ABBREV_PROTO.get(proto);
    if (!a) return this.err(tok, `'${tok.raw}' is not supported by mlvpn's filters`);
    return this.proto(a.v, a.on, tok);
  }

  protected notFragment(): Code {
    return `((${this.ld(2, this.nl + 6)} & 0x1fff) === 0)`;
  }

  protected cast(proto: string, what: "broadcast" | "multicast", tok: Token): Code {
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

  protected byteop(idx: number, op: string, val: number): Code {
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
}
