/**
 * Measures, side by side, what Bun.serve and our control listener (src/control/server.ts) do with
 * slow and hostile HTTP clients, so the choice written at the top of src/control/server.ts can be
 * checked again on a newer Bun:
 *
 *   npx bun scripts/control-serve-limits.ts
 *
 * For each server: how long a client that trickles its request head (one byte every 200 ms), one
 * that sends half a head then nothing, and one that sends nothing stay connected; which head size
 * is refused with 431; and how many idle connections are held at once. Bun.serve runs with
 * idleTimeout 1 s (its only timeout option) to show that it does not shorten the head deadline.
 * Takes about 15 s (the longest of Bun.serve's deadlines, bounded at 40 s here).
 */
import { DEFAULT_LIMITS, startControl } from "../src/control/server.ts";
import type { Logger } from "../src/log.ts";
import { talk } from "../test/helpers/rawclient.ts";

const GIVE_UP_MS = 40_000;
const IDLE_CONNECTIONS = 2 * DEFAULT_LIMITS.maxClients;
const quiet: Logger = { error() {}, warn() {}, info() {}, debug() {} };

type Tcp = { hostname: string; port: number };

async function measure(name: string, tcp: Tcp): Promise<void> {
  const head = [..."GET /status HTTP/1.1\r\nX-Slow: " + "z".repeat(GIVE_UP_MS / 200)];
  const cut = (t: { closedByServer: boolean; ms: number }) => (t.closedByServer ? `cut after ${(t.ms / 1000).toFixed(1)} s` : `still connected after ${GIVE_UP_MS / 1000} s`);
  const [trickle, half, silent] = await Promise.all([
    talk(tcp, head, { gapMs: 200, timeoutMs: GIVE_UP_MS }),
    talk(tcp, ["GET /status HTTP/1.1\r\n"], { timeoutMs: GIVE_UP_MS }),
    talk(tcp, [], { timeoutMs: GIVE_UP_MS }),
  ]);
  console.log(`${name}: head trickled 1 byte/200 ms ${cut(trickle)}; half a head then silence ${cut(half)}; silent ${cut(silent)}`);

  const refused: number[] = [];
  for (const kib of [4, 8, 12, 16, 20]) {
    const r = await talk(tcp, [`GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${"y".repeat(kib * 1024 - 64)}\r\n\r\n`]);
    if (r.text.startsWith("HTTP/1.1 431")) refused.push(kib);
  }
  console.log(`${name}: request heads of ~${refused.join(", ")} KiB refused with 431 (4 to 20 KiB tried)`);

  let closed = 0;
  const sockets = [];
  for (let i = 0; i < IDLE_CONNECTIONS; i++) sockets.push(await Bun.connect({ ...tcp, socket: { data() {}, close: () => void closed++ } }));
  await Bun.sleep(500);
  console.log(`${name}: ${IDLE_CONNECTIONS - closed} of ${IDLE_CONNECTIONS} idle connections held after 0.5 s`);
  for (const s of sockets) s.terminate();
}

const serve = Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 1, fetch: () => new Response("{}\n") });
const ours = await startControl({ http: { host: "127.0.0.1", port: 0 }, content: { status: () => "{}\n", metrics: () => "" }, log: quiet });
console.log(`Bun ${Bun.version}; our limits: ${DEFAULT_LIMITS.requestMs} ms for a request head, ${DEFAULT_LIMITS.maxHeadBytes} bytes of head, ${DEFAULT_LIMITS.maxClients} clients`);
await Promise.all([measure("Bun.serve", { hostname: "127.0.0.1", port: serve.port! }), measure("src/control/server.ts", { hostname: "127.0.0.1", port: ours.httpPort! })]);
serve.stop(true);
ours.close();
