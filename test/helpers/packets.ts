/**
 * Crafted packets for the filter tests: IPv4 (with options, fragments), IPv6 (with extension
 * and fragment headers), TCP/UDP/ICMP/ICMPv6/SCTP/GRE/IGMP, truncated captures, odd lengths, and
 * the same inside Ethernet frames with ARP. Checksums are left at zero: no filter reads them.
 */
import type { PcapRecord } from "../../src/filter/pcap.ts";
import { SeededRandom } from "./random.ts";

const v4 = (s: string): number[] => s.split(".").map(Number);
function v6(s: string): number[] {
  const [l, r] = s.includes("::") ? s.split("::") : [s, undefined];
  const left = l ? l.split(":") : [];
  const right = r ? r.split(":") : [];
  const groups = r === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}
const u16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];

export function tcp(sport: number, dport: number, flags: number, payload = 0, dataOffsetWords = 5): number[] {
  const opts = Array<number>((dataOffsetWords - 5) * 4).fill(1);
  return [...u16(sport), ...u16(dport), 0, 0, 0, 1, 0, 0, 0, 0, dataOffsetWords << 4, flags, ...u16(65535), 0, 0, 0, 0, ...opts, ...Array<number>(payload).fill(0x61)];
}
export function udp(sport: number, dport: number, payload = 0): number[] {
  return [...u16(sport), ...u16(dport), ...u16(8 + payload), 0, 0, ...Array<number>(payload).fill(0x62)];
}
export const icmp = (type: number, code: number, payload = 8): number[] => [type, code, 0, 0, 0, 1, 0, 1, ...Array<number>(payload).fill(0x63)];
export const sctp = (sport: number, dport: number): number[] => [...u16(sport), ...u16(dport), 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 4];

export interface Ip4Options {
  /** Fragment offset in 8-byte units. */
  fragOffset?: number;
  moreFragments?: boolean;
  dontFragment?: boolean;
  /** 32-bit words of IP options (IHL = 5 + this). */
  optionWords?: number;
  ttl?: number;
  tos?: number;
}

export function ipv4(src: string, dst: string, proto: number, payload: number[], o: Ip4Options = {}): number[] {
  const ihl = 5 + (o.optionWords ?? 0);
  const total = ihl * 4 + payload.length;
  const frag = ((o.dontFragment ? 0x4000 : 0) | (o.moreFragments ? 0x2000 : 0) | (o.fragOffset ?? 0)) & 0xffff;
  const options = Array<number>((o.optionWords ?? 0) * 4).fill(1);
  return [0x40 | ihl, o.tos ?? 0, ...u16(total), 0x12, 0x34, ...u16(frag), o.ttl ?? 64, proto, 0, 0, ...v4(src), ...v4(dst), ...options, ...payload];
}

/** `ext`: extension headers before the payload, as [nextHeaderNumberOfThisHeader, bytes…]. */
export function ipv6(src: string, dst: string, nextHeader: number, payload: number[], ext: { type: number; body: number[] }[] = []): number[] {
  let nh = nextHeader;
  let rest = payload;
  for (let i = ext.length - 1; i >= 0; i--) {
    const e = ext[i]!;
    rest = [nh, ...e.body.slice(1), ...rest];
    nh = e.type;
  }
  return [0x60, 0, 0, 0, ...u16(rest.length), nh, 64, ...v6(src), ...v6(dst), ...rest];
}

/** A fragment header (8 bytes): offset in 8-byte units. */
export const frag6 = (offset: number, more: boolean) => ({ type: 44, body: [0, 0, ...u16((offset << 3) | (more ? 1 : 0)), 0, 0, 0, 7] });
/** A hop-by-hop options header (8 bytes, PadN). */
export const hopByHop = () => ({ type: 0, body: [0, 0, 1, 4, 0, 0, 0, 0] });

export function ether(dst: string, src: string, type: number, payload: number[]): number[] {
  const mac = (m: string) => m.split(":").map((x) => parseInt(x, 16));
  return [...mac(dst), ...mac(src), ...u16(type), ...payload];
}

export function arp(op: number, senderMac: string, senderIp: string, targetIp: string): number[] {
  const mac = senderMac.split(":").map((x) => parseInt(x, 16));
  return [0, 1, 8, 0, 6, 4, ...u16(op), ...mac, ...v4(senderIp), 0, 0, 0, 0, 0, 0, ...v4(targetIp)];
}

