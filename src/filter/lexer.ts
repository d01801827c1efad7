/**
 * Tokens of the pcap-filter language, cut exactly as libpcap's scanner does (docs/filters.md):
 * the longest match wins and, on a tie, the earlier rule: keywords, operators, MAC addresses,
 * numbers, dotted IPv4, IPv6, the named constants (`tcp-syn`, `icmptype`…), then identifiers
 * (`[A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?`, so `1000-2000` or `len-1` are one identifier,
 * as in tcpdump) and `\name` escapes.
 */

export class FilterError extends Error {
  constructor(
    message: string,
    /** 0-based offset in the expression of the offending token. */
    readonly pos: number,
    /** The offending token as written ("" at the end of the expression). */
    readonly token: string,
  ) {
    super(message);
    this.name = "FilterError";
  }

  /** `message at column N ("token")`, columns 1-based. */
  describe(): string {
    const where = this.token === "" ? "at the end of the expression" : `at column ${this.pos + 1} (${JSON.stringify(this.token)})`;
    return `${this.message} ${where}`;
  }
}

export type TokenKind = "num" | "hid" | "hid6" | "eid" | "aid" | "id" | "kw" | "op" | "end";

export interface Token {
  kind: TokenKind;
  /** Keyword name, operator (`and`/`or`/`not` for `&&`/`||`/`!` too), or the text as written. */
  text: string;
  /** The value of a number or named constant. */
  value: number;
  pos: number;
  /** Source text of the token. */
  raw: string;
}

/** Every word libpcap's scanner treats as a keyword (supported or not: the parser decides). */
const KEYWORDS = new Map<string, string>([
  ["dst", "dst"], ["src", "src"],
  ["link", "link"], ["ether", "link"], ["ppp", "link"], ["slip", "link"], ["fddi", "link"], ["tr", "link"], ["wlan", "link"],
  ["arp", "arp"], ["rarp", "rarp"], ["ip", "ip"], ["sctp", "sctp"], ["tcp", "tcp"], ["udp", "udp"], ["icmp", "icmp"],
  ["igmp", "igmp"], ["igrp", "igrp"], ["pim", "pim"], ["vrrp", "vrrp"], ["carp", "carp"], ["radio", "radio"],
  ["ip6", "ip6"], ["icmp6", "icmp6"], ["ah", "ah"], ["esp", "esp"],
  ["atalk", "atalk"], ["aarp", "aarp"], ["decnet", "decnet"], ["lat", "lat"], ["sca", "sca"], ["moprc", "moprc"], ["mopdl", "mopdl"],
  ["iso", "iso"], ["esis", "esis"], ["es-is", "esis"], ["isis", "isis"], ["is-is", "isis"], ["l1", "l1"], ["l2", "l2"],
  ["iih", "iih"], ["lsp", "lsp"], ["snp", "snp"], ["csnp", "csnp"], ["psnp", "psnp"], ["clnp", "clnp"], ["stp", "stp"],
  ["ipx", "ipx"], ["netbeui", "netbeui"],
  ["host", "host"], ["net", "net"], ["mask", "mask"], ["port", "port"], ["portrange", "portrange"], ["proto", "proto"],
  ["protochain", "protochain"], ["gateway", "gateway"],
  ["type", "type"], ["subtype", "subtype"], ["direction", "dir"], ["dir", "dir"],
  ["address1", "addr1"], ["addr1", "addr1"], ["address2", "addr2"], ["addr2", "addr2"], ["address3", "addr3"], ["addr3", "addr3"],
  ["address4", "addr4"], ["addr4", "addr4"], ["ra", "ra"], ["ta", "ta"],
  ["less", "less"], ["greater", "greater"], ["byte", "byte"], ["broadcast", "broadcast"], ["multicast", "multicast"],
  ["and", "and"], ["&&", "and"], ["or", "or"], ["||", "or"], ["not", "not"],
  ["len", "len"], ["length", "len"], ["inbound", "inbound"], ["outbound", "outbound"], ["ifindex", "ifindex"],
  ["vlan", "vlan"], ["mpls", "mpls"], ["pppoed", "pppoed"], ["pppoes", "pppoes"], ["geneve", "geneve"],
  ["lane", "lane"], ["llc", "llc"], ["metac", "metac"], ["bcc", "bcc"], ["oam", "oam"], ["oamf4", "oamf4"],
  ["oamf4ec", "oamf4ec"], ["oamf4sc", "oamf4sc"], ["sc", "sc"], ["ilmic", "ilmic"], ["vpi", "vpi"], ["vci", "vci"],
  ["connectmsg", "connectmsg"], ["metaconnect", "metaconnect"],
  ["on", "ifname"], ["ifname", "ifname"], ["rset", "rset"], ["ruleset", "rset"], ["rnr", "rnr"], ["rulenum", "rnr"],
  ["srnr", "srnr"], ["subrulenum", "srnr"], ["reason", "reason"], ["action", "action"],
  ["fisu", "fisu"], ["lssu", "lssu"], ["lsu", "lssu"], ["msu", "msu"], ["hfisu", "hfisu"], ["hlssu", "hlssu"], ["hmsu", "hmsu"],
  ["sio", "sio"], ["opc", "opc"], ["dpc", "dpc"], ["sls", "sls"], ["hsio", "hsio"], ["hopc", "hopc"], ["hdpc", "hdpc"], ["hsls", "hsls"],
]);

