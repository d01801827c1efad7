/**
 * Receive offload for tun writes (docs/performance.md, "Tun writes"): consecutive segments of
 * one TCP stream, as the peer's tunnel delivers them, are joined into one large packet that the
 * kernel takes with a `struct virtio_net_hdr` (the tun is opened with IFF_VNET_HDR) saying "TCP,
 * segment size N, checksum to complete": the kernel then routes, forwards and hands to the
 * receiving TCP stack one packet instead of N, and cuts it again only where a device needs it.
 * This is what Linux's GRO does for a network card, with the same rules (tcp_gro_receive):
 *
 * - IPv4 without options and not fragmented, or IPv6 without extension headers; the same
 *   addresses, ports, TOS/traffic class and flow label, TTL/hop limit, DF, acknowledgement
 *   number, window and TCP options (byte for byte); IPv4 ids consecutive;
 * - only the ACK flag (PSH on the last segment, which ends the packet); no SYN, FIN, RST, URG,
 *   ECE or CWR;
 * - the sequence numbers contiguous; every segment the size of the first but the last, which
 *   may be shorter (and then ends the packet); at most 64 segments and 65535 bytes.
 *
 * - the segment's own TCP checksum is right (a card's GRO joins only segments whose checksum
 *   it verified): the joined packet's checksum is computed anew by the kernel
 *   (VIRTIO_NET_HDR_F_NEEDS_CSUM), and so is each segment's if it is cut again, so a segment
 *   that was already corrupt when it entered the peer's tunnel would otherwise reach the end host
 *   with a valid one. The tunnel authenticates what it carries, not what it was given.
 *
 * Anything else is written as it came, after the packet being built: the order of the packets
 * on the tun is the order they were delivered in.
 */

/** sizeof(struct virtio_net_hdr): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset. */
export const VNET_HDR = 10;
const F_NEEDS_CSUM = 1;
const GSO_TCPV4 = 1;
const GSO_TCPV6 = 4;
const TCP_ACK = 0x10;
const TCP_PSH = 0x08;
const MAX_SEGMENTS = 64;
const MAX_IP_BYTES = 65535;
/** Room behind the packet being built for the headers a joining segment's copy overwrites (IPv6 40 + TCP 60). */
const SCRATCH = VNET_HDR + MAX_IP_BYTES;
const SCRATCH_BYTES = 128;

