/**
 * "Packet too big" errors written back into the tun for packets larger than the tunnel carries,
 * so the sender's path-MTU discovery (RFC 1191, RFC 8201) shrinks its packets instead of them
 * vanishing (the C MLVPN silently truncated them, docs/c-mlvpn.md, "Weaknesses" #10).
 *
 * The rules on when an ICMP error must not be sent come from RFC 1122 §3.2.2, RFC 1812
 * §4.3.2.7 (IPv4) and RFC 4443 §2.4 (IPv6). Every read is bounds-checked: the input comes from
 * the tun and may be anything.
 */

const IPV4_HEADER_MIN = 20;
export const IPV6_HEADER = 40;
const ICMP_HEADER = 8;
const PROTOCOL_ICMP = 1;
const NEXT_HEADER_ICMPV6 = 58;
// RFC 8200 §5: every IPv6 link carries 1280 bytes; RFC 4443 §3.2 quotes as much as fits in it.
const IPV6_MIN_MTU = 1280;
// RFC 791: every IPv4 module must forward 68-byte datagrams without fragmenting them.
const IPV4_MIN_MTU = 68;
const DEFAULT_TTL = 64;
// RFC 1812 §4.3.2.5: ICMP errors go out with precedence 6 (internetwork control), ECN not-ECT.
const TOS_INTERNETWORK_CONTROL = 0xc0;

/** IP version from the first nibble, 0 when it is neither 4 nor 6 or the fixed header does not fit. */
export function ipVersion(packet: Uint8Array): 4 | 6 | 0 {
  const version = byte(packet, 0) >> 4;
  if (version === 4 && packet.length >= IPV4_HEADER_MIN) return 4;
  if (version === 6 && packet.length >= IPV6_HEADER) return 6;
  return 0;
}

/**
 * Total length the header announces, 0 if the header is invalid (IPv4 IHL below 5 or beyond
 * the total length). Not compared with packet.length: the caller decides what a mismatch means.
 */
export function ipTotalLength(packet: Uint8Array): number {
  switch (ipVersion(packet)) {
    case 4: {
      const headerLength = (byte(packet, 0) & 0x0f) * 4;
      const total = be16(packet, 2);
      return headerLength >= IPV4_HEADER_MIN && total >= headerLength ? total : 0;
    }
    case 6:
      return IPV6_HEADER + be16(packet, 4);
    default:
      return 0;
  }
}

/**
 * Builds the ICMP error telling the sender of `original` that at most `mtu` bytes fit:
 * - IPv4 with DF set: ICMPv4 type 3 code 4 "fragmentation needed" carrying the next-hop MTU
 *   (RFC 792, RFC 1191 §4), quoting the IP header and the first 8 bytes of payload;
 * - IPv6: ICMPv6 type 2 "Packet Too Big" (RFC 4443 §3.2), quoting as much as fits in 1280 bytes.
 * The error comes from the original destination and goes to the original source.
 *
 * Returns the length written into `out` (which must not overlap `original`), or 0 when no
 * error may be sent: not IPv4/IPv6, IPv4 without DF or a non-initial fragment, a truncated or
 * invalid header, an ICMP error (or unknown ICMPv4 type) as the original, an address that is not
 * a single host's (unspecified, loopback, multicast, limited broadcast, class E), or IPv6 with
 * an MTU below 1280 (RFC 8201 §4: senders ignore it; the tunnel must carry 1280).
 * A multicast IPv6 destination would be allowed (RFC 4443 §2.4 e.3) but needs a unicast source
 * of our own (§2.2), which this function does not have, so it returns 0 there too.
 */
export function buildPacketTooBig(original: Uint8Array, mtu: number, out: Uint8Array): number {
  if (!Number.isInteger(mtu) || mtu < IPV4_MIN_MTU || mtu > 0xffff) throw new RangeError(`MTU must be an integer from ${IPV4_MIN_MTU} to 65535, got ${mtu}`);
  if (out.length < IPV6_MIN_MTU) throw new RangeError(`output buffer must hold ${IPV6_MIN_MTU} bytes, got ${out.length}`);
  switch (ipVersion(original)) {
    case 4:
      return fragmentationNeeded(original, mtu, out);
    case 6:
      return packetTooBig6(original, mtu, out);
    default:
      return 0;
  }
}

