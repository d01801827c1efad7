/**
 * Which small packets the express lane keeps out while the peer equalises delays: TCP segments
 * whose acknowledgement gives their sender an RTT sample (why: express.ts); and which it takes
 * outside its share: pure acknowledgements, as many as the data they can acknowledge.
 */
import { IPV6_HEADER, ipTotalLength, ipVersion } from "./icmp.ts";

const PROTO_TCP = 6;
const TCP_SYN = 0x02;
const TCP_ACK = 0x10;
/** A TCP header with the most options its data offset can say (15 words). */
const TCP_MAX_HEADER = 60;
/** The largest a pure acknowledgement can be: IPv6 and a TCP header full of options (timestamps, SACK blocks). */
export const PURE_ACK_MAX_BYTES = IPV6_HEADER + TCP_MAX_HEADER;

const NOT_TCP = -1;
const FRAGMENT = -2;

/**
 * Where a raw IPv4/IPv6 packet's TCP header starts; NOT_TCP, or FRAGMENT for a fragment of TCP
 * (its TCP header may be elsewhere). IPv6 extension headers are not walked: such a packet's next
 * header is not TCP.
 */
function tcpOffset(p: Uint8Array): number {
  const version = ipVersion(p);
  if (version === 0 || p[version === 4 ? 9 : 6] !== PROTO_TCP) return NOT_TCP;
  if (version === 4 && ((p[6]! & 0x3f) !== 0 || p[7] !== 0)) return FRAGMENT;
  const off = version === 4 ? (p[0]! & 0x0f) * 4 : IPV6_HEADER;
  return Math.min(p.length, ipTotalLength(p)) < off + 20 ? NOT_TCP : off;
}

/** TCP payload bytes of a segment whose header starts at `off` (≤ 0: none). */
function payloadBytes(p: Uint8Array, off: number): number {
  return Math.min(p.length, ipTotalLength(p)) - off - (p[off + 12]! >> 4) * 4;
}

/** Whether a raw IPv4/IPv6 packet is a TCP segment with payload or a SYN (a fragment of TCP counts). */
export function tcpCarriesData(p: Uint8Array): boolean {
  const off = tcpOffset(p);
  if (off === FRAGMENT) return true;
  if (off === NOT_TCP) return false;
  return (p[off + 13]! & TCP_SYN) !== 0 || payloadBytes(p, off) > 0;
}

/**
 * Whether a raw IPv4/IPv6 packet is a pure TCP acknowledgement: the ACK flag, no payload, no
 * SYN, not a fragment. (A FIN, or a RST with the ACK flag, counts: as small, and as rare.)
 */
export function isPureTcpAck(p: Uint8Array): boolean {
  const off = tcpOffset(p);
  if (off < 0) return false;
  const flags = p[off + 13]!;
  return (flags & TCP_ACK) !== 0 && (flags & TCP_SYN) === 0 && payloadBytes(p, off) <= 0;
}