/** Named constants, scanned as numbers (after the address rules, before identifiers). */
export const NAMED_NUMBERS = new Map<string, number>([
  ["icmptype", 0], ["icmpcode", 1], ["icmp-echoreply", 0], ["icmp-unreach", 3], ["icmp-sourcequench", 4], ["icmp-redirect", 5],
  ["icmp-echo", 8], ["icmp-routeradvert", 9], ["icmp-routersolicit", 10], ["icmp-timxceed", 11], ["icmp-paramprob", 12],
  ["icmp-tstamp", 13], ["icmp-tstampreply", 14], ["icmp-ireq", 15], ["icmp-ireqreply", 16], ["icmp-maskreq", 17], ["icmp-maskreply", 18],
  ["icmp6type", 0], ["icmp6code", 1], ["icmp6-destinationunreach", 1], ["icmp6-packettoobig", 2], ["icmp6-timeexceeded", 3],
  ["icmp6-parameterproblem", 4], ["icmp6-echo", 128], ["icmp6-echoreply", 129], ["icmp6-multicastlistenerquery", 130],
  ["icmp6-multicastlistenerreportv1", 131], ["icmp6-multicastlistenerdone", 132], ["icmp6-routersolicit", 133],
  ["icmp6-routeradvert", 134], ["icmp6-neighborsolicit", 135], ["icmp6-neighboradvert", 136], ["icmp6-redirect", 137],
  ["icmp6-routerrenum", 138], ["icmp6-nodeinformationquery", 139], ["icmp6-nodeinformationresponse", 140],
  ["icmp6-ineighbordiscoverysolicit", 141], ["icmp6-ineighbordiscoveryadvert", 142], ["icmp6-multicastlistenerreportv2", 143],
  ["icmp6-homeagentdiscoveryrequest", 144], ["icmp6-homeagentdiscoveryreply", 145], ["icmp6-mobileprefixsolicit", 146],
  ["icmp6-mobileprefixadvert", 147], ["icmp6-certpathsolicit", 148], ["icmp6-certpathadvert", 149],
  ["icmp6-multicastrouteradvert", 151], ["icmp6-multicastroutersolicit", 152], ["icmp6-multicastrouterterm", 153],
  ["tcpflags", 13], ["tcp-fin", 0x01], ["tcp-syn", 0x02], ["tcp-rst", 0x04], ["tcp-push", 0x08], ["tcp-ack", 0x10],
  ["tcp-urg", 0x20], ["tcp-ece", 0x40], ["tcp-cwr", 0x80],
]);

const OPERATORS2 = [">=", "<=", "!=", "==", "<<", ">>", "&&", "||"];
const OPERATORS1 = "+-*/%:[]!<>()&|^=";

const N = "(?:0[xX][0-9A-Fa-f]+|[0-9]+)";
const B = "[0-9A-Fa-f]{1,2}";
const B2 = "[0-9A-Fa-f]{4}";
const RE = {
  blank: /[ \r\n\t]+/y,
  aid: new RegExp(`\\$${B}`, "y"),
  num: new RegExp(N, "y"),
  v6chars: /[0-9A-Fa-f:.]+/y,
  bogusMac: new RegExp(`${B}:+(?:${B}:+)+`, "y"),
  id: /[A-Za-z0-9](?:[-_.A-Za-z0-9]*[.A-Za-z0-9])?/y,
  escaped: /\\[^ !()\n\t]+/y,
  word: /[-_.A-Za-z0-9&|]+/y,
};

// JS tries alternatives in order; flex takes the longest: these are tried one by one.
const MAC = [
  `${B}:${B}:${B}:${B}:${B}:${B}`,
  `${B}-${B}-${B}-${B}-${B}-${B}`,
  `${B}\\.${B}\\.${B}\\.${B}\\.${B}\\.${B}`,
  `${B2}\\.${B2}\\.${B2}`,
  `${B2}${B2}${B2}`,
].map((s) => new RegExp(s, "y"));
const HID = [`${N}\\.${N}\\.${N}\\.${N}`, `${N}\\.${N}\\.${N}`, `${N}\\.${N}`].map((s) => new RegExp(s, "y"));

function matchAt(re: RegExp, text: string, i: number): number {
  re.lastIndex = i;
  const m = re.exec(text);
  return m ? m[0].length : 0;
}

const longest = (res: RegExp[], text: string, i: number): number => Math.max(...res.map((re) => matchAt(re, text, i)));