function fragmentationNeeded(original: Uint8Array, mtu: number, out: Uint8Array): number {
  const total = ipTotalLength(original);
  const headerLength = (byte(original, 0) & 0x0f) * 4;
  if (total === 0 || total > original.length) return 0;
  // RFC 1812 §5.2.2: a header with a bad checksum is discarded, not answered.
  if (internetChecksum(sumWords(original, 0, headerLength)) !== 0) return 0;
  const flagsAndOffset = be16(original, 6);
  // Without DF the packet may be fragmented, so there is nothing to tell the sender.
  if ((flagsAndOffset & 0x4000) === 0) return 0;
  if ((flagsAndOffset & 0x1fff) !== 0) return 0;
  if (!isSingleHostV4(be32(original, 12)) || !isSingleHostV4(be32(original, 16))) return 0;
  if (byte(original, 9) === PROTOCOL_ICMP && !isIcmpV4Query(original, headerLength, total)) return 0;

  const quoted = Math.min(total, headerLength + 8);
  const length = IPV4_HEADER_MIN + ICMP_HEADER + quoted;
  out[0] = 0x45;
  out[1] = TOS_INTERNETWORK_CONTROL;
  put16(out, 2, length);
  // An atomic datagram (DF, no fragments) may use identification 0 (RFC 6864 §4.1).
  put16(out, 4, 0);
  put16(out, 6, 0x4000);
  out[8] = DEFAULT_TTL;
  out[9] = PROTOCOL_ICMP;
  put16(out, 10, 0);
  copy(original, 16, out, 12, 4);
  copy(original, 12, out, 16, 4);
  put16(out, 10, internetChecksum(sumWords(out, 0, IPV4_HEADER_MIN)));

  const icmp = IPV4_HEADER_MIN;
  out[icmp] = 3;
  out[icmp + 1] = 4;
  put16(out, icmp + 2, 0);
  put16(out, icmp + 4, 0); // unused (RFC 1191 §4)
  put16(out, icmp + 6, mtu);
  copy(original, 0, out, icmp + ICMP_HEADER, quoted);
  put16(out, icmp + 2, internetChecksum(sumWords(out, icmp, length)));
  return length;
}

function packetTooBig6(original: Uint8Array, mtu: number, out: Uint8Array): number {
  if (mtu < IPV6_MIN_MTU) return 0;
  const total = ipTotalLength(original);
  if (total > original.length) return 0;
  if (!isSingleHostV6(original, 8) || !isSingleHostV6(original, 24)) return 0;
  if (!mayAnswerV6(original, total)) return 0;

  const quoted = Math.min(total, IPV6_MIN_MTU - IPV6_HEADER - ICMP_HEADER);
  const icmpLength = ICMP_HEADER + quoted;
  const length = IPV6_HEADER + icmpLength;
  out[0] = 0x60; // version 6, traffic class 0, flow label 0
  out[1] = 0;
  out[2] = 0;
  out[3] = 0;
  put16(out, 4, icmpLength);
  out[6] = NEXT_HEADER_ICMPV6;
  out[7] = DEFAULT_TTL;
  copy(original, 24, out, 8, 16);
  copy(original, 8, out, 24, 16);

  const icmp = IPV6_HEADER;
  out[icmp] = 2;
  out[icmp + 1] = 0;
  put16(out, icmp + 2, 0);
  put32(out, icmp + 4, mtu);
  copy(original, 0, out, icmp + ICMP_HEADER, quoted);
  // RFC 8200 §8.1 pseudo-header: source, destination, 32-bit upper-layer length, next header.
  const pseudoHeader = sumWords(out, 8, IPV6_HEADER) + icmpLength + NEXT_HEADER_ICMPV6;
  put16(out, icmp + 2, internetChecksum(sumWords(out, icmp, length, pseudoHeader)));
  return length;
}

/** False when `original` is an ICMP error or of a type we cannot classify (RFC 1122 §3.2.2). */
function isIcmpV4Query(original: Uint8Array, headerLength: number, total: number): boolean {
  if (headerLength >= total) return false;
  switch (byte(original, headerLength)) {
    case 0: // echo reply
    case 8: // echo request
    case 9: // router advertisement (RFC 1256)
    case 10: // router solicitation
    case 13: // timestamp
    case 14: // timestamp reply
    case 15: // information request
    case 16: // information reply
    case 17: // address mask request (RFC 950)
    case 18: // address mask reply
    case 42: // extended echo request (RFC 8335)
    case 43: // extended echo reply
      return true;
    default:
      return false;
  }
}

