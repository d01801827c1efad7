/**
 * Which small packets may take the express lane while the peer equalises delays (equaliser.ts).
 *
 * The express lane sends small packets on the fastest link outside the sequence, so they are
 * never held. A TCP segment that carries data (or a SYN) gives its sender an RTT sample when it
 * is acknowledged: sent express, that sample is the fast link's alone, and a sender that sizes
 * its window from its minimum RTT (BBR) takes it as the path's (the handshake's, iperf3's 37-byte
 * cookie, an SSH keystroke). So such segments go the sequenced way, at the aggregate's timing;
 * pure acknowledgements, ICMP and UDP keep the express lane (their delay is what a user sees).
 */

const PROTO_TCP = 6;
const TCP_SYN = 0x02;

/** Whether a raw IPv4/IPv6 packet is a TCP segment with payload or a SYN (a fragment of TCP counts). */
export function tcpCarriesData(p: Uint8Array): boolean {
  if (p.length < 20) return false;
  const version = p[0]! >> 4;
  let off: number;
  let end: number;
  if (version === 4) {
    if (p[9] !== PROTO_TCP) return false;
    // A fragment's TCP header may be elsewhere: treat it as data.
    if ((p[6]! & 0x3f) !== 0 || p[7] !== 0) return true;
    off = (p[0]! & 0x0f) * 4;
    end = Math.min(p.length, (p[2]! << 8) | p[3]!);
  } else if (version === 6) {
    // Extension headers are not walked: such a packet keeps the express lane, as before.
    if (p.length < 40 || p[6] !== PROTO_TCP) return false;
    off = 40;
    end = Math.min(p.length, 40 + ((p[4]! << 8) | p[5]!));
  } else {
    return false;
  }
  if (end < off + 20) return false;
  if ((p[off + 13]! & TCP_SYN) !== 0) return true;
  return end - off - (p[off + 12]! >> 4) * 4 > 0;
}
