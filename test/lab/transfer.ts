/**
 * A TCP transfer through the tunnel, checked end to end: a sink on the internet host hashes what
 * it receives, a source on the LAN host sends seeded pseudo-random bytes and reports their
 * SHA-256. Shared by the end-to-end tests.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Topology } from "./topology.ts";

const BUN = process.execPath;

/** Receives one TCP stream on the internet host and prints its SHA-256 and length. */
const SINK = (host: string) => `
const h = new Bun.CryptoHasher("sha256"); let n = 0;
Bun.listen({ hostname: "${host}", port: 7000, socket: {
  data(s, d) { h.update(d); n += d.length; },
  close() { console.log(JSON.stringify({ sha256: h.digest("hex"), bytes: n })); process.exit(0); },
}});
console.log("listening");
`;

/** Sends MB of seeded pseudo-random bytes at about RATE MB/s (0 = at once), then prints their SHA-256. */
const SOURCE = (host: string) => `
const mb = Number(process.argv[2]), rate = Number(process.argv[3]);
const total = mb * 1024 * 1024, data = new Uint8Array(total); let x = 12345;
for (let i = 0; i < total; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; data[i] = x & 255; }
const sha256 = new Bun.CryptoHasher("sha256").update(data).digest("hex");
let off = 0; const started = performance.now();
function pump(s) {
  while (off < total) {
    if (rate > 0 && off / 1048576 > ((performance.now() - started) / 1000) * rate) return void setTimeout(() => pump(s), 5);
    const w = s.write(data.subarray(off, Math.min(total, off + 65536)));
    off += w;
    if (w === 0) return;
  }
  s.end();
}
await Bun.connect({ hostname: "${host}", port: 7000, socket: {
  open(s) { pump(s); }, data() {}, drain(s) { pump(s); },
  close() { console.log(JSON.stringify({ sha256, bytes: off, seconds: (performance.now() - started) / 1000 })); process.exit(0); },
}});
`;

export interface TransferResult {
  sent: { sha256: string; bytes: number; seconds: number };
  received: { sha256: string; bytes: number };
}

/** Sends MB from the LAN host to the internet host at about RATE MB/s (0 = as fast as it goes); `during` runs meanwhile. */
export async function transfer(topo: Topology, dir: string, mb: number, rateMBps: number, during?: () => Promise<void>): Promise<TransferResult> {
  writeFileSync(join(dir, "sink.ts"), SINK(topo.internetHost));
  writeFileSync(join(dir, "source.ts"), SOURCE(topo.internetHost));
  const sink = topo.lab.spawn("inet", [BUN, join(dir, "sink.ts")], { stdout: "pipe", stderr: join(dir, "sink.err") });
  const reader = (sink.stdout as ReadableStream<Uint8Array>).getReader();
  const first = await reader.read();
  const greeting = new TextDecoder().decode(first.value);
  if (!greeting.includes("listening")) throw new Error(`the sink did not start: ${greeting}`);
  const source = topo.lab.spawn("lan", [BUN, join(dir, "source.ts"), String(mb), String(rateMBps)], { stdout: "pipe", stderr: join(dir, "source.err") });
  if (during) await during();
  const sentText = await Promise.race([new Response(source.stdout as ReadableStream).text(), Bun.sleep(90_000).then(() => "")]);
  let receivedText = "";
  for (let r = await reader.read(); !r.done; r = await reader.read()) receivedText += new TextDecoder().decode(r.value);
  if (!sentText || !receivedText) throw new Error(`transfer did not finish (sent: ${sentText || "-"}, received: ${receivedText || "-"})`);
  return { sent: JSON.parse(sentText), received: JSON.parse(receivedText) };
}
