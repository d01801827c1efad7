/**
 * Control-interface load, run as its own process (inside the client router's namespace, where
 * the HTTP listener is on loopback): rounds of CLIENTS concurrent clients, alternately
 * on the Unix socket (line command `status`) and over HTTP (`GET /status`), while one slowloris
 * client per listener trickles a byte per GAP ms. A round starts every EVERY ms (or when the
 * previous one ends, if later) for DURATION ms (at least one round, at most MAX_ROUNDS). Prints
 * one JSON line: every answer body with its timing, and how long each slowloris client was kept.
 *
 *   bun test/lab/control-load.ts '{"unix":"/run/x.sock","port":7070,"clients":200,"durationMs":4000,"everyMs":500,"slowGapMs":1000}'
 */
import { parseHttp, type Target, talk } from "../helpers/rawclient.ts";

const o = JSON.parse(process.argv[2]!) as { unix: string; port: number; clients: number; durationMs: number; everyMs: number; slowGapMs: number };
const MAX_ROUNDS = 100;
const unix: Target = { unix: o.unix };
const http: Target = { hostname: "127.0.0.1", port: o.port };

async function one(i: number): Promise<{ via: string; ok: boolean; body: string; ms: number }> {
  const via = i % 2 === 0 ? "unix" : "http";
  try {
    if (via === "unix") {
      const r = await talk(unix, ["status\nquit\n"], { timeoutMs: 10_000 });
      return { via, ok: r.closedByServer && r.text.endsWith("\nbye.\n"), body: r.text.replace(/bye\.\n$/, ""), ms: r.ms };
    }
    const r = await talk(http, ["GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"], { timeoutMs: 10_000 });
    const a = parseHttp(r.text);
    return { via, ok: r.closedByServer && a.status === 200, body: a.body, ms: r.ms };
  } catch (e) {
    return { via, ok: false, body: String(e), ms: 0 };
  }
}

const slow = [
  talk(http, [..."GET /status HTTP/1.1\r\nX-Slow: " + "z".repeat(60)], { gapMs: o.slowGapMs, timeoutMs: 30_000 }).then((r) => ({ via: "http", ...r })),
  talk(unix, [..."status".repeat(10)], { gapMs: o.slowGapMs, timeoutMs: 30_000 }).then((r) => ({ via: "unix", ...r })),
];
const rounds = [];
const started = Date.now();
for (let k = 0; k < MAX_ROUNDS && (k === 0 || Date.now() - started < o.durationMs); k++) {
  const startedEpochMs = Date.now();
  const answers = await Promise.all(Array.from({ length: o.clients }, (_, i) => one(i)));
  rounds.push({ startedEpochMs, endedEpochMs: Date.now(), answers });
  await Bun.sleep(Math.max(0, startedEpochMs + o.everyMs - Date.now()));
}
console.log(JSON.stringify({ rounds, slow: await Promise.all(slow) }));
process.exit(0);