const rec = (bytes: number[], cutTo?: number): PcapRecord => {
  const data = Uint8Array.from(cutTo === undefined ? bytes : bytes.slice(0, cutTo));
  return { data, length: bytes.length };
};

/** Raw IP packets covering the filter corner cases, plus a deterministic random mix. */
export function rawCorpus(seed = 7): PcapRecord[] {
  const A = "10.1.2.3";
  const B = "192.168.1.20";
  const C = "8.8.8.8";
  const M = "224.0.0.251";
  const X6 = "2001:db8::1";
  const Y6 = "2001:db8:0:1::2";
  const L6 = "fe80::1";
  const list: PcapRecord[] = [
    rec(ipv4(A, B, 6, tcp(40000, 22, 0x02))),
    rec(ipv4(B, A, 6, tcp(22, 40000, 0x12))),
    rec(ipv4(A, B, 6, tcp(40000, 22, 0x10, 100))),
    rec(ipv4(A, C, 17, udp(5353, 53, 30))),
    rec(ipv4(C, A, 17, udp(53, 5353, 60))),
    rec(ipv4(A, C, 17, udp(5060, 5060, 200))),
    rec(ipv4(A, C, 1, icmp(8, 0))),
    rec(ipv4(C, A, 1, icmp(0, 0))),
    rec(ipv4(C, A, 1, icmp(3, 4, 28))),
    rec(ipv4(A, M, 17, udp(5353, 5353, 40), { ttl: 255 })),
    rec(ipv4(A, B, 6, tcp(40001, 80, 0x18, 300), { optionWords: 2 })),
    rec(ipv4(A, B, 6, tcp(40001, 80, 0x11), { optionWords: 10 })),
    // Fragments: first (MF), middle and last (offset ≠ 0) of a UDP datagram to port 53.
    rec(ipv4(A, C, 17, udp(1234, 53, 40), { moreFragments: true })),
    rec(ipv4(A, C, 17, [0, 53, 0, 53, 1, 2, 3, 4], { fragOffset: 6, moreFragments: true })),
    rec(ipv4(A, C, 17, [0, 22, 0, 22, 9, 9, 9, 9], { fragOffset: 12 })),
    rec(ipv4(A, B, 6, [0, 22, 0, 22, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02], { fragOffset: 1 })),
    rec(ipv4(A, B, 6, tcp(5000, 22, 0x04), { dontFragment: true })),
    // Truncated captures: inside the IP header, inside TCP, inside UDP ports.
    rec(ipv4(A, B, 6, tcp(40000, 22, 0x02)), 10),
    rec(ipv4(A, B, 6, tcp(40000, 22, 0x02)), 22),
    rec(ipv4(A, B, 6, tcp(40000, 22, 0x02)), 33),
    rec(ipv4(A, C, 17, udp(53, 53, 10)), 21),
    rec(ipv6(X6, Y6, 6, tcp(22, 50000, 0x10)), 30),
    rec(ipv6(X6, Y6, 17, udp(53, 53, 10)), 41),
    rec([0x45]),
    rec([]),
    // Odd versions.
    rec([0x50, ...Array<number>(39).fill(0)]),
    rec([0x00, 0, 0, 20, ...Array<number>(16).fill(0)]),
    // IPv6.
    rec(ipv6(X6, Y6, 6, tcp(50000, 443, 0x02))),
    rec(ipv6(Y6, X6, 6, tcp(443, 50000, 0x12, 500))),
    rec(ipv6(X6, Y6, 17, udp(5060, 5060, 160))),
    rec(ipv6(L6, "ff02::1", 58, icmp(134, 0, 24))),
    rec(ipv6(X6, Y6, 58, icmp(128, 0, 56))),
    rec(ipv6(Y6, X6, 58, icmp(129, 0, 56))),
    rec(ipv6(X6, Y6, 17, udp(53, 53, 20), [hopByHop()])),
    rec(ipv6(X6, Y6, 6, tcp(1, 22, 0x02), [frag6(0, true)])),
    rec(ipv6(X6, Y6, 17, udp(9, 53, 8), [frag6(0, false)])),
    rec(ipv6(X6, Y6, 58, icmp(128, 0, 8), [frag6(0, false)])),
    rec(ipv6(X6, Y6, 6, [1, 2, 3, 4], [frag6(100, false)])),
    rec(ipv6("::ffff:10.1.2.3", "::1", 17, udp(1, 2, 0))),
    // Other protocols.
    rec(ipv4(A, B, 132, sctp(3868, 3868))),
    rec(ipv6(X6, Y6, 132, sctp(5000, 22))),
    rec(ipv4(A, B, 47, [0, 0, 8, 0, 1, 2, 3, 4])),
    rec(ipv4(A, "224.0.0.1", 2, [0x11, 0, 0, 0, 0, 0, 0, 0])),
    rec(ipv4(A, "255.255.255.255", 17, udp(68, 67, 240))),
    rec(ipv4("0.0.0.0", "255.255.255.255", 17, udp(68, 67, 240))),
    rec(ipv4(A, B, 50, [0, 0, 1, 0, 0, 0, 0, 1, 9, 9])),
    rec(ipv6(X6, Y6, 51, [59, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0])),
    rec(ipv4(A, B, 112, [0x21, 1, 100, 1, 0, 1, 0, 0, 10, 0, 0, 1])),
    rec(ipv4(A, B, 103, [0x20, 0, 0, 0])),
    rec(ipv6(X6, Y6, 103, [0x20, 0, 0, 0])),
  ];
  const r = new SeededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[r.next() % xs.length]!;
  const hosts4 = [A, B, C, "10.9.8.7", "172.16.5.4", "192.168.1.1"];
  const hosts6 = [X6, Y6, L6, "2001:db8::ff", "fd00::5"];
  const ports = [22, 53, 80, 443, 5060, 8080, 1024, 65535, 0, 1];
  for (let i = 0; i < 70; i++) {
    const k = r.next() % 6;
    const sp = pick(ports);
    const dp = pick(ports);
    const flags = r.next() & 0xff;
    const size = r.next() % 200;
    let p: number[];
    if (k === 0) p = ipv4(pick(hosts4), pick(hosts4), 6, tcp(sp, dp, flags, size, 5 + (r.next() % 3)), { optionWords: r.next() % 3 });
    else if (k === 1) p = ipv4(pick(hosts4), pick(hosts4), 17, udp(sp, dp, size), { fragOffset: r.next() % 4 === 0 ? r.next() % 100 : 0, moreFragments: r.next() % 3 === 0 });
    else if (k === 2) p = ipv4(pick(hosts4), pick(hosts4), 1, icmp(pick([0, 3, 8, 11, 13]), r.next() % 4, size % 60));
    else if (k === 3) p = ipv6(pick(hosts6), pick(hosts6), 6, tcp(sp, dp, flags, size));
    else if (k === 4) p = ipv6(pick(hosts6), pick(hosts6), 17, udp(sp, dp, size), r.next() % 3 === 0 ? [frag6(r.next() % 2, true)] : []);
    else p = ipv6(pick(hosts6), pick(hosts6), 58, icmp(pick([1, 2, 128, 129, 135, 136]), 0, size % 60));
    const cut = r.next() % 5 === 0 ? r.next() % (p.length + 1) : undefined;
    list.push(rec(p, cut));
  }
  return list;
}

