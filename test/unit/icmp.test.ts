import { describe, expect, test } from "bun:test";
import { buildPacketTooBig, ipTotalLength, ipVersion } from "../../src/core/icmp.ts";
import { xorshift } from "../helpers/random.ts";


/**
 * Ones'-complement sum written independently of the code under test: end-around carry is the
 * same as reducing modulo 0xffff, where a non-zero multiple of 0xffff is "negative zero".
 */
function onesComplementSum(...parts: Uint8Array[]): number {
  let total = 0;
  for (const part of parts) {
    const view = new DataView(part.buffer, part.byteOffset, part.byteLength);
    for (let i = 0; i < part.length; i += 2) total += i + 1 < part.length ? view.getUint16(i) : view.getUint8(i) * 256;
  }
  const reduced = total % 0xffff;
  return reduced === 0 && total > 0 ? 0xffff : reduced;
}

/** A region whose checksum field is correct sums to 0xffff (RFC 1071 §1). */
const checksumOk = (...parts: Uint8Array[]) => onesComplementSum(...parts) === 0xffff;

const ADDR4 = { a: [192, 0, 2, 10], b: [198, 51, 100, 7] } as const;
const ADDR6 = {
  a: Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a]),
  b: Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34]),
};

interface V4Options {
  src?: readonly number[];
  dst?: readonly number[];
  protocol?: number;
  dontFragment?: boolean;
  fragmentOffset?: number;
  options?: readonly number[];
  payload?: Uint8Array;
}

/** An IPv4 packet with a correct header checksum. */
function ipv4(o: V4Options = {}): Uint8Array {
  const options = o.options ?? [];
  const headerLength = 20 + options.length;
  const payload = o.payload ?? Uint8Array.from({ length: 1400 }, (_, i) => i & 0xff);
  const p = new Uint8Array(headerLength + payload.length);
  const view = new DataView(p.buffer);
  p[0] = 0x40 | (headerLength / 4);
  p[1] = 0x28;
  view.setUint16(2, p.length);
  view.setUint16(4, 0xbeef);
  view.setUint16(6, ((o.dontFragment ?? true) ? 0x4000 : 0) | (o.fragmentOffset ?? 0));
  p[8] = 57;
  p[9] = o.protocol ?? 17;
  p.set(o.src ?? ADDR4.a, 12);
  p.set(o.dst ?? ADDR4.b, 16);
  p.set(options, 20);
  view.setUint16(10, 0xffff - onesComplementSum(p.subarray(0, headerLength)));
  p.set(payload, headerLength);
  return p;
}

/** An IPv6 packet: `chain` is the extension headers plus upper-layer bytes after the fixed header. */
function ipv6(o: { src?: Uint8Array; dst?: Uint8Array; nextHeader?: number; chain?: Uint8Array } = {}): Uint8Array {
  const chain = o.chain ?? Uint8Array.from({ length: 1400 }, (_, i) => (i * 7) & 0xff);
  const p = new Uint8Array(40 + chain.length);
  const view = new DataView(p.buffer);
  view.setUint32(0, 0x6abcdef1); // traffic class and flow label that the error must not copy
  view.setUint16(4, chain.length);
  p[6] = o.nextHeader ?? 17;
  p[7] = 33;
  p.set(o.src ?? ADDR6.a, 8);
  p.set(o.dst ?? ADDR6.b, 24);
  p.set(chain, 40);
  return p;
}

const icmpV4 = (type: number, length = 64) => Uint8Array.from({ length }, (_, i) => (i === 0 ? type : 0));

function build(original: Uint8Array, mtu = 1400): Uint8Array {
  const out = new Uint8Array(1500);
  return out.subarray(0, buildPacketTooBig(original, mtu, out));
}

describe("the test's own checksum", () => {
  test("matches the RFC 1071 §3 worked example", () => {
    expect(onesComplementSum(Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]))).toBe(0xddf2);
  });
});