/** Adds the 16-bit big-endian words of b[from … to) to `sum` (to − from even). */
function sumWords(b: Uint8Array, from: number, to: number, sum: number): number {
  for (let i = from; i < to; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  return sum;
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** Joins consecutive TCP segments into one packet behind a virtio_net_hdr. */
export class TcpCoalescer {
  /** The packet being built, behind room for its virtio_net_hdr. */
  readonly buf = new Uint8Array(new ArrayBuffer(SCRATCH + SCRATCH_BYTES));
  /** Bytes of the packet being built (0: none). */
  private len = 0;
  private segments = 0;
  private mss = 0;
  private v6 = false;
  /** IP header length, and IP + TCP header length. */
  private ipLen = 0;
  private headLen = 0;
  private nextSeq = 0;
  private nextId = 0;
  private sealed = false;

  /** Segments in the packet being built. */
  get segmentsHeld(): number {
    return this.len > 0 ? this.segments : 0;
  }

  /** Whether a packet is being built. */
  get holding(): boolean {
    return this.len > 0;
  }

  /**
   * Takes `p` into the packet being built, or to start one; false when it cannot: then flush
   * the packet being built (take()) and, if add() refuses it again, write `p` as it is.
   */
  add(p: Uint8Array): boolean {
    return this.len > 0 ? this.extend(p) : this.start(p);
  }

  /** The TCP header's offset and payload length of an eligible segment, or -1. */
  private tcpOffset(p: Uint8Array): number {
    const n = p.length;
    if (n < 40) return -1;
    const version = p[0]! >> 4;
    let ip: number;
    if (version === 4) {
      // No options, TCP, the length as read, not a fragment (MF clear, offset 0).
      if (p[0] !== 0x45 || p[9] !== 6 || ((p[2]! << 8) | p[3]!) !== n || (p[6]! & 0x3f) !== 0 || p[7] !== 0) return -1;
      ip = 20;
    } else if (version === 6) {
      if (n < 60 || p[6] !== 6 || ((p[4]! << 8) | p[5]!) !== n - 40) return -1;
      ip = 40;
    } else return -1;
    const doff = (p[ip + 12]! >> 4) * 4;
    if (doff < 20 || ip + doff >= n) return -1; // no payload: nothing to join
    const flags = p[ip + 13]!;
    if ((flags & ~TCP_PSH) !== TCP_ACK) return -1;
    return tcpChecksumOk(p, ip) ? ip : -1;
  }

  private start(p: Uint8Array): boolean {
    const ip = this.tcpOffset(p);
    if (ip < 0 || p[ip + 13]! & TCP_PSH) return false;
    const head = ip + (p[ip + 12]! >> 4) * 4;
    this.buf.set(p, VNET_HDR);
    this.len = p.length;
    this.segments = 1;
    this.v6 = ip === 40;
    this.ipLen = ip;
    this.headLen = head;
    this.mss = p.length - head;
    this.nextSeq = (readU32(p, ip + 4) + this.mss) >>> 0;
    this.nextId = this.v6 ? 0 : (((p[4]! << 8) | p[5]!) + 1) & 0xffff;
    this.sealed = false;
    return true;
  }

  private extend(p: Uint8Array): boolean {
    if (this.sealed || this.segments === MAX_SEGMENTS) return false;
    const ip = this.tcpOffset(p);
    const head = this.headLen;
    const payload = p.length - head;
    if (ip !== this.ipLen || payload > this.mss || payload <= 0 || this.len + payload > MAX_IP_BYTES) return false;
    if ((p[ip + 12]! >> 4) * 4 !== head - ip) return false;
    const b = this.buf;
    const o = VNET_HDR;
    if (this.v6) {
      // Version, traffic class, flow label; next header and hop limit; addresses.
      for (let i = 0; i < 4; i++) if (p[i] !== b[o + i]) return false;
      if (p[7] !== b[o + 7]) return false;
      for (let i = 8; i < 40; i++) if (p[i] !== b[o + i]) return false;
    } else {
      // TOS, DF, TTL (the protocol was checked), addresses; the id follows the last one.
      if (p[1] !== b[o + 1] || p[6] !== b[o + 6] || p[8] !== b[o + 8]) return false;
      if (((p[4]! << 8) | p[5]!) !== this.nextId) return false;
      for (let i = 12; i < 20; i++) if (p[i] !== b[o + i]) return false;
    }
    // Ports; the sequence number follows; acknowledgement, header length and the ACK flag, window; options.
    for (let i = ip; i < ip + 4; i++) if (p[i] !== b[o + i]) return false;
    if (readU32(p, ip + 4) !== this.nextSeq) return false;
    for (let i = ip + 8; i < ip + 13; i++) if (p[i] !== b[o + i]) return false;
    if (p[ip + 14] !== b[o + ip + 14] || p[ip + 15] !== b[o + ip + 15]) return false;
    for (let i = ip + 20; i < head; i++) if (p[i] !== b[o + i]) return false;
    // The payload goes right behind the packet's: copied with its headers (no view to make), over
    // the previous payload's last `head` bytes, which are put back from the scratch area.
    const at = o + this.len - head;
    b.copyWithin(SCRATCH, at, at + head);
    b.set(p, at);
    b.copyWithin(at, SCRATCH, SCRATCH + head);
    this.len += payload;
    this.segments++;
    this.nextSeq = (this.nextSeq + payload) >>> 0;
    this.nextId = (this.nextId + 1) & 0xffff;
    const psh = p[ip + 13]! & TCP_PSH;
    if (psh) b[o + ip + 13] = b[o + ip + 13]! | TCP_PSH;
    if (payload < this.mss || psh) this.sealed = true;
    return true;
  }

  /**
   * The packet built, behind its virtio_net_hdr, ready to write (a view of `buf`, valid until
   * the next add()); undefined when none. A single segment goes as it came.
   */
  take(): Uint8Array | undefined {
    const len = this.len;
    if (len === 0) return undefined;
    this.len = 0;
    const b = this.buf;
    b.fill(0, 0, VNET_HDR);
    if (this.segments === 1) return b.subarray(0, VNET_HDR + len);
    const o = VNET_HDR;
    const ip = this.ipLen;
    const tcpLen = len - ip;
    let sum: number;
    if (this.v6) {
      b[o + 4] = (len - 40) >> 8;
      b[o + 5] = (len - 40) & 0xff;
      sum = sumWords(b, o + 8, o + 40, 6 + tcpLen);
    } else {
      b[o + 2] = len >> 8;
      b[o + 3] = len & 0xff;
      b[o + 10] = 0;
      b[o + 11] = 0;
      const c = ~fold(sumWords(b, o, o + 20, 0)) & 0xffff;
      b[o + 10] = c >> 8;
      b[o + 11] = c & 0xff;
      sum = sumWords(b, o + 12, o + 20, 6 + tcpLen);
    }
    // The pseudo-header's sum, not inverted: the kernel adds the TCP header and payload to it.
    const pseudo = fold(sum);
    b[o + ip + 16] = pseudo >> 8;
    b[o + ip + 17] = pseudo & 0xff;
    // struct virtio_net_hdr, little-endian fields.
    b[0] = F_NEEDS_CSUM;
    b[1] = this.v6 ? GSO_TCPV6 : GSO_TCPV4;
    b[2] = this.headLen & 0xff;
    b[3] = this.headLen >> 8;
    b[4] = this.mss & 0xff;
    b[5] = this.mss >> 8;
    b[6] = ip;
    b[7] = 0;
    b[8] = 16; // the checksum's offset in the TCP header
    b[9] = 0;
    return b.subarray(0, VNET_HDR + len);
  }
}

/** Whether the TCP checksum of packet `p` (TCP header at `ip`) is right: its sum with the pseudo-header folds to 0xffff. */
function tcpChecksumOk(p: Uint8Array, ip: number): boolean {
  const n = p.length;
  const tcpLen = n - ip;
  // The pseudo-header: the addresses, the protocol (6) and the TCP length.
  let sum = ip === 40 ? sumWords(p, 8, 40, 6 + tcpLen) : sumWords(p, 12, 20, 6 + tcpLen);
  const even = n - ((n - ip) & 1);
  sum = sumWords(p, ip, even, sum); // a segment's sum stays far below 2^53: no folding on the way
  if (even < n) sum += p[even]! << 8; // an odd last byte, padded with a zero
  return fold(sum) === 0xffff;
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}
