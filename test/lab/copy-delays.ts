/**
 * Where a redundant stream's packets spent their time, from packet captures (scripts/lab-cut-trace.ts
 * `--pcap DIR`): each inner packet is seen entering the sending end (the client's LAN interface
 * or the server's internet-side one), each of its copies leaving that end on an uplink and
 * arriving at the other end, and the packet leaving the receiving end. All captures are taken on
 * one machine, so their timestamps share one clock. A packet's one-way delay then splits into:
 *
 * - sender: from entering the sending end to its copy leaving on the uplink: the daemon's
 *   reaction (tun read, scheduling, sealing) plus what the copy waited in that uplink's htb (an
 *   egress capture sees a frame after the qdisc released it);
 * - wire: the copy's transit through the delay line (the configured one-way delay + its lateness);
 * - receiver: from the copy's arrival to the inner packet leaving the receiving end (the daemon's
 *   reaction: socket read, opening, tun write).
 *
 * Inner packets are matched by their IP identification (the tunnel carries them unchanged).
 * Copies are encrypted, so they are recognised by their size (the inner packet + TUNNEL_OVERHEAD,
 * which bulk traffic does not have) and matched in order: an uplink neither reorders nor
 * duplicates, and a copy that the cut dropped is recognised because the next copy received
 * could not have arrived before its own sender time + the uplink's delay.
 */
import type { PcapFile } from "../../src/filter/pcap.ts";

