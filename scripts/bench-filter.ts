/**
 * Cost of `[filters]` on the data path (issue 14): ns per packet for a 10-entry filter list
 * (the core's FilterTable, as handleTunPacket calls it) over a mix of real-looking packets,
 * measured beside, in the same run, sealing one 1400-byte packet with AES-256-GCM (what every
 * packet costs anyway), so the result is a ratio robust to a busy machine. CPU only, no root.
 *
 *   bun scripts/bench-filter.ts [--json]      (npm run bench runs it too)
 */
import { compileFilterRules, FilterTable } from "../src/core/filters.ts";
import type { Link } from "../src/core/link.ts";
import { createAead } from "../src/crypto/aead.ts";
import { installNativeAead } from "../src/io/libcrypto.ts";
import { icmp, ipv4, ipv6, tcp, udp } from "../test/helpers/packets.ts";

// The data path as the daemon runs it: libcrypto when the system has it.
installNativeAead();

/** A typical list: VoIP, SSH, games, a host, a subnet, SYNs, DNS over IPv6, ICMPv6, big HTTPS, DSCP EF. */
export const FILTER_LIST = [
  "udp port 5060",
  "tcp port 22 or icmp",
  "udp portrange 10000-20000",
  "host 192.0.2.10",
  "net 198.51.100.0/24 and tcp",
  "tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn",
  "ip6 and udp port 53",
  "icmp6",
  "tcp dst port 443 and greater 1000",
  "ip[1] & 0xfc = 0xb8",
];

/** Mostly traffic no entry matches (every entry is then tried: the worst case), some that matches late. */
function packets(): Uint8Array[] {
  const A = "10.0.0.2";
  const B = "203.0.113.7";
  const X = "2001:db8::2";
  const Y = "2001:db8:1::7";
  const list = [
    ipv4(A, B, 6, tcp(50000, 8443, 0x10, 1360)),
    ipv4(B, A, 6, tcp(8443, 50000, 0x10)),
    ipv4(A, B, 17, udp(50001, 4433, 1200)),
    ipv6(X, Y, 6, tcp(50002, 8080, 0x18, 1300)),
    ipv6(X, Y, 17, udp(50003, 3478, 160)),
    ipv4(A, B, 6, tcp(50004, 443, 0x18, 1300)),
    ipv4(A, "8.8.8.8", 17, udp(50005, 53, 40)),
    ipv4(A, B, 1, icmp(8, 0, 56)),
  ];
  return list.map((p) => Uint8Array.from(p));
}

function nsPerCall(f: (i: number) => void, calls: number): number {
  const t0 = Bun.nanoseconds();
  for (let i = 0; i < calls; i++) f(i);
  return (Bun.nanoseconds() - t0) / calls;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export interface FilterBench {
  entries: number;
  nsPerPacket: number;
  nsPerPacketNoFilters: number;
  nsPerSeal1400: number;
  /** Filter list cost ÷ sealing cost, in percent. */
  percentOfSeal: number;
  matchedShare: number;
}

export function runFilterBench(rounds = 7, calls = 400_000): FilterBench {
  const fake = (name: string) => ({ name, isUp: true, current: {}, stalled: false, retired: false }) as unknown as Link;
  const links = ["adsl1", "adsl2", "lte"].map(fake);
  const rules = compileFilterRules(
    FILTER_LIST.map((expression, i) => ({ link: links[i % links.length]!.name, expression, normalized: expression, line: i + 1 })),
    "tun",
  );
  const table = new FilterTable();
  table.setRules(rules, links);
  const empty = new FilterTable();
  empty.setRules(compileFilterRules([], "tun"), links);
  const pk = packets();
  const n = pk.length;
  let matched = 0;
  for (let i = 0; i < n; i++) if (table.pick(pk[i]!)) matched++;
  const aead = createAead("aes-256-gcm", new Uint8Array(32).fill(1));
  // 16 bytes of header (authenticated) + 1400 sealed in place + the tag.
  const buf = new Uint8Array(new ArrayBuffer(16 + 1400 + 16));
  let sink = 0;
  const filtered: number[] = [];
  const none: number[] = [];
  const seal: number[] = [];
  // Warm-up, then alternate the three measurements.
  nsPerCall((i) => void (sink += table.pick(pk[i % n]!) ? 1 : 0), calls);
  nsPerCall((i) => void (sink += aead.seal(i, buf, 16, 1400)), calls / 20);
  for (let r = 0; r < rounds; r++) {
    filtered.push(nsPerCall((i) => void (sink += table.pick(pk[i % n]!) ? 1 : 0), calls));
    none.push(nsPerCall((i) => void (sink += empty.pick(pk[i % n]!) ? 1 : 0), calls));
    seal.push(nsPerCall((i) => void (sink += aead.seal(i, buf, 16, 1400)), calls / 20));
  }
  if (sink === -1) console.log(sink);
  const nsPerPacket = median(filtered);
  const nsPerSeal1400 = median(seal);
  return {
    entries: FILTER_LIST.length,
    nsPerPacket: Math.round(nsPerPacket),
    nsPerPacketNoFilters: Math.round(median(none)),
    nsPerSeal1400: Math.round(nsPerSeal1400),
    percentOfSeal: Math.round((1000 * nsPerPacket) / nsPerSeal1400) / 10,
    matchedShare: matched / n,
  };
}

/** The same, as a section of BENCHMARKS.md (scripts/bench.ts adds it after the lab scenarios). */
export function filterBenchResult(): { id: string; name: string; uplinks: never[]; metrics: { name: string; value: number | string; unit?: string }[] } {
  const r = runFilterBench();
  return {
    id: "F",
    name: `[filters]: cost per packet of a ${r.entries}-entry list (CPU only, scripts/bench-filter.ts)`,
    uplinks: [],
    metrics: [
      { name: "entries", value: FILTER_LIST.map((e) => `\`${e.replaceAll("|", "\\|")}\``).join(", ") },
      { name: `packets matched by an entry (most only by a late one)`, value: Math.round(r.matchedShare * 100), unit: "%" },
      { name: "filter list, per packet (median of 7)", value: r.nsPerPacket, unit: "ns" },
      { name: "no filters, per packet", value: r.nsPerPacketNoFilters, unit: "ns" },
      { name: "sealing a 1400-byte packet (AES-256-GCM), same run", value: r.nsPerSeal1400, unit: "ns" },
      { name: "filter list ÷ sealing", value: r.percentOfSeal, unit: "%" },
    ],
  };
}

if (import.meta.main) {
  const r = runFilterBench();
  if (process.argv.includes("--json")) console.log(JSON.stringify(r));
  else {
    console.log(`[filters], ${r.entries} entries (${Math.round(r.matchedShare * 100)} % of the packets match one, most only late): ${r.nsPerPacket} ns per packet (no filters: ${r.nsPerPacketNoFilters} ns)`);
    console.log(`sealing a 1400-byte packet with AES-256-GCM, same run: ${r.nsPerSeal1400} ns → the filter list costs ${r.percentOfSeal} % of that`);
  }
}
