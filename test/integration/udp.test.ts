/**
 * Link sockets (src/io/udp.ts) on loopback, without root: bound by Bun, then read with recvfrom
 * and written with sendto on the fd taken over. Datagrams arrive intact and in buffers of their
 * own, the source is decoded (and follows a change of sender), IPv6 and dual-stack sockets work,
 * and errors come back as codes instead of exceptions.
 */
import { afterEach, expect, test } from "bun:test";
import { type LinkSocket, openLinkSocket } from "../../src/io/udp.ts";

interface Received {
  bytes: Uint8Array;
  address: string;
  port: number;
}

const open: LinkSocket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

async function socket(hostname: string): Promise<{ s: LinkSocket; got: Received[] }> {
  const got: Received[] = [];
  const s = await openLinkSocket({ hostname, port: 0, onDatagram: (bytes, address, port) => got.push({ bytes, address, port }), afterDatagrams() {} });
  open.push(s);
  return { s, got };
}

/** Drains until `n` datagrams arrived (bounded: 200 × 5 ms). */
async function drainUntil(s: LinkSocket, got: Received[], n: number): Promise<void> {
  for (let k = 0; k < 200 && got.length < n; k++) {
    if (s.drain(1024) === 0) await Bun.sleep(5);
  }
}

test("datagrams arrive intact, each in its own buffer, with their source", async () => {
  const a = await socket("127.0.0.1");
  const b = await socket("127.0.0.1");
  expect(a.s.fd).toBeGreaterThanOrEqual(0);
  const sent = Array.from({ length: 50 }, (_, i) => new Uint8Array(1 + ((i * 97) % 1500)).fill(i));
  for (const d of sent) expect(a.s.send(d, "127.0.0.1", b.s.localPort)).toBeUndefined();
  await drainUntil(b.s, b.got, sent.length);
  expect(b.got.map((r) => [...r.bytes])).toEqual(sent.map((d) => [...d]));
  expect(b.got.every((r) => r.address === "127.0.0.1" && r.port === a.s.localPort)).toBe(true);
  // Buffers of their own: changing one changes no other.
  b.got[0]!.bytes.fill(0xee);
  expect([...b.got[1]!.bytes]).toEqual([...sent[1]!]);
  expect(b.s.drain(1024)).toBe(0);
});

test("a new sender is seen as such (the decoded source follows it)", async () => {
  const a = await socket("127.0.0.1");
  const c = await socket("127.0.0.1");
  const b = await socket("127.0.0.1");
  a.s.send(Uint8Array.of(1), "127.0.0.1", b.s.localPort);
  await drainUntil(b.s, b.got, 1);
  c.s.send(Uint8Array.of(2), "127.0.0.1", b.s.localPort);
  await drainUntil(b.s, b.got, 2);
  a.s.send(Uint8Array.of(3), "127.0.0.1", b.s.localPort);
  await drainUntil(b.s, b.got, 3);
  expect(b.got.map((r) => [r.bytes[0], r.port])).toEqual([
    [1, a.s.localPort],
    [2, c.s.localPort],
    [3, a.s.localPort],
  ]);
});

test("IPv6, and a dual-stack socket reaching an IPv4 peer through its mapped address", async () => {
  const v6 = await socket("::1");
  const any = await socket("::");
  const v4 = await socket("127.0.0.1");
  expect(v6.s.send(Uint8Array.of(6), "::1", any.s.localPort)).toBeUndefined();
  expect(v4.s.send(Uint8Array.of(4), "127.0.0.1", any.s.localPort)).toBeUndefined();
  await drainUntil(any.s, any.got, 2);
  const bySource = Object.fromEntries(any.got.map((r) => [r.address, r.bytes[0]]));
  expect(bySource).toEqual({ "::1": 6, "::ffff:127.0.0.1": 4 });
  // Answers go back to both, the IPv4 one written plain or mapped.
  expect(any.s.send(Uint8Array.of(7), "::ffff:127.0.0.1", v4.s.localPort)).toBeUndefined();
  expect(any.s.send(Uint8Array.of(8), "127.0.0.1", v4.s.localPort)).toBeUndefined();
  await drainUntil(v4.s, v4.got, 2);
  expect(v4.got.map((r) => r.bytes[0])).toEqual([7, 8]);
});

test("errors are returned, not thrown", async () => {
  const a = await socket("127.0.0.1");
  expect(a.s.send(Uint8Array.of(1), "::1", 9)).toMatch(/IPv4 socket/);
  expect(a.s.send(Uint8Array.of(1), "not an address", 9)).toBeString();
  expect(a.s.send(new Uint8Array(70_000), "127.0.0.1", 9)).toBe("EMSGSIZE");
});