describe("ipVersion and ipTotalLength", () => {
  test("read the version and the announced length", () => {
    const v4 = ipv4({ payload: new Uint8Array(80) });
    const v6 = ipv6({ chain: new Uint8Array(60) });
    expect([ipVersion(v4), ipTotalLength(v4)]).toEqual([4, 100]);
    expect([ipVersion(v6), ipTotalLength(v6)]).toEqual([6, 100]);
    // The announced length, even when the buffer disagrees: the caller compares.
    expect(ipTotalLength(v4.subarray(0, 60))).toBe(100);
  });

  test("are 0 for anything that is not a whole fixed IP header", () => {
    expect(ipVersion(new Uint8Array(0))).toBe(0);
    expect(ipVersion(ipv4().subarray(0, 19))).toBe(0);
    expect(ipVersion(ipv6().subarray(0, 39))).toBe(0);
    expect(ipVersion(Uint8Array.from({ length: 40 }, (_, i) => (i === 0 ? 0x55 : 0)))).toBe(0);
    expect(ipTotalLength(new Uint8Array(0))).toBe(0);
    const badIhl = ipv4();
    badIhl[0] = 0x44;
    expect(ipTotalLength(badIhl)).toBe(0);
    const shortTotal = ipv4({ options: [1, 1, 1, 0] });
    new DataView(shortTotal.buffer).setUint16(2, 22); // less than its own 24-byte header
    expect(ipTotalLength(shortTotal)).toBe(0);
  });
});

describe("IPv4: fragmentation needed (RFC 792, RFC 1191)", () => {
  test("every field of the error", () => {
    const original = ipv4();
    const error = build(original, 1380);
    const view = new DataView(error.buffer, error.byteOffset, error.byteLength);
    expect(error.length).toBe(20 + 8 + 20 + 8);
    expect(error[0]).toBe(0x45);
    expect(error[1]).toBe(0xc0);
    expect(view.getUint16(2)).toBe(error.length);
    expect(view.getUint16(4)).toBe(0);
    expect(view.getUint16(6)).toBe(0x4000);
    expect(error[8]).toBe(64);
    expect(error[9]).toBe(1);
    expect([...error.subarray(12, 16)]).toEqual([...ADDR4.b]);
    expect([...error.subarray(16, 20)]).toEqual([...ADDR4.a]);
    expect(checksumOk(error.subarray(0, 20))).toBe(true);

    expect([error[20], error[21]]).toEqual([3, 4]);
    expect(view.getUint16(24)).toBe(0);
    expect(view.getUint16(26)).toBe(1380);
    expect([...error.subarray(28)]).toEqual([...original.subarray(0, 28)]);
    expect(checksumOk(error.subarray(20))).toBe(true);
  });

  test("quotes header options, and fewer than 8 payload bytes when that is all there is", () => {
    const withOptions = ipv4({ options: [0x94, 0x04, 0, 0] }); // router alert
    const error = build(withOptions);
    expect(error.length).toBe(20 + 8 + 24 + 8);
    expect([...error.subarray(28)]).toEqual([...withOptions.subarray(0, 32)]);

    const short = ipv4({ payload: Uint8Array.of(1, 2, 3) });
    const padded = new Uint8Array(short.length + 10);
    padded.set(short); // bytes past the announced length are not part of the packet
    const shortError = build(padded);
    expect([...shortError.subarray(28)]).toEqual([...short]);
    expect(checksumOk(shortError.subarray(20))).toBe(true);
  });

  test.each([0, 8, 13, 17, 42])("an ICMP query of type %i is answered", (type) => {
    expect(build(ipv4({ protocol: 1, payload: icmpV4(type) })).length).toBe(56);
  });

  test.each([
    ["DF clear", ipv4({ dontFragment: false })],
    ["a non-initial fragment", ipv4({ fragmentOffset: 185 })],
    ["an ICMP destination unreachable", ipv4({ protocol: 1, payload: icmpV4(3) })],
    ["an ICMP time exceeded", ipv4({ protocol: 1, payload: icmpV4(11) })],
    ["an ICMP redirect", ipv4({ protocol: 1, payload: icmpV4(5) })],
    ["an ICMP message of unknown type", ipv4({ protocol: 1, payload: icmpV4(200) })],
    ["ICMP without an ICMP header", ipv4({ protocol: 1, payload: new Uint8Array(0) })],
    ["a multicast source", ipv4({ src: [224, 0, 0, 5] })],
    ["a multicast destination", ipv4({ dst: [239, 1, 2, 3] })],
    ["the limited broadcast destination", ipv4({ dst: [255, 255, 255, 255] })],
    ["a class E source", ipv4({ src: [240, 0, 0, 1] })],
    ["the unspecified source", ipv4({ src: [0, 0, 0, 0] })],
    ["a loopback source", ipv4({ src: [127, 0, 0, 1] })],
    ["a truncated packet", ipv4().subarray(0, 100)],
    ["a header shorter than its IHL says", ipv4({ options: [1, 1, 1, 1] }).subarray(0, 22)],
  ])("no error for %s", (_, original) => {
    expect(buildPacketTooBig(original, 1400, new Uint8Array(1280))).toBe(0);
  });

  test("no error for a header with a bad checksum or an IHL below 5", () => {
    const corrupted = ipv4();
    corrupted[8] = (corrupted[8] ?? 0) + 1;
    expect(build(corrupted).length).toBe(0);
    const ihl4 = ipv4();
    ihl4[0] = 0x44;
    expect(build(ihl4).length).toBe(0);
  });
});

