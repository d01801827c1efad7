/**
 * The control listeners with real sockets (no root needed): the Unix socket's file handling and
 * mode, the line commands, HTTP answers, and every limit — line and head size, idle and request
 * deadlines (slowloris), unread output, the client cap — plus 200 clients at once.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ControlLimits, type ControlServer, ControlStartError, startControl } from "../../src/control/server.ts";
import type { Logger } from "../../src/log.ts";
import { type ControlContent, METRICS_TYPE } from "../../src/control/protocol.ts";
import { parseHttp, talk } from "../helpers/rawclient.ts";
import { tempDir } from "../helpers/run.ts";
import { waitFor } from "../lab/netns.ts";

const { dir, cleanup } = tempDir("mlvpn-control-");
afterAll(cleanup);

const logs: string[] = [];
const log: Logger = {
  error: (t, m) => void logs.push(`error/${t}: ${m}`),
  warn: (t, m) => void logs.push(`warn/${t}: ${m}`),
  info: (t, m) => void logs.push(`info/${t}: ${m}`),
  debug: (t, m) => void logs.push(`debug/${t}: ${m}`),
};

let served = 0;
const STATUS = `${JSON.stringify({ name: "mlvpn", tunnels: [{ name: 'a"b' }] })}\n`;
const content: ControlContent = {
  status: () => (served++, STATUS),
  metrics: () => "# HELP mlvpn_x x\n# TYPE mlvpn_x gauge\nmlvpn_x 1\n",
};

let n = 0;
const servers: ControlServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function start(o: { unix?: boolean; http?: boolean; limits?: Partial<ControlLimits>; content?: ControlContent } = {}) {
  const unixPath = o.unix === false ? undefined : join(dir, `c${++n}.sock`);
  const s = await startControl({ unixPath, http: o.http ? { host: "127.0.0.1", port: 0 } : undefined, content: o.content ?? content, log, limits: o.limits });
  servers.push(s);
  return { s, unix: { unix: unixPath! }, tcp: { hostname: "127.0.0.1", port: s.httpPort! } };
}

describe("the Unix socket", () => {
  test("mode 0600, owned by us; removed on close", async () => {
    const { s, unix } = await start();
    const st = statSync(unix.unix);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(process.getuid!());
    s.close();
    expect(existsSync(unix.unix)).toBe(false);
  });

  test("a stale socket file is replaced; a live one, a regular file, a long path are refused", async () => {
    const { unix } = await start();
    // Live: something accepts on it.
    await expect(startControl({ unixPath: unix.unix, content, log })).rejects.toThrow(`control_unix_path ${unix.unix} is in use by a running process`);
    // Stale: what a killed process leaves, a socket file nobody listens on.
    const stalePath = join(dir, "stale.sock");
    const holder = Bun.spawn([process.execPath, "-e", `Bun.listen({ unix: ${JSON.stringify(stalePath)}, socket: { data() {} } }); console.log("up"); setInterval(() => {}, 1000);`], { stdout: "pipe" });
    const reader = (holder.stdout as ReadableStream<Uint8Array>).getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain("up");
    holder.kill("SIGKILL");
    await holder.exited;
    expect(statSync(stalePath).isSocket()).toBe(true);
    const s2 = await startControl({ unixPath: stalePath, content, log });
    servers.push(s2);
    expect((await talk({ unix: stalePath }, ["status\n", "quit\n"])).text).toBe(`${STATUS}bye.\n`);
    // A regular file is never deleted.
    const file = join(dir, "precious.txt");
    writeFileSync(file, "keep me");
    await expect(startControl({ unixPath: file, content, log })).rejects.toThrow("exists and is not a socket: refusing to replace it");
    expect(readFileSync(file, "utf8")).toBe("keep me");
    const sub = join(dir, "d");
    mkdirSync(sub);
    await expect(startControl({ unixPath: sub, content, log })).rejects.toThrow(ControlStartError);
    await expect(startControl({ unixPath: join(dir, "x".repeat(120)), content, log })).rejects.toThrow("too long for a Unix socket");
    await expect(startControl({ unixPath: join(dir, "missing", "c.sock"), content, log })).rejects.toThrow("cannot listen on " + join(dir, "missing", "c.sock") + ": its directory does not exist");
  });

  test("commands: status, metrics, quit; case-insensitive, several per packet, CRLF, empty lines", async () => {
    const { unix } = await start();
    const r = await talk(unix, ["STATUS\r\n\nmetrics\n/status\nquit\nstatus\n"]);
    expect(r.closedByServer).toBe(true);
    expect(r.text).toBe(`${STATUS}${content.metrics()}${STATUS}bye.\n`);
  });

  test("unknown command: one line of valid JSON, connection kept", async () => {
    const { unix } = await start();
    const r = await talk(unix, ['hello "there"\n', "status\n", "quit\n"], { gapMs: 20 });
    const [first, second] = r.text.split("\n");
    expect(JSON.parse(first!)).toEqual({ error: 'unknown command "hello": try status, metrics or quit' });
    expect(`${second}\n`).toBe(STATUS);
  });

  test("Ctrl-D (0x04) ends the session, as in C", async () => {
    const { unix } = await start();
    const r = await talk(unix, ["status\n\u0004status\n"]);
    expect(r.closedByServer).toBe(true);
    expect(r.text).toBe(STATUS);
  });

  test("HTTP over the Unix socket (curl --unix-socket)", async () => {
    const { unix } = await start();
    const r = parseHttp((await talk(unix, ["GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n"])).text);
    expect(r.status).toBe(200);
    expect(r.body).toBe(STATUS);
  });

  test("a line longer than 1 KiB: JSON error and close", async () => {
    const { unix } = await start();
    const r = await talk(unix, ["x".repeat(1500)]);
    expect(r.closedByServer).toBe(true);
    expect(JSON.parse(r.text).error).toContain("line longer than 1024 bytes");
  });

  test("an idle client is cut off after the idle time", async () => {
    const { s, unix } = await start({ limits: { idleMs: 300 } });
    const r = await talk(unix, ["status\n"], { timeoutMs: 3000 });
    expect(r.closedByServer).toBe(true);
    expect(r.text).toBe(STATUS);
    expect(r.ms).toBeGreaterThanOrEqual(280);
    expect(r.ms).toBeLessThan(1500);
    expect(s.clients).toBe(0);
  });

  test("a client that asks but never reads is cut off at the unsent-output cap", async () => {
    const big = "x".repeat(512 * 1024);
    const { s, unix } = await start({ content: { ...content, status: () => big }, limits: { maxUnsentBytes: 1 << 20 } });
    const r = await talk(unix, Array(60).fill("status\n"), { read: false, timeoutMs: 5000 });
    expect(r.closedByServer).toBe(true);
    expect(r.ms).toBeLessThan(4000);
    expect(logs.some((l) => l.includes("bytes of output left unread"))).toBe(true);
    expect(s.clients).toBe(0);
    // And the server still answers others.
    expect((await talk(unix, ["metrics\nquit\n"])).text).toContain("mlvpn_x 1");
  });

  test("the client cap: the extra client gets an error and is closed", async () => {
    const { s, unix } = await start({ limits: { maxClients: 3 } });
    // The holders hang up after 4 s; the server has them once it counts them (not after a sleep).
    const holders = [0, 1, 2].map(() => talk(unix, [], { timeoutMs: 4000 }));
    await waitFor(() => s.clients === 3, { timeoutMs: 3000, intervalMs: 5, what: "the three holders accepted" });
    expect(s.clients).toBe(3);
    const r = await talk(unix, ["status\n"]);
    expect(r.closedByServer).toBe(true);
    expect(JSON.parse(r.text)).toEqual({ error: "too many control clients" });
    await Promise.all(holders);
  }, 15_000);
});

describe("HTTP", () => {
  const get = async (tcp: { hostname: string; port: number }, request: string) => parseHttp((await talk(tcp, [request])).text);

  test("GET /status and /metrics: types, no CORS, Host checked, length, connection closed", async () => {
    const { tcp } = await start({ unix: false, http: true });
    // Another site's name (DNS rebinding) is refused; the listener's address passes.
    expect((await get(tcp, "GET /status HTTP/1.1\r\nHost: evil.example\r\n\r\n")).status).toBe(421);
    const r = await talk(tcp, [`GET /status?x=1 HTTP/1.1\r\nHost: 127.0.0.1:${tcp.port}\r\nAccept: */*\r\n\r\n`]);
    expect(r.closedByServer).toBe(true);
    const a = parseHttp(r.text);
    expect(a.status).toBe(200);
    expect(a.headers["content-type"]).toBe("application/json");
    expect(a.headers["access-control-allow-origin"]).toBeUndefined();
    expect(a.headers.connection).toBe("close");
    expect(Number(a.headers["content-length"])).toBe(Buffer.byteLength(STATUS));
    expect(JSON.parse(a.body).tunnels[0].name).toBe('a"b');
    const m = await get(tcp, "GET /metrics HTTP/1.0\r\n\r\n");
    expect(m.status).toBe(200);
    expect(m.headers["content-type"]).toBe(METRICS_TYPE);
    expect(m.body).toBe(content.metrics());
    // fetch() agrees with our reading of the bytes.
    const f = await fetch(`http://127.0.0.1:${tcp.port}/status`);
    expect(f.status).toBe(200);
    expect(await f.text()).toBe(STATUS);
  });

  test("404, 405 with Allow, HEAD without body, 400, 505; / without a page is 404", async () => {
    const { tcp } = await start({ unix: false, http: true });
    expect((await get(tcp, "GET /nope HTTP/1.1\r\n\r\n")).status).toBe(404);
    expect((await get(tcp, "GET / HTTP/1.1\r\n\r\n")).status).toBe(404);
    const post = await get(tcp, "POST /status HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
    const head = await get(tcp, "HEAD /status HTTP/1.1\r\n\r\n");
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
    expect(Number(head.headers["content-length"])).toBe(Buffer.byteLength(STATUS));
    expect((await get(tcp, "status\r\n\r\n")).status).toBe(400);
    expect((await get(tcp, "GET /status HTTP/2.0\r\n\r\n")).status).toBe(505);
  });

  test("GET / serves the page when one is given", async () => {
    const { tcp } = await start({ unix: false, http: true, content: { ...content, page: () => "<!doctype html><title>mlvpn</title>" } });
    const r = await get(tcp, "GET / HTTP/1.1\r\n\r\n");
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(r.body).toBe("<!doctype html><title>mlvpn</title>");
  });

  test("a request head over 8 KiB: 431", async () => {
    const { tcp } = await start({ unix: false, http: true });
    const r = await get(tcp, `GET /status HTTP/1.1\r\nX-Big: ${"y".repeat(9000)}\r\n\r\n`);
    expect(r.status).toBe(431);
  });

  test("slowloris (one header byte every 100 ms) is cut at the request deadline", async () => {
    const { s, tcp, unix } = await start({ http: true, limits: { requestMs: 600, idleMs: 600 } });
    const bytes = [..."GET /status HTTP/1.1\r\nX-Slow: " + "z".repeat(100)];
    const [viaTcp, viaUnix] = await Promise.all([talk(tcp, bytes, { gapMs: 100, timeoutMs: 5000 }), talk(unix, bytes, { gapMs: 100, timeoutMs: 5000 })]);
    for (const r of [viaTcp, viaUnix]) {
      expect(r.closedByServer).toBe(true);
      expect(r.text).toBe("");
      expect(r.ms).toBeGreaterThanOrEqual(580);
      expect(r.ms).toBeLessThan(1500);
    }
    expect(s.clients).toBe(0);
  });
});

