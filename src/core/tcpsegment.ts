/**
 * Which small packets the express lane keeps out while the peer equalises delays: TCP segments
 * whose acknowledgement gives their sender an RTT sample (why: express.ts).
 */
import { ipTotalLength, ipVersion } from "./icmp.ts";

const PROTO_TCP = 6;
const TCP_SYN = 0x02;
const IPV6_HEADER = 40;

/** Whether a raw IPv4/IPv6 packet is a TCP segment with payload or a SYN (a fragment of TCP counts). */
export function tcpCarriesData(p: Uint8Array): boolean {
  const version = ipVersion(p);
  if (version === 0 || p[version === 4 ? 9 : 6] !== PROTO_TCP) return false;
  // A fragment's TCP header may be elsewhere: treat it as data. (IPv6 extension headers are not
  // walked: such a packet's next header is not TCP, and it keeps the express lane, as before.)
  if (version === 4 && ((p[6]! & 0x3f) !== 0 || p[7] !== 0)) return true;
  const off = version === 4 ? (p[0]! & 0x0f) * 4 : IPV6_HEADER;
  const end = Math.min(p.length, ipTotalLength(p));
  if (end < off + 20) return false;
  if ((p[off + 13]! & TCP_SYN) !== 0) return true;
  return end - off - (p[off + 12]! >> 4) * 4 > 0;
}
