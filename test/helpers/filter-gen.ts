/** Random pcap-filter expressions (valid by construction, mostly) for differential and fuzz tests. */
import { SeededRandom } from "./random.ts";

const HOSTS4 = ["10.1.2.3", "192.168.1.20", "8.8.8.8", "10.9.8.7", "172.16.5.4", "224.0.0.251"];
const HOSTS6 = ["2001:db8::1", "2001:db8:0:1::2", "fe80::1", "fd00::5", "ff02::1"];
const NETS = ["10.0.0.0/8", "192.168.1.0/24", "172.16.0.0/12", "2001:db8::/32", "fe80::/10", "8.8.8.8/32", "10.1.2.0 mask 255.255.255.0"];
const PORTS = [22, 53, 80, 443, 5060, 8080, 1024, 0, 65535];
const PROTOS = ["ip", "ip6", "tcp", "udp", "icmp", "icmp6", "sctp", "igmp", "pim", "esp", "ah"];
const LOADS = ["ip[0]", "ip[8]", "ip[9]", "ip[2:2]", "ip[6:2]", "ip[12:4]", "ip6[6]", "ip6[4:2]", "ip6[40]", "tcp[13]", "tcp[0:2]", "tcp[2:2]", "tcp[12]", "udp[0:2]", "udp[2:2]", "udp[4:2]", "icmp[0]", "icmp[1]", "icmp6[0]", "len", "tcp[tcpflags]", "icmp[icmptype]"];
const ARITH = ["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"];
const RELOPS = ["=", "!=", "<", "<=", ">", ">="];

export class FilterGen {
  readonly r: SeededRandom;

  constructor(seed: number) {
    this.r = new SeededRandom(seed);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.r.next() % xs.length]!;
  }

  private chance(n: number): boolean {
    return this.r.next() % n === 0;
  }

  private dir(): string {
    return this.pick(["", "", "src ", "dst ", "src or dst ", "src and dst "]);
  }

  private num(): string {
    const n = this.pick([0, 1, 2, 4, 5, 6, 13, 17, 18, 22, 53, 64, 100, 255, 0x40, 0x45, 0xf0, 1500]);
    return this.chance(4) ? `0x${n.toString(16)}` : String(n);
  }

  arith(depth = 0): string {
    if (depth > 1 || this.chance(2)) return this.chance(2) ? this.pick(LOADS) : this.num();
    const op = this.pick(ARITH);
    const right = op === "/" || op === "%" ? String(1 + (this.r.next() % 7)) : op === "<<" || op === ">>" ? String(this.r.next() % 8) : this.arith(depth + 1);
    const e = `${this.arith(depth + 1)} ${op} ${right}`;
    return this.chance(2) ? `(${e})` : e;
  }

  primitive(): string {
    switch (this.r.next() % 9) {
      case 0:
        return this.pick(PROTOS);
      case 1:
        return `${this.pick(["", "ip "])}${this.dir()}host ${this.pick(HOSTS4)}`;
      case 2:
        return `${this.pick(["", "ip6 "])}${this.dir()}host ${this.pick(HOSTS6)}`;
      case 3:
        return `${this.dir()}net ${this.pick(NETS)}`;
      case 4:
        return `${this.pick(["", "tcp ", "udp ", "sctp "])}${this.dir()}port ${this.pick(PORTS)}`;
      case 5: {
        const a = this.pick(PORTS);
        const b = this.pick(PORTS);
        return `${this.pick(["", "tcp ", "udp "])}${this.dir()}portrange ${a}-${b}`;
      }
      case 6:
        return `${this.pick(["less", "greater"])} ${this.pick([0, 20, 40, 60, 100, 300, 1500])}`;
      case 7:
        return `${this.pick(["", "ip ", "ip6 "])}proto ${this.pick([1, 6, 17, 58, 132, 44, 0])}`;
      default:
        return `${this.arith()} ${this.pick(RELOPS)} ${this.arith()}`;
    }
  }

  /** An expression; ids after and/or sometimes rely on the implicit qualifiers. */
  expr(depth = 0): string {
    let e = this.term(depth);
    const n = this.r.next() % 3;
    for (let i = 0; i < n; i++) {
      const op = this.pick(["and", "or", "&&", "||"]);
      if (/(host|port) [^\s()]+$/.test(e) && this.chance(3)) {
        const last = e.split(" ").pop()!;
        const implicit = last.includes(":") ? this.pick(HOSTS6) : last.includes(".") ? this.pick(HOSTS4) : String(this.pick(PORTS));
        e = `${e} ${op} ${this.chance(4) ? "not " : ""}${implicit}`;
      } else {
        e = `${e} ${op} ${this.term(depth)}`;
      }
    }
    return e;
  }

  private term(depth: number): string {
    if (depth < 2 && this.chance(4)) return `(${this.expr(depth + 1)})`;
    return `${this.chance(5) ? this.pick(["not ", "!"]) : ""}${this.primitive()}`;
  }
}

/** Every word and operator the language knows, plus junk: material for token soups. */
export const VOCABULARY = [
  "ip", "ip6", "tcp", "udp", "icmp", "icmp6", "host", "net", "port", "portrange", "src", "dst", "and", "or", "not", "&&", "||", "!",
  "(", ")", "[", "]", ":", "=", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "len", "less",
  "greater", "proto", "mask", "ether", "link", "arp", "vlan", "byte", "broadcast", "multicast", "tcpflags", "tcp-syn", "icmptype",
  "1.2.3.4", "10.0.0.0/8", "::1", "fe80::/10", "aa:bb:cc:dd:ee:ff", "0", "1", "22", "0x10", "077", "09", "99999999999", "1-2",
  "foo", "\\tcp", "$1", "protochain", "gateway", "type", "inbound", "ra", "\u00e9", "\"", "'", ",", ";", "#", "{", "}", "\t", "",
];