/** One IPv4 UDP datagram of a capture. */
export interface Datagram {
  /** Seconds (the capture clock). */
  t: number;
  /** IP identification. */
  id: number;
  /** "a.b.c.d.port", as tcpdump prints it. */
  src: string;
  dst: string;
  /** The IP packet's total length. */
  ipLength: number;
  /** The UDP payload's length. */
  udpLength: number;
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHER_HEADER = 14;
const UDP_HEADER = 8;
const PROTO_UDP = 17;

/** The IPv4 UDP datagrams of a capture read by src/filter/pcap.ts (Ethernet or raw IP); the rest is skipped. */
export function udpDatagrams(file: PcapFile): Datagram[] {
  if (file.linktype !== "ether" && file.linktype !== "raw") throw new Error(`a ${file.linktype} capture: Ethernet or raw IP expected`);
  const ip = file.linktype === "ether" ? ETHER_HEADER : 0;
  const out: Datagram[] = [];
  for (const r of file.records) {
    const d = r.data;
    if (file.linktype === "ether" && (d.length < ETHER_HEADER || ((d[12]! << 8) | d[13]!) !== ETHERTYPE_IPV4)) continue;
    if (d.length < ip + 20 || d[ip]! >> 4 !== 4 || d[ip + 9] !== PROTO_UDP) continue;
    const udp = ip + (d[ip]! & 15) * 4;
    if (d.length < udp + UDP_HEADER) continue;
    const u16 = (at: number) => (d[at]! << 8) | d[at + 1]!;
    const addr = (at: number, port: number) => `${d[at]}.${d[at + 1]}.${d[at + 2]}.${d[at + 3]}.${port}`;
    out.push({ t: r.timeS ?? 0, id: u16(ip + 4), src: addr(ip + 12, u16(udp)), dst: addr(ip + 16, u16(udp + 2)), ipLength: u16(ip + 2), udpLength: u16(udp + 4) - UDP_HEADER });
  }
  return out;
}

/** One uplink's captures, as seen by the sending end (egress) and the receiving end (ingress). */
export interface UplinkCaptures {
  /** The sending end's address on this uplink (tcpdump's "a.b.c.d", no port). */
  senderAddr: string;
  sent: Datagram[];
  received: Datagram[];
  /** The uplink's configured one-way delay, ms. */
  delayMs: number;
}

export interface CopyPath {
  uplink: number;
  /** Entering the sending end → the copy leaving on this uplink, ms. */
  senderMs: number;
  /** Leaving → arriving; undefined when the copy was lost. */
  wireMs?: number;
  /** Arriving → the inner packet leaving the receiving end (negative: an earlier copy delivered it). */
  receiverMs?: number;
}

export interface PacketPath {
  /** Seconds since the first packet of the stream entered. */
  atS: number;
  /** The inner packet's one-way delay, entering → leaving, ms. */
  totalMs: number;
  copies: CopyPath[];
}

/** A copy leaves within this long of its packet entering, or it is not this packet's. */
const MAX_SENDER_S = 0.2;
/** The copies of one packet leave within this long of each other (one send call each, back to back). */
const COPY_SPREAD_S = 0.002;

/** Pairs each sent copy with its arrival (undefined: lost), in order, as explained above. */
function arrivals(u: UplinkCaptures, length: number): Map<Datagram, Datagram | undefined> {
  const sent = u.sent.filter((d) => d.udpLength === length && d.src.startsWith(`${u.senderAddr}.`));
  const received = u.received.filter((d) => d.udpLength === length && d.src.startsWith(`${u.senderAddr}.`));
  const out = new Map<Datagram, Datagram | undefined>();
  // 1 ms of slack: the two captures' timestamps are taken at slightly different points.
  const earliest = (d: Datagram) => d.t + (u.delayMs - 1) / 1000;
  let j = 0;
  for (let k = 0; k < sent.length; k++) {
    const s = sent[k]!;
    while (j < received.length && received[j]!.t < earliest(s)) j++;
    const r = received[j];
    const next = sent[k + 1];
    // A copy that arrives after the next one could have is the next one's: this one was lost.
    if (r && (!next || r.t < earliest(next))) {
      out.set(s, r);
      j++;
    } else out.set(s, undefined);
  }
  return out;
}

/**
 * The path of every inner packet of one direction that both ends saw: `entering` and `leaving`
 * are the inner packets (already filtered to the stream and the direction), `copyLength` the
 * copies' UDP payload length.
 */
export function packetPaths(entering: Datagram[], leaving: Datagram[], uplinks: UplinkCaptures[], copyLength: number): PacketPath[] {
  const left = new Map(leaving.map((d) => [d.id, d]));
  const pairs = uplinks.map((u) => arrivals(u, copyLength));
  const sentLists = pairs.map((p) => [...p.keys()]);
  const next = uplinks.map(() => 0);
  const t0 = entering.length > 0 ? entering[0]!.t : 0;
  const out: PacketPath[] = [];
  for (const p of entering) {
    const end = left.get(p.id);
    // Each uplink's first copy not yet taken that left after this packet entered…
    const candidates: (Datagram | undefined)[] = sentLists.map((list, i) => {
      let k = next[i]!;
      while (k < list.length && list[k]!.t < p.t) k++;
      next[i] = k;
      const s = list[k];
      return s && s.t - p.t <= MAX_SENDER_S ? s : undefined;
    });
    // … is this packet's only if it left with the earliest of them: the copies of one packet go
    // out together. A later one is a later packet's, on an uplink that carried no copy of this
    // one (stalled, or just restored).
    let first = Number.POSITIVE_INFINITY;
    for (const s of candidates) if (s && s.t < first) first = s.t;
    const copies: CopyPath[] = [];
    for (const [i, s] of candidates.entries()) {
      if (!s || s.t - first > COPY_SPREAD_S) continue;
      next[i]!++;
      const r = pairs[i]!.get(s);
      copies.push({
        uplink: i,
        senderMs: (s.t - p.t) * 1000,
        ...(r ? { wireMs: (r.t - s.t) * 1000, ...(end ? { receiverMs: (end.t - r.t) * 1000 } : {}) } : {}),
      });
    }
    if (end) out.push({ atS: p.t - t0, totalMs: (end.t - p.t) * 1000, copies });
  }
  return out;
}

/** One line per packet: its delay and, per copy, the three parts. */
export function describePath(p: PacketPath): string {
  const ms = (x: number) => `${x.toFixed(1)}`;
  const copies = p.copies.map((c) => `uplink ${c.uplink}: sender ${ms(c.senderMs)}, ${c.wireMs === undefined ? "lost" : `wire ${ms(c.wireMs)}${c.receiverMs === undefined ? "" : `, receiver ${ms(c.receiverMs)}`}`}`);
  return `${ms(p.totalMs)} ms at ${p.atS.toFixed(2)} s — ${copies.length > 0 ? copies.join("; ") : "no copy seen"}`;
}
