/**
 * Reader and writer of classic pcap files (not pcapng), for `mlvpn filter` and the tests.
 * Link types: raw IP (101, and 12/14 as some systems write it), Ethernet (1), Linux cooked
 * captures SLL (113) and SLL2 (276).
 */
import type { LinkType } from "./codegen.ts";

export interface PcapRecord {
  /** The captured bytes (may be fewer than `length`). */
  data: Uint8Array;
  /** Length of the packet on the wire. */
  length: number;
  /** When it was captured, seconds since the epoch (readPcap; writePcap numbers records a second apart instead). */
  timeS?: number;
}

export interface PcapFile {
  linktype: LinkType;
  /** The number in the file header. */
  linktypeNumber: number;
  records: PcapRecord[];
}

export class PcapError extends Error {}

const LINKTYPES: Record<number, LinkType> = { 101: "raw", 12: "raw", 14: "raw", 1: "ether", 113: "sll", 276: "sll2" };

export function readPcap(bytes: Uint8Array): PcapFile {
  if (bytes.length < 24) throw new PcapError("not a pcap file: shorter than its 24-byte header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  let little: boolean;
  // 0xa1b23c4d: timestamps in nanoseconds rather than microseconds.
  const fraction = magic === 0xa1b23c4d || magic === 0x4d3cb2a1 ? 1e9 : 1e6;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) little = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) little = false;
  else if (magic === 0x0a0d0d0a) throw new PcapError("pcapng files are not supported: convert with `editcap -F pcap in.pcapng out.pcap`");
  else throw new PcapError(`not a pcap file (magic 0x${magic.toString(16)})`);
  const linktypeNumber = view.getUint32(20, little) & 0x0fffffff;
  const linktype = LINKTYPES[linktypeNumber];
  if (!linktype) throw new PcapError(`link type ${linktypeNumber} is not supported (raw IP 101, Ethernet 1, Linux cooked 113/276 are)`);
  const records: PcapRecord[] = [];
  let off = 24;
  while (off < bytes.length) {
    if (off + 16 > bytes.length) throw new PcapError(`packet ${records.length + 1}: record header cut short at byte ${off}`);
    const caplen = view.getUint32(off + 8, little);
    const length = view.getUint32(off + 12, little);
    if (off + 16 + caplen > bytes.length) throw new PcapError(`packet ${records.length + 1}: ${caplen} bytes announced, the file ends first`);
    const timeS = view.getUint32(off, little) + view.getUint32(off + 4, little) / fraction;
    records.push({ data: bytes.subarray(off + 16, off + 16 + caplen), length, timeS });
    off += 16 + caplen;
  }
  return { linktype, linktypeNumber, records };
}

/** Timestamp (seconds) of the first packet writePcap writes; one second apart. */
export const PCAP_FIRST_SECOND = 1_700_000_000;

export function writePcap(linktypeNumber: number, records: readonly PcapRecord[]): Uint8Array {
  const size = 24 + records.reduce((n, r) => n + 16 + r.data.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0xa1b2c3d4, true);
  view.setUint16(4, 2, true);
  view.setUint16(6, 4, true);
  view.setUint32(16, 65535, true);
  view.setUint32(20, linktypeNumber, true);
  let off = 24;
  records.forEach((r, i) => {
    view.setUint32(off, PCAP_FIRST_SECOND + i, true);
    view.setUint32(off + 8, r.data.length, true);
    view.setUint32(off + 12, r.length, true);
    out.set(r.data, off + 16);
    off += 16 + r.data.length;
  });
  return out;
}
