/**
 * The filter compiler's qualified ids (src/filter/compile.ts): `host`, `net`, `port`,
 * `portrange`, `proto` with an address, a number or a name, for IPv4, IPv6 and Ethernet, with
 * libpcap's promotions and its error messages.
 */
import type { Node, Qual } from "./ast.ts";
import { and2, type Code, hex, or2, TRUE } from "./codegen.ts";
import { parseIpv6, type Token } from "./lexer.ts";
import { LinkLayerCompiler } from "./link-layer.ts";
import { ETHER_PROTOS, PROTO_NUMBERS, TUN_HINT } from "./protocols.ts";

export class AddressCompiler extends LinkLayerCompiler {
  protected id(n: Extract<Node, { k: "id" }>): Code {
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

  protected numberId(q: Qual, v: Token): Code {
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

  protected ipv4(tok: Token): { v: number; bits: number } {
    const parts = tok.raw.split(".");
    if (!parts.every((p) => /^[0-9]+$/.test(p) && Number(p) <= 255)) this.err(tok, `invalid IPv4 address ${tok.raw}`);
    let v = 0;
    for (const p of parts) v = ((v << 8) | Number(p)) >>> 0;
    return { v, bits: parts.length * 8 };
  }

  protected ipv4Id(q: Qual, tok: Token, prefix?: Token, maskTok?: Token): Code {
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
  protected hosts4(q: Qual, tok: Token, addr: number, mask: number): Code {
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

  protected ipv6Id(q: Qual, tok: Token, prefix?: Token): Code {
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

  protected macId(q: Qual, tok: Token): Code {
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

  protected nameId(q: Qual, tok: Token): Code {
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

  protected ports(q: Qual, tok: Token, lo: number, hi: number): Code {
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