/**
 * Walks the IPv6 extension headers (RFC 8200 §4) to the upper layer. False for an ICMPv6 error
 * (types 0-127, RFC 4443 §2.1), a redirect (§2.4 e.2) or a chain that runs past the packet.
 */
function mayAnswerV6(original: Uint8Array, total: number): boolean {
  let nextHeader = byte(original, 6);
  let offset = IPV6_HEADER;
  for (;;) {
    switch (nextHeader) {
      case NEXT_HEADER_ICMPV6: {
        if (offset >= total) return false;
        const type = byte(original, offset);
        return type >= 128 && type !== 137;
      }
      case 0: // hop-by-hop options
      case 43: // routing
      case 60: // destination options
      case 135: // mobility (RFC 6275)
      case 139: // HIP (RFC 7401)
      case 140: // shim6 (RFC 5533)
        // Length in 8-octet units, not counting the first 8.
        if (offset + 2 > total) return false;
        nextHeader = byte(original, offset);
        offset += (byte(original, offset + 1) + 1) * 8;
        break;
      case 51: // authentication header (RFC 4302 §2.2): length in 4-octet units, minus 2
        if (offset + 2 > total) return false;
        nextHeader = byte(original, offset);
        offset += (byte(original, offset + 1) + 2) * 4;
        break;
      case 44: // fragment (RFC 8200 §4.5)
        if (offset + 8 > total) return false;
        // Later fragments do not carry the upper-layer header; they are not ICMPv6 errors we can see.
        if ((be16(original, offset + 2) & 0xfff8) !== 0) return true;
        nextHeader = byte(original, offset);
        offset += 8;
        break;
      default: // TCP, UDP, ESP, no next header...: not ICMPv6
        return true;
    }
  }
}

/** Excludes "this network" 0/8, loopback 127/8, multicast 224/4 and 240/4 with 255.255.255.255 (RFC 1122 §3.2.1.3). */
function isSingleHostV4(address: number): boolean {
  const first = address >>> 24;
  return first !== 0 && first !== 127 && first < 224;
}

/** Excludes the unspecified address ::, loopback ::1 (RFC 4291 §2.5.2-3) and multicast ff00::/8. */
function isSingleHostV6(packet: Uint8Array, offset: number): boolean {
  if (byte(packet, offset) === 0xff) return false;
  for (let i = 0; i < 15; i++) if (byte(packet, offset + i) !== 0) return true;
  return byte(packet, offset + 15) > 1;
}

/** RFC 1071 ones'-complement sum of 16-bit big-endian words in [start, end), odd byte padded with zero. */
function sumWords(bytes: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (byte(bytes, i) << 8) | byte(bytes, i + 1);
  if (i < end) sum += byte(bytes, i) << 8;
  return sum;
}

/** Folds the carries of a sum from sumWords back in and complements it (RFC 1071 §4.1). */
function internetChecksum(sum: number): number {
  let folded = sum;
  while (folded > 0xffff) folded = (folded & 0xffff) + Math.floor(folded / 0x10000);
  return ~folded & 0xffff;
}

function byte(bytes: Uint8Array, offset: number): number {
  return bytes[offset] ?? 0;
}

function be16(bytes: Uint8Array, offset: number): number {
  return (byte(bytes, offset) << 8) | byte(bytes, offset + 1);
}

function be32(bytes: Uint8Array, offset: number): number {
  return be16(bytes, offset) * 0x10000 + be16(bytes, offset + 2);
}

function put16(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 8;
  bytes[offset + 1] = value & 0xff;
}

function put32(bytes: Uint8Array, offset: number, value: number): void {
  put16(bytes, offset, Math.floor(value / 0x10000));
  put16(bytes, offset + 2, value & 0xffff);
}

function copy(from: Uint8Array, fromOffset: number, to: Uint8Array, toOffset: number, length: number): void {
  for (let i = 0; i < length; i++) to[toOffset + i] = byte(from, fromOffset + i);
}