/** RFC 8200 §8.1 pseudo-header for an ICMPv6 message inside `packet`. */
function pseudoHeader(packet: Uint8Array, upperLength: number): Uint8Array {
  const p = new Uint8Array(40);
  p.set(packet.subarray(8, 40), 0);
  new DataView(p.buffer).setUint32(32, upperLength);
  p[39] = 58;
  return p;
}

/** Extension header with the generic layout: next header, length in 8-octet units beyond the first 8. */
function extension(nextHeader: number, units = 0): Uint8Array {
  const h = new Uint8Array(8 + units * 8);
  h[0] = nextHeader;
  h[1] = units;
  h[2] = 1; // PadN option, so the options area parses
  h[3] = h.length - 4;
  return h;
}

/** RFC 4302 AH with a 12-byte ICV: 24 bytes, length field (4-octet units minus 2) = 4. */
const authenticationHeader = (nextHeader: number) => Uint8Array.of(nextHeader, 4, ...new Array<number>(22).fill(0));

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};
const icmpV6 = (type: number, length = 64) => Uint8Array.from({ length }, (_, i) => (i === 0 ? type : 0));

describe("IPv6: Packet Too Big (RFC 4443 §3.2)", () => {
  test("every field of the error, quoting as much as fits in 1280 bytes", () => {
    const original = ipv6();
    const error = build(original, 1400);
    const view = new DataView(error.buffer, error.byteOffset, error.byteLength);
    expect(error.length).toBe(1280);
    expect(view.getUint32(0)).toBe(0x60000000);
    expect(view.getUint16(4)).toBe(1240);
    expect(error[6]).toBe(58);
    expect(error[7]).toBe(64);
    expect([...error.subarray(8, 24)]).toEqual([...ADDR6.b]);
    expect([...error.subarray(24, 40)]).toEqual([...ADDR6.a]);
    expect([error[40], error[41]]).toEqual([2, 0]);
    expect(view.getUint32(44)).toBe(1400);
    expect([...error.subarray(48)]).toEqual([...original.subarray(0, 1232)]);
    expect(checksumOk(pseudoHeader(error, 1240), error.subarray(40))).toBe(true);
  });

  test("a small original is quoted whole, odd length included", () => {
    const original = ipv6({ chain: Uint8Array.from({ length: 101 }, (_, i) => 255 - i) });
    const error = build(original, 1280);
    expect(error.length).toBe(48 + 141);
    expect([...error.subarray(48)]).toEqual([...original]);
    expect(checksumOk(pseudoHeader(error, 149), error.subarray(40))).toBe(true);
  });

  test.each([
    ["an echo request", ipv6({ nextHeader: 58, chain: icmpV6(128) })],
    ["an echo request behind hop-by-hop and destination options", ipv6({ nextHeader: 0, chain: concat(extension(60), extension(58, 1), icmpV6(128)) })],
    ["a later fragment, whose upper-layer header is not visible", ipv6({ nextHeader: 44, chain: concat(Uint8Array.of(58, 0, 0x05, 0x00, 1, 2, 3, 4), new Uint8Array(64)) })],
    ["a first fragment of an echo request", ipv6({ nextHeader: 44, chain: concat(Uint8Array.of(58, 0, 0, 0x01, 1, 2, 3, 4), icmpV6(128)) })],
    ["an echo request behind an authentication header", ipv6({ nextHeader: 51, chain: concat(authenticationHeader(58), icmpV6(128)) })],
  ])("answers %s", (_, original) => {
    const error = build(original, 1300);
    expect(error.length).toBe(48 + original.length);
    expect(checksumOk(pseudoHeader(error, error.length - 40), error.subarray(40))).toBe(true);
  });

  const multicast = Uint8Array.from([0xff, 0x02, ...new Array<number>(13).fill(0), 1]);
  const loopback = Uint8Array.from([...new Array<number>(15).fill(0), 1]);
  test.each([
    ["an ICMPv6 destination unreachable", ipv6({ nextHeader: 58, chain: icmpV6(1) })],
    ["an ICMPv6 packet too big", ipv6({ nextHeader: 58, chain: icmpV6(2) })],
    ["an ICMPv6 parameter problem", ipv6({ nextHeader: 58, chain: icmpV6(4) })],
    ["an ICMPv6 redirect", ipv6({ nextHeader: 58, chain: icmpV6(137) })],
    ["an ICMPv6 error behind extension headers", ipv6({ nextHeader: 0, chain: concat(extension(43, 2), extension(58), icmpV6(3)) })],
    ["a first fragment of an ICMPv6 error", ipv6({ nextHeader: 44, chain: concat(Uint8Array.of(58, 0, 0, 0x01, 1, 2, 3, 4), icmpV6(1)) })],
    ["an ICMPv6 error behind an authentication header", ipv6({ nextHeader: 51, chain: concat(authenticationHeader(58), icmpV6(1)) })],
    ["ICMPv6 without an ICMPv6 header", ipv6({ nextHeader: 58, chain: new Uint8Array(0) })],
    ["ICMPv6 whose header would lie past the announced length", concat(ipv6({ nextHeader: 58, chain: new Uint8Array(0) }), icmpV6(128))],
    ["an extension header running past the packet", ipv6({ nextHeader: 0, chain: Uint8Array.of(58, 9, 0, 0, 0, 0, 0, 0) })],
    ["a multicast destination (no unicast source of our own to answer from)", ipv6({ dst: multicast })],
    ["a multicast source", ipv6({ src: multicast })],
    ["the unspecified source", ipv6({ src: new Uint8Array(16) })],
    ["a loopback source", ipv6({ src: loopback })],
    ["a truncated packet", ipv6().subarray(0, 1000)],
  ])("no error for %s", (_, original) => {
    expect(buildPacketTooBig(original, 1400, new Uint8Array(1280))).toBe(0);
  });

  test("no error with an MTU below the IPv6 minimum of 1280", () => {
    expect(build(ipv6(), 1279).length).toBe(0);
    expect(build(ipv4(), 1279).length).toBe(56);
  });
});