test("200 clients at once, half Unix half HTTP, all get the full document", async () => {
  const { unix, tcp } = await start({ http: true });
  const before = served;
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? talk(unix, ["status\nquit\n"]).then((r) => r.text.replace(/bye\.\n$/, "")) : talk(tcp, ["GET /status HTTP/1.1\r\n\r\n"]).then((r) => parseHttp(r.text).body))),
  );
  expect(results.every((t) => t === STATUS)).toBe(true);
  expect(served - before).toBe(200);
});

test("over the answer rate, clients wait their turn, in order, each getting every answer", async () => {
  const { unix } = await start({ limits: { maxClients: 10, maxAnswersPerSec: 20, answerBurst: 10 } });
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: 10 }, () => talk(unix, ["status\nmetrics\nstatus\nquit\n"])));
  const seconds = (performance.now() - started) / 1000;
  for (const r of results) expect(r.text).toBe(`${STATUS}${content.metrics()}${STATUS}bye.\n`);
  // 40 answers: 10 at once (the burst), the other 30 at 20 per second.
  expect(seconds).toBeGreaterThan(1.3);
  expect(seconds).toBeLessThan(3);
});

test("a failing status provider gives an error answer, not a crash", async () => {
  const { unix, tcp } = await start({
    http: true,
    content: {
      ...content,
      status: () => {
        throw new Error("boom");
      },
    },
  });
  expect(JSON.parse((await talk(unix, ["status\nquit\n"])).text.split("\n")[0]!)).toEqual({ error: "internal error: boom" });
  expect(parseHttp((await talk(tcp, ["GET /status HTTP/1.1\r\n\r\n"])).text).status).toBe(500);
});