/** A textual IPv6 address as libpcap's V6 patterns accept it. */
export function parseIpv6(s: string): Uint8Array | undefined {
  let head = s;
  let v4: number[] | undefined;
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    const parts = s.slice(lastColon + 1).split(".");
    if (parts.length !== 4 || parts.some((p) => !/^[0-9]{1,3}$/.test(p) || Number(p) > 255)) return undefined;
    v4 = parts.map(Number);
    head = s.slice(0, lastColon + 1);
    if (!head.endsWith("::")) head = head.slice(0, -1);
  }
  const double = head.indexOf("::");
  if (double >= 0 && head.indexOf("::", double + 1) >= 0) return undefined;
  const group = (g: string) => /^[0-9A-Fa-f]{1,4}$/.test(g);
  const want = v4 ? 6 : 8;
  let groups: string[];
  if (double >= 0) {
    const left = head.slice(0, double) === "" ? [] : head.slice(0, double).split(":");
    const right = head.slice(double + 2) === "" ? [] : head.slice(double + 2).split(":");
    if (![...left, ...right].every(group) || left.length + right.length > want - 1) return undefined;
    groups = [...left, ...Array<string>(want - left.length - right.length).fill("0"), ...right];
  } else {
    groups = head === "" ? [] : head.split(":");
    if (groups.length !== want || !groups.every(group)) return undefined;
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  if (v4) out.set(v4, 12);
  return out;
}

function ipv6Length(text: string, i: number): number {
  const n = matchAt(RE.v6chars, text, i);
  for (let len = n; len >= 2; len--) {
    const s = text.slice(i, i + len);
    if (s.includes(":") && parseIpv6(s)) return len;
  }
  return 0;
}

/** libpcap's number syntax: decimal, 0x hex, 0-prefixed octal; at most 32 bits. */
function numberValue(raw: string, pos: number): number {
  let v: number;
  if (/^0[xX]/.test(raw)) v = parseInt(raw.slice(2), 16);
  else if (raw.length > 1 && raw[0] === "0") {
    if (!/^[0-7]+$/.test(raw)) throw new FilterError(`number ${raw} contains non-octal digit`, pos, raw);
    v = parseInt(raw, 8);
  } else v = parseInt(raw, 10);
  if (!(v <= 0xffffffff)) throw new FilterError(`number ${raw} overflows 32 bits`, pos, raw);
  return v;
}

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const blank = matchAt(RE.blank, text, i);
    if (blank > 0) {
      i += blank;
      continue;
    }
    // Candidates in libpcap's rule order; the longest wins, the first on a tie.
    let bestLen = 0;
    let make: ((raw: string) => Token) | undefined;
    const offer = (len: number, f: (raw: string) => Token) => {
      if (len > bestLen) (bestLen = len), (make = f);
    };
    const pos = i;
    const tok = (kind: TokenKind, textOf: string, raw: string, value = 0): Token => ({ kind, text: textOf, value, pos, raw });

    const wordLen = matchAt(RE.word, text, i);
    for (let len = wordLen; len > 0; len--) {
      const w = text.slice(i, i + len);
      const kw = KEYWORDS.get(w);
      if (kw) {
        offer(len, (raw) => (kw === "and" || kw === "or" || kw === "not" ? tok("op", kw, raw) : tok("kw", kw, raw)));
        break;
      }
    }
    for (const op of OPERATORS2) {
      if (text.startsWith(op, i)) offer(2, (raw) => tok("op", op === "==" ? "=" : op === "&&" ? "and" : op === "||" ? "or" : op, raw));
    }
    if (OPERATORS1.includes(text[i]!)) offer(1, (raw) => tok("op", raw === "!" ? "not" : raw, raw));
    offer(matchAt(RE.aid, text, i), (raw) => tok("aid", raw, raw));
    offer(longest(MAC, text, i), (raw) => tok("eid", raw, raw));
    offer(matchAt(RE.num, text, i), (raw) => tok("num", raw, raw, numberValue(raw, pos)));
    offer(longest(HID, text, i), (raw) => tok("hid", raw, raw));
    offer(ipv6Length(text, i), (raw) => tok("hid6", raw, raw));
    const bogus = matchAt(RE.bogusMac, text, i);
    offer(bogus, (raw) => {
      throw new FilterError(`bogus ethernet address ${raw}`, pos, raw);
    });
    for (let len = wordLen; len > 0; len--) {
      const named = NAMED_NUMBERS.get(text.slice(i, i + len));
      if (named !== undefined) {
        offer(len, (raw) => tok("num", raw, raw, named));
        break;
      }
    }
    offer(matchAt(RE.id, text, i), (raw) => tok("id", raw, raw));
    offer(matchAt(RE.escaped, text, i), (raw) => tok("id", raw.slice(1), raw));
    if (!make) {
      const ch = String.fromCodePoint(text.codePointAt(i)!);
      throw new FilterError("unexpected character", i, ch);
    }
    tokens.push(make(text.slice(i, i + bestLen)));
    i += bestLen;
  }
  tokens.push({ kind: "end", text: "", value: 0, pos: text.length, raw: "" });
  return tokens;
}
