/**
 * Hostile control clients for `npm run chaos` (scripts/chaos.ts): run inside the namespace where
 * the daemon's HTTP control listens on loopback, it opens COUNT connections (CONCURRENCY at a
 * time, alternately to the HTTP listener and the Unix socket) each sending one malformed request
 * of a kind in rotation, then one burst of HOLD connections at once, and prints one JSON line:
 * connections per kind, how many the daemon must have refused or cut off (each such connection
 * counts at least one rejection in /status `control_rejected`), and how many got no answer.
 *
 *   bun scripts/chaos/hostile-control.ts '{"unix":"/path.sock","port":7080,"count":10000,"concurrency":50,"hold":1000,"seed":1}'
 */
import { type Target, talk } from "../../test/helpers/rawclient.ts";
import { SeededRandom } from "../../test/helpers/random.ts";

interface Kind {
  name: string;
  via: "http" | "unix";
  /** The daemon must refuse or cut off this connection (else it answers it properly). */
  rejected: boolean;
  chunks: (rng: SeededRandom) => Array<string | Uint8Array>;
  gapMs?: number;
}

const bytes = (rng: SeededRandom, n: number): Uint8Array => {
  const b = new Uint8Array(n);
  rng.fill(b);
  return b;
};

export const KINDS: Kind[] = [
  { name: "huge header", via: "http", rejected: true, chunks: () => [`GET /status HTTP/1.1\r\nX-Huge: ${"h".repeat(20_000)}\r\n\r\n`] },
  { name: "many headers", via: "http", rejected: true, chunks: () => [`GET /status HTTP/1.1\r\n${"X-A: b\r\n".repeat(2000)}\r\n`] },
  { name: "invalid UTF-8 line", via: "unix", rejected: true, chunks: () => [new Uint8Array([0xff, 0xfe, 0xc3, 0x28, 0x73, 0x0a, 0x71, 0x75, 0x69, 0x74, 0x0a])] },
  { name: "invalid UTF-8 request line", via: "http", rejected: true, chunks: () => [new Uint8Array([...Buffer.from("GET /\xc3\x28status HTTP/1.1\r\n\r\n", "latin1")])] },
  { name: "line without end", via: "unix", rejected: true, chunks: (r) => [bytes(r, 4096).map((b) => (b === 10 || b === 4 ? 65 : b))] },
  { name: "NUL and control bytes", via: "unix", rejected: true, chunks: () => ["\0\0\x01\x02\x1b[2J\nquit\n"] },
  { name: "unknown HTTP version", via: "http", rejected: true, chunks: () => ["GET /status HTTP/9.9\r\n\r\n"] },
  { name: "bad method", via: "http", rejected: true, chunks: () => ["DELETE /status HTTP/1.1\r\n\r\n"] },
  { name: "path traversal", via: "http", rejected: true, chunks: () => ["GET /../../etc/shadow HTTP/1.1\r\n\r\n"] },
  { name: "POST with a body", via: "http", rejected: true, chunks: () => ["POST /status HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", "x".repeat(100_000)] },
  { name: "garbage", via: "http", rejected: true, chunks: (r) => [bytes(r, 300), "\r\n\r\n"] },
  { name: "pipelined HTTP", via: "http", rejected: false, chunks: () => ["GET /status HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\n"] },
  { name: "pipelined lines", via: "unix", rejected: true, chunks: () => ["status\nmetrics\nbogus\nstatus\nquit\n"] },
  { name: "HTTP on the Unix socket, bad path", via: "unix", rejected: true, chunks: () => ["GET /nope HTTP/1.1\r\n\r\n"] },
];
/** Slow bodies: a request trickled a byte every 250 ms, cut off at the request deadline. Few, they take seconds each. */
const SLOW: Kind = { name: "slow request", via: "http", rejected: true, gapMs: 250, chunks: () => [..."GET /status HTTP/1.1\r\nX-Slow: " + "s".repeat(60)] };

if (import.meta.main) {
  const o = JSON.parse(process.argv[2]!) as { unix: string; port: number; count: number; concurrency: number; hold: number; seed: number; slow: number };
  const rng = new SeededRandom(o.seed);
  const targets: Record<"http" | "unix", Target> = { http: { hostname: "127.0.0.1", port: o.port }, unix: { unix: o.unix } };
  const perKind: Record<string, number> = {};
  let mustReject = 0;
  let unanswered = 0;
  let failed = 0;
  const started = performance.now();

  async function one(k: Kind): Promise<void> {
    perKind[k.name] = (perKind[k.name] ?? 0) + 1;
    if (k.rejected) mustReject++;
    try {
      const r = await talk(targets[k.via], k.chunks(rng), { gapMs: k.gapMs, timeoutMs: 15_000 });
      if (!r.closedByServer) unanswered++;
    } catch {
      failed++;
    }
  }

  // Slow clients run alongside the rest, a few at a time.
  const slow = Array.from({ length: o.slow }, () => one(SLOW));
  let next = 0;
  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (next < o.count) {
        const i = next++;
        await one(KINDS[i % KINDS.length]!);
      }
    }),
  );
  await Promise.all(slow);

  // HOLD connections at once, all held open: the ones over the client cap are refused at once;
  // the others are cut at the idle deadline. Every one of them counts a rejection.
  const held = await Promise.all(
    Array.from({ length: o.hold }, (_, i) => talk(i % 2 ? targets.unix : targets.http, [], { timeoutMs: 15_000 }).catch(() => null)),
  );
  perKind["held at once"] = o.hold;
  mustReject += o.hold;
  const heldFailed = held.filter((h) => h === null).length;
  const heldUnanswered = held.filter((h) => h && !h.closedByServer).length;
  console.log(JSON.stringify({ perKind, connections: o.count + o.slow + o.hold, mustReject, unanswered: unanswered + heldUnanswered, failed: failed + heldFailed, seconds: (performance.now() - started) / 1000 }));
}