/** The same traffic in Ethernet frames, with ARP, RARP and a non-IP EtherType. */
export function etherCorpus(seed = 11): PcapRecord[] {
  const GW = "00:11:22:33:44:55";
  const ME = "02:00:00:00:00:01";
  const BC = "ff:ff:ff:ff:ff:ff";
  const out: PcapRecord[] = [];
  for (const r of rawCorpus(seed)) {
    if (r.data.length === 0) continue;
    const v = r.data[0]! >> 4;
    const type = v === 6 ? 0x86dd : 0x0800;
    const full = ether(out.length % 3 === 0 ? GW : ME, out.length % 3 === 0 ? ME : GW, type, [...r.data]);
    out.push({ data: Uint8Array.from(full), length: r.length + 14 });
  }
  out.push({ data: Uint8Array.from(ether(BC, ME, 0x0806, arp(1, ME, "10.1.2.3", "10.1.2.1"))), length: 42 });
  out.push({ data: Uint8Array.from(ether(ME, GW, 0x0806, arp(2, GW, "10.1.2.1", "10.1.2.3"))), length: 42 });
  out.push({ data: Uint8Array.from(ether(BC, ME, 0x8035, arp(3, ME, "0.0.0.0", "192.168.1.20"))), length: 42 });
  out.push({ data: Uint8Array.from(ether("01:00:5e:00:00:fb", ME, 0x88cc, Array<number>(30).fill(0))), length: 44 });
  out.push({ data: Uint8Array.from(ether(BC, ME, 0x0806, arp(1, ME, "10.1.2.3", "10.1.2.1")).slice(0, 20)), length: 42 });
  out.push({ data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), length: 10 });
  return out;
}
