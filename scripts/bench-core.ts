/**
 * CPU per packet of the sans-I/O core alone: a client and a server Tunnel joined by two
 * zero-loss 5 ms links on a virtual clock, the client's tun sending 1400-byte packets at a
 * fixed rate (TCP-less: the same packets whatever the core decides). Both ends' work counts
 * (seal, schedule, pace, acknowledge, open, reorder, deliver). No sockets, no tun, no root.
 *
 *   bun scripts/bench-core.ts [TREE…]     each TREE is a checkout (default: this one)
 *
 * With several trees the runs alternate (A B A B …) in one process, so that a loaded machine
 * weighs on all of them alike: compare the ratios, not the absolute numbers.
 */
import { resolve } from "node:path";

const trees = process.argv.slice(2).filter((a) => !a.startsWith("-"));
if (trees.length === 0) trees.push(resolve(import.meta.dir, ".."));
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const PACKETS = Number(process.env.PACKETS ?? 40_000);
const RATE_PPS = 8000; // 1400 B at 8000/s: 90 Mbit/s over two links
const DELAY_MS = 5;
/** CHECK=1: also a digest of every datagram sent (slower; not for timing), to show two trees put the same bytes on the wire. */
const CHECK = process.env.CHECK === "1";

/** xorshift32: the same bytes for every tree, so that both runs do the same work. */
function seeded(seed: number) {
  let x = seed >>> 0 || 1;
  return {
    fill(b: Uint8Array) {
      for (let i = 0; i < b.length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        b[i] = x & 0xff;
      }
    },
  };
}

interface Core {
  handleTunPacket(p: Uint8Array, now: number): void;
  handleDatagram(link: number, d: Uint8Array, from: { address: string; port: number }, now: number): void;
  handleTimeout(now: number): void;
  nextTimeout(): number;
  setPeer(link: number, peer: { address: string; port: number }, now: number): void;
}

async function load(tree: string) {
  const { Tunnel } = await import(`${tree}/src/core/tunnel.ts`);
  const { handshakeSecrets, nativeHandshakeCrypto } = await import(`${tree}/src/core/handshake.ts`);
  const { passwordKey } = await import(`${tree}/src/crypto/primitives.ts`);
  // The stretching is not what is measured: a cheap one (as test/sim/simnet.ts does).
  const crypto = { ...nativeHandshakeCrypto, stretch: (pw: Uint8Array, salt: Uint8Array) => passwordKey(pw, salt, { N: 16, r: 1, p: 1, maxmem: 1 << 20 }) };
  return { Tunnel, secrets: () => handshakeSecrets("bench password", "aes-256-gcm", crypto) };
}

function linkConfig(i: number) {
  return { name: `l${i}`, bindfib: 0, bandwidth_upload: 0, timeout: 30, loss_tolerence: 100, latency_tolerence: 1000, fallback_only: false, priority: 0 };
}

async function run(tree: string): Promise<{ usPerPacket: number; delivered: number; digest: string }> {
  const hash = CHECK ? new Bun.CryptoHasher("sha256") : undefined;
  const { Tunnel, secrets } = await load(tree);
  type Q = { at: number; to: 0 | 1; link: number; bytes: Uint8Array }[];
  const queue: Q = [];
  let head = 0;
  let delivered = 0;
  let now = 0;
  const make = (side: 0 | 1): Core =>
    new Tunnel({
      mode: side === 0 ? "client" : "server",
      links: [linkConfig(0), linkConfig(1)],
      secrets: secrets(),
      cleartextData: false,
      reorderBufferSize: 1024,
      maxPacketSize: 1432,
      kind: "tun",
      random: seeded(side + 1),
      nowMs: 0,
      output: {
        // Both directions have the same delay: arrivals stay in sending order.
        transmit: (link: number, d: Uint8Array) => {
          hash?.update(d);
          queue.push({ at: now + DELAY_MS, to: side === 0 ? 1 : 0, link, bytes: d.slice() });
        },
        deliver: () => void (side === 1 && delivered++),
        event: () => {},
        log: () => {},
      },
    });
  const ends = [make(0), make(1)];
  const from = [
    { address: "10.0.0.1", port: 5000 },
    { address: "10.0.0.2", port: 5000 },
  ];
  for (let l = 0; l < 2; l++) ends[0]!.setPeer(l, { address: "10.0.0.2", port: 5000 }, 0);
  const packet = new Uint8Array(1400);
  packet[0] = 0x45;
  const step = (until: number, tunEvery: number, count: number): void => {
    let nextTun = tunEvery > 0 ? now : Number.POSITIVE_INFINITY;
    let sent = 0;
    for (;;) {
      const arrival = head < queue.length ? queue[head]!.at : Number.POSITIVE_INFINITY;
      const t = Math.min(arrival, nextTun, ends[0]!.nextTimeout(), ends[1]!.nextTimeout());
      if (t > until) break;
      now = Math.max(now, t);
      if (nextTun <= now) {
        ends[0]!.handleTunPacket(packet, now);
        nextTun = ++sent < count ? nextTun + tunEvery : Number.POSITIVE_INFINITY;
      } else if (arrival <= now) {
        // Every datagram due, then one look at the timers: as the daemon's poll loop drains its
        // sockets before it asks for the next deadline.
        while (head < queue.length && queue[head]!.at <= now) {
          const d = queue[head++]!;
          ends[d.to]!.handleDatagram(d.link, d.bytes, from[d.to === 1 ? 0 : 1]!, now);
        }
        if (head > 4096) queue.splice(0, head), (head = 0);
      } else {
        for (const e of ends) if (e.nextTimeout() <= now) e.handleTimeout(now);
      }
    }
    now = until;
  };
  step(3000, 0, 0); // handshakes, first keepalives
  const cpu0 = process.cpuUsage();
  const start = now;
  step(start + (PACKETS / RATE_PPS) * 1000 + 1000, 1000 / RATE_PPS, PACKETS);
  const cpu = process.cpuUsage(cpu0);
  return { usPerPacket: (cpu.user + cpu.system) / PACKETS, delivered, digest: hash ? hash.digest("hex").slice(0, 16) : "-" };
}

const results = new Map<string, number[]>(trees.map((t) => [t, []]));
const deliveredBy = new Map<string, string>();
// Round 0 warms the JIT for every tree and is not counted.
for (let r = 0; r <= ROUNDS; r++) {
  for (const tree of r % 2 === 0 ? trees : [...trees].reverse()) {
    const { usPerPacket, delivered, digest } = await run(tree);
    if (r > 0) results.get(tree)!.push(usPerPacket);
    deliveredBy.set(tree, `${delivered} of ${PACKETS} delivered, wire digest ${digest}`);
  }
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const base = median(results.get(trees[0]!)!);
for (const tree of trees) {
  const m = median(results.get(tree)!);
  console.log(`${tree}: ${m.toFixed(2)} µs CPU per packet (median of ${ROUNDS}; runs ${results.get(tree)!.map((x) => x.toFixed(2)).join(" ")}), ${deliveredBy.get(tree)}, ×${(m / base).toFixed(3)} vs the first`);
}
