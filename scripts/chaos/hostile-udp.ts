/**
 * Hostile datagrams for `npm run chaos` (scripts/chaos.ts): run inside a lab namespace, it sends
 * COUNT datagrams, spread over the TARGETS in turn, as fast as the socket takes them, and prints
 * one JSON line with what it sent per kind.
 *
 *   bun scripts/chaos/hostile-udp.ts --targets HOST:PORT[,HOST:PORT...] --count N --captures FILE
 *       [--seed S] [--max-seconds T]
 *
 * Kinds, in rotation: random bytes (1..1500), captured datagrams truncated, captured datagrams
 * with 1..8 bits flipped, captured datagrams replayed as they are, datagrams of the maximal UDP
 * length (65 507 bytes: a capture followed by random bytes), and empty datagrams.
 * FILE: the captured datagrams' payloads, as written by scripts/chaos.ts (length-prefixed).
 */
import { readFileSync } from "node:fs";
import { SeededRandom } from "../../test/helpers/random.ts";

export const KINDS = ["random", "truncated", "bit-flipped", "replayed", "maximal", "empty"] as const;
const MAX_UDP = 65_507;

/** Reads the length-prefixed (u32 big-endian) payloads written by the capture step. */
export function readCaptures(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let off = 0; off + 4 <= bytes.length; ) {
    const n = view.getUint32(off);
    off += 4;
    if (off + n > bytes.length) break;
    out.push(bytes.subarray(off, off + n));
    off += n;
  }
  return out;
}

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}

if (import.meta.main) {
  const targets = arg("targets").split(",").map((t) => {
    const i = t.lastIndexOf(":");
    return { host: t.slice(0, i), port: Number(t.slice(i + 1)) };
  });
  const count = Number(arg("count"));
  const captures = readCaptures(new Uint8Array(readFileSync(arg("captures"))));
  if (captures.length === 0) throw new Error("no captured datagrams to mutate");
  const rng = new SeededRandom(Number(arg("seed", "1")));
  const int = (n: number): number => Math.floor(rng.float() * n);
  const deadline = performance.now() + Number(arg("max-seconds", "300")) * 1000;
  const pool = new Uint8Array(MAX_UDP);
  rng.fill(pool);
  const scratch = new Uint8Array(MAX_UDP);
  const sent: Record<string, number> = Object.fromEntries(KINDS.map((k) => [k, 0]));
  const perTarget = targets.map(() => 0);
  let refused = 0;
  const socket = await Bun.udpSocket({});

  /** The i-th hostile datagram (a view into scratch or pool, valid until the next call). */
  function make(kind: (typeof KINDS)[number]): Uint8Array {
    const cap = captures[int(captures.length)]!;
    switch (kind) {
      case "random": {
        const n = 1 + int(1500);
        const off = int(pool.length - n);
        return pool.subarray(off, off + n);
      }
      case "truncated":
        return cap.subarray(0, int(cap.length));
      case "bit-flipped": {
        scratch.set(cap);
        const flips = 1 + int(8);
        for (let f = 0; f < flips; f++) {
          const bit = int(cap.length * 8);
          scratch[bit >> 3]! ^= 1 << (bit & 7);
        }
        return scratch.subarray(0, cap.length);
      }
      case "replayed":
        return cap;
      case "maximal":
        scratch.set(pool.subarray(0, MAX_UDP));
        scratch.set(cap);
        return scratch;
      case "empty":
        return scratch.subarray(0, 0);
    }
  }

  const started = performance.now();
  let i = 0;
  for (; i < count && performance.now() < deadline; i++) {
    const kind = KINDS[i % KINDS.length]!;
    const t = i % targets.length;
    const d = make(kind);
    // send() returns false when the socket buffer is full: wait for it to drain, bounded.
    // An error (e.g. ECONNREFUSED from an earlier ICMP) counts the datagram as not sent.
    let tries = 0;
    let ok = false;
    while (tries++ < 1000) {
      try {
        ok = socket.send(d, targets[t]!.port, targets[t]!.host);
      } catch {
        break;
      }
      if (ok) break;
      await Bun.sleep(0);
    }
    if (ok) {
      sent[kind]!++;
      perTarget[t]!++;
    } else refused++;
  }
  socket.close();
  console.log(JSON.stringify({ sent, perTarget, total: i - refused, refused, seconds: (performance.now() - started) / 1000 }));
}