describe("arguments and hostile input", () => {
  test("an MTU outside 68..65535 or a short output buffer is a caller bug", () => {
    for (const mtu of [67, 65536, 1400.5, Number.NaN]) expect(() => buildPacketTooBig(ipv4(), mtu, new Uint8Array(1280))).toThrow(RangeError);
    expect(() => buildPacketTooBig(ipv4(), 1400, new Uint8Array(1279))).toThrow(RangeError);
  });

  test("nothing else that is not IPv4 or IPv6 gets an answer", () => {
    expect(build(new Uint8Array(0)).length).toBe(0);
    const v5 = ipv4();
    v5[0] = 0x55;
    expect(build(v5).length).toBe(0);
  });

  test("10 000 random buffers never throw, and any answer is well formed", () => {
    const random = xorshift(0x1cb9);
    const templates = [ipv4(), ipv4({ protocol: 1, payload: icmpV4(8) }), ipv6(), ipv6({ nextHeader: 0, chain: concat(extension(58), icmpV6(128)) })];
    const out = new Uint8Array(1280);
    let answered = 0;
    for (let i = 0; i < 10_000; i++) {
      const length = Math.floor(random() * 1601);
      let buffer: Uint8Array;
      if (i % 2 === 0) {
        // Pure noise, with a plausible first byte half of the time so parsing gets further.
        buffer = Uint8Array.from({ length }, () => Math.floor(random() * 256));
        if (length > 0 && random() < 0.5) buffer[0] = random() < 0.5 ? 0x45 : 0x60;
      } else {
        // A valid packet, cut to a random length and with a few bytes flipped.
        const template = templates[i % templates.length]!;
        buffer = template.slice(0, Math.min(length, template.length));
        for (let flips = Math.floor(random() * 4); flips > 0 && buffer.length > 0; flips--) {
          buffer[Math.floor(random() * buffer.length)] = Math.floor(random() * 256);
        }
      }
      const written = buildPacketTooBig(buffer, 1280 + Math.floor(random() * 200), out);
      if (written === 0) continue;
      answered++;
      const error = out.subarray(0, written);
      if (ipVersion(error) === 4) {
        expect(written).toBeLessThanOrEqual(20 + 8 + 60 + 8);
        expect(checksumOk(error.subarray(0, 20)) && checksumOk(error.subarray(20))).toBe(true);
      } else {
        expect(ipVersion(error)).toBe(6);
        expect(written).toBeLessThanOrEqual(1280);
        expect(checksumOk(pseudoHeader(error, written - 40), error.subarray(40))).toBe(true);
      }
      expect(ipTotalLength(error)).toBe(written);
    }
    expect(answered).toBeGreaterThan(100); // the mutated templates do reach the builders
  });
});
