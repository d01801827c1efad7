/**
 * Joining TCP segments for the tun (src/io/tun-gro.ts): which segments join (Linux GRO's rules),
 * and the joined packet: its virtio_net_hdr, IP length and header checksum, the pseudo-header
 * sum in the TCP checksum, and the payloads in order — checked by cutting it again the way the
 * kernel does and comparing with the segments that went in.
 */
import { describe, expect, test } from "bun:test";
import { TcpCoalescer, VNET_HDR } from "../../src/io/tun-gro.ts";

interface Seg {
  v6?: boolean;
  seq: number;
  id?: number;
  payload: number;
  flags?: number;
  ack?: number;
  window?: number;
  srcPort?: number;
  ttl?: number;
  options?: number[];
  fill?: number;
}

const ACK = 0x10;
const PSH = 0x08;

function sum16(b: Uint8Array, from: number, to: number, s = 0): number {
  for (let i = from; i < to; i += 2) s += (b[i]! << 8) | (i + 1 < to ? b[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** A TCP segment with valid checksums. */
function segment(o: Seg): Uint8Array {
  const ip = o.v6 ? 40 : 20;
  const opts = o.options ?? [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]; // NOP NOP timestamps
  const tcp = 20 + opts.length;
  const n = ip + tcp + o.payload;
  const p = new Uint8Array(n);
  if (o.v6) {
    p.set([0x60, 0, 0, 0, (n - 40) >> 8, (n - 40) & 0xff, 6, o.ttl ?? 64]);
    p.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8);
    p.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 24);
  } else {
    const id = o.id ?? 100;
    p.set([0x45, 0, n >> 8, n & 0xff, id >> 8, id & 0xff, 0x40, 0, o.ttl ?? 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    const c = ~sum16(p, 0, 20) & 0xffff;
    p[10] = c >> 8;
    p[11] = c & 0xff;
  }
  const t = ip;
  const sp = o.srcPort ?? 40000;
  p.set([sp >> 8, sp & 0xff, 0x14, 0x51], t);
  new DataView(p.buffer).setUint32(t + 4, o.seq >>> 0);
  new DataView(p.buffer).setUint32(t + 8, o.ack ?? 777);
  p[t + 12] = (tcp / 4) << 4;
  p[t + 13] = o.flags ?? ACK;
  new DataView(p.buffer).setUint16(t + 14, o.window ?? 500);
  p.set(opts, t + 20);
  for (let i = 0; i < o.payload; i++) p[ip + tcp + i] = ((o.fill ?? o.seq) + i) & 0xff;
  const pseudo = o.v6 ? sum16(p, 8, 40, 6 + tcp + o.payload) : sum16(p, 12, 20, 6 + tcp + o.payload);
  const c = ~sum16(p, t, n, pseudo) & 0xffff;
  p[t + 16] = c >> 8;
  p[t + 17] = c & 0xff;
  return p;
}

/** The kernel's work on a joined packet: complete the checksum, cut into segments of gso_size. */
function cut(w: Uint8Array): Uint8Array[] {
  const flags = w[0]!;
  const gsoType = w[1]!;
  const hdrLen = w[2]! | (w[3]! << 8);
  const gsoSize = w[4]! | (w[5]! << 8);
  const p = w.subarray(VNET_HDR);
  if (gsoType === 0) {
    expect(flags).toBe(0);
    return [p.slice()];
  }
  const v6 = gsoType === 4;
  const ip = v6 ? 40 : 20;
  expect(w[6]! | (w[7]! << 8)).toBe(ip); // csum_start
  expect(w[8]! | (w[9]! << 8)).toBe(16); // csum_offset
  expect(flags).toBe(1);
  // The IP header as the kernel gets it.
  if (v6) expect((p[4]! << 8) | p[5]!).toBe(p.length - 40);
  else {
    expect((p[2]! << 8) | p[3]!).toBe(p.length);
    expect(sum16(p, 0, 20)).toBe(0xffff);
  }
  // The TCP checksum field holds the pseudo-header sum over the whole length.
  const pseudo = v6 ? sum16(p, 8, 40, 6 + p.length - ip) : sum16(p, 12, 20, 6 + p.length - ip);
  expect((p[ip + 16]! << 8) | p[ip + 17]!).toBe(pseudo);
  const out: Uint8Array[] = [];
  const seq0 = new DataView(p.buffer, p.byteOffset).getUint32(ip + 4);
  const id0 = v6 ? 0 : (p[4]! << 8) | p[5]!;
  for (let at = hdrLen, k = 0; at < p.length; at += gsoSize, k++) {
    const len = Math.min(gsoSize, p.length - at);
    const s = new Uint8Array(hdrLen + len);
    s.set(p.subarray(0, hdrLen));
    s.set(p.subarray(at, at + len), hdrLen);
    const n = s.length;
    if (v6) {
      s[4] = (n - 40) >> 8;
      s[5] = (n - 40) & 0xff;
    } else {
      s[2] = n >> 8;
      s[3] = n & 0xff;
      s[4] = ((id0 + k) >> 8) & 0xff;
      s[5] = (id0 + k) & 0xff;
      s[10] = s[11] = 0;
      const c = ~sum16(s, 0, 20) & 0xffff;
      s[10] = c >> 8;
      s[11] = c & 0xff;
    }
    new DataView(s.buffer).setUint32(ip + 4, (seq0 + (at - hdrLen)) >>> 0);
    // PSH only on the last segment (the kernel clears it on the others).
    if (at + len < p.length) s[ip + 13] = s[ip + 13]! & ~PSH;
    const ps = v6 ? sum16(s, 8, 40, 6 + n - ip) : sum16(s, 12, 20, 6 + n - ip);
    s[ip + 16] = s[ip + 17] = 0;
    const c = ~sum16(s, ip, n, ps) & 0xffff;
    s[ip + 16] = c >> 8;
    s[ip + 17] = c & 0xff;
    out.push(s);
  }
  return out;
}

/** Feeds the segments as tun.ts does; returns what it would write, in order. */
function run(segs: Uint8Array[]): { writes: Uint8Array[]; direct: number } {
  const g = new TcpCoalescer();
  const writes: Uint8Array[] = [];
  let direct = 0;
  const plain = (p: Uint8Array) => {
    const w = new Uint8Array(VNET_HDR + p.length);
    w.set(p, VNET_HDR);
    direct++;
    writes.push(w);
  };
  for (const s of segs) {
    if (g.add(s)) continue;
    if (g.holding) {
      writes.push(g.take()!.slice());
      if (g.add(s)) continue;
    }
    plain(s);
  }
  const last = g.take();
  if (last) writes.push(last.slice());
  return { writes, direct };
}

const stream = (n: number, mss: number, o: Partial<Seg> = {}) => Array.from({ length: n }, (_, i) => segment({ seq: 1000 + i * mss, id: 100 + i, payload: mss, ...o }));

describe("joining TCP segments", () => {
  for (const v6 of [false, true]) {
    test(`IPv${v6 ? 6 : 4}: a run of full segments and a shorter last one make one packet that cuts back into them`, () => {
      const segs = [...stream(5, 1388, { v6 }), segment({ v6, seq: 1000 + 5 * 1388, id: 105, payload: 700, flags: ACK | PSH })];
      const { writes } = run(segs);
      expect(writes).toHaveLength(1);
      expect(writes[0]![1]).toBe(v6 ? 4 : 1);
      expect(cut(writes[0]!).map((s) => [...s])).toEqual(segs.map((s) => [...s]));
    });
  }

  test("a sequence gap, another flow, other options, window or TTL, an IPv4 id out of step: a new packet", () => {
    const base = stream(2, 1000);
    const cases: Array<[string, Partial<Seg>]> = [
      ["gap", { seq: 1000 + 2 * 1000 + 1, id: 102 }],
      ["flow", { seq: 3000, id: 102, srcPort: 40001 }],
      ["options", { seq: 3000, id: 102, options: [1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 2] }],
      ["window", { seq: 3000, id: 102, window: 501 }],
      ["ack", { seq: 3000, id: 102, ack: 778 }],
      ["ttl", { seq: 3000, id: 102, ttl: 63 }],
      ["id", { seq: 3000, id: 110 }],
    ];
    for (const [what, o] of cases) {
      const segs = [...base, segment({ payload: 1000, ...o } as Seg)];
      const { writes } = run(segs);
      expect([what, writes.length]).toEqual([what, 2]);
      expect(writes.flatMap(cut).map((s) => [...s])).toEqual(segs.map((s) => [...s]));
    }
  });

  test("SYN, FIN, RST, ECN flags, a bare acknowledgement, UDP and a fragment go as they came, in order", () => {
    const s = stream(3, 1000);
    const fin = segment({ seq: 4000, id: 103, payload: 10, flags: ACK | 0x01 });
    const bare = segment({ seq: 4011, id: 104, payload: 0 });
    const ece = segment({ seq: 4011, id: 105, payload: 100, flags: ACK | 0x40 });
    const udp = segment({ seq: 1, payload: 30 });
    udp[9] = 17;
    const frag = segment({ seq: 1, payload: 30 });
    frag[6] = 0x20; // MF
    const segs = [s[0]!, s[1]!, fin, s[2]!, bare, ece, udp, frag];
    const { writes, direct } = run(segs);
    expect(direct).toBe(5);
    expect(writes.map((w) => w.subarray(VNET_HDR).length)).toEqual([...[s[0]!.length + 1000], fin.length, s[2]!.length, bare.length, ece.length, udp.length, frag.length]);
    expect(writes.flatMap(cut).map((x) => [...x])).toEqual(segs.map((x) => [...x]));
  });

  test("a segment whose own TCP checksum is wrong is not joined: it goes as it came, so the end host still drops it", () => {
    for (const v6 of [false, true]) {
      const s = stream(4, 1000, { v6 });
      const bad = s[2]!.slice();
      bad[bad.length - 7] = bad[bad.length - 7]! ^ 0x10; // a payload bit flipped before the tunnel
      const segs = [s[0]!, s[1]!, bad, s[3]!];
      const { writes } = run(segs);
      // The first two joined; the corrupt one alone, unchanged (its checksum still wrong); the last alone.
      expect(writes.map((w) => w[1])).toEqual([v6 ? 4 : 1, 0, 0]);
      expect([...writes[1]!.subarray(VNET_HDR)]).toEqual([...bad]);
      expect(writes.flatMap(cut).map((x) => [...x])).toEqual(segs.map((x) => [...x]));
    }
  });

  test("a segment larger than the first starts a new packet; a short one or PSH ends it; at most 64 segments", () => {
    const a = segment({ seq: 0, id: 1, payload: 500 });
    const b = segment({ seq: 500, id: 2, payload: 600 });
    expect(run([a, b]).writes).toHaveLength(2);
    const c = segment({ seq: 500, id: 2, payload: 200 });
    const d = segment({ seq: 700, id: 3, payload: 200 });
    expect(run([a, c, d]).writes).toHaveLength(2);
    const e = segment({ seq: 500, id: 2, payload: 500, flags: ACK | PSH });
    const f = segment({ seq: 1000, id: 3, payload: 500 });
    expect(run([a, e, f]).writes).toHaveLength(2);
    expect(run(stream(70, 100)).writes).toHaveLength(2);
    // 65535 bytes at most: 1400-byte segments, 46 fit.
    const big = stream(50, 1400);
    const w = run(big).writes;
    expect(w).toHaveLength(2);
    expect(w[0]!.length - VNET_HDR).toBeLessThanOrEqual(65535);
    expect(w.flatMap(cut).map((x) => [...x])).toEqual(big.map((x) => [...x]));
  });
});