test("the HTTP port in use: a clear error", async () => {
  const { tcp } = await start({ unix: false, http: true });
  await expect(startControl({ http: { host: "127.0.0.1", port: tcp.port }, content, log })).rejects.toThrow(`control: cannot listen on 127.0.0.1:${tcp.port}: address already in use (another mlvpn running?)`);
});

test("every refusal and cut-off is counted by reason (control_rejected in /status)", async () => {
  const { s, unix, tcp } = await start({ http: true, limits: { maxClients: 3, requestMs: 300, idleMs: 300 } });
  expect(Object.values(s.rejected).every((n) => n === 0)).toBe(true);
  await talk(unix, ["x".repeat(1500)]); // line-too-long
  await talk(unix, ["frobnicate\nquit\n"]); // bad-request (unknown command)
  await talk(tcp, [`GET /status HTTP/1.1\r\nX-Big: ${"y".repeat(9000)}\r\n\r\n`]); // head-too-large
  await talk(tcp, ["GET /nowhere HTTP/1.1\r\n\r\n"]); // bad-request (404)
  await talk(tcp, ["GET /status HTTP/1.1\r\n"], { timeoutMs: 3000 }); // timeout: the head never ends
  expect({ ...s.rejected }).toEqual({
    "too-many-clients": 0,
    timeout: 1,
    "line-too-long": 1,
    "head-too-large": 1,
    "bad-request": 2,
    "unread-output": 0,
    flooding: 0,
    "socket-error": 0,
  });
});
