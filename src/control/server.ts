/**
 * The control interface's listeners: a Unix stream socket (`control_unix_path`, mode 0600) and an
 * HTTP listener (`control_bind_host`:`control_bind_port`). Answers come from
 * src/control/protocol.ts; this file owns the sockets and the limits.
 *
 * Both listeners are plain Bun.listen sockets with our own bounded HTTP/1.1 reading, not
 * Bun.serve, which cannot be bounded as tightly. Measured with Bun 1.4.5, side by side by
 * scripts/control-serve-limits.ts: Bun.serve cuts a client without a complete request head after
 * a fixed 12 s whatever `idleTimeout` says (it applies between requests only), holds every idle
 * connection (512 of 512: no cap, and no hook before a request is parsed to put one in front),
 * and refuses heads over 16 KiB (a flag of bun itself); we cut at 5 s, tell clients over 256
 * "busy", and refuse heads over 8 KiB. Every client has a deadline, a line/head size limit and a
 * cap on output it leaves unread; the rate of answers is capped too. Nothing blocks: writes that
 * do not fit the kernel buffer wait for `drain`, a client over its budget is cut off, and a flood
 * of requests waits its turn instead of taking the event loop from the packets.
 *
 * Unix socket clients speak lines (`status`, `metrics`, `quit`; docs/c-mlvpn.md, "Control interface"), or HTTP when
 * their first line is an HTTP request line (so `curl --unix-socket` works too). The HTTP
 * listener speaks HTTP only; one request per connection.
 */
import type { Socket, SocketHandler, SocketListener, TCPSocketListener } from "bun";
import type { GeneralConfig } from "../config/schema.ts";
import { KeyedRateLimiter } from "../core/ratelimit.ts";
import type { Logger } from "../log.ts";
import { answerHttp, answerLine, type ControlContent, encodeHttp, httpError, isHttpRequestLine, jsonError, refuseHost } from "./protocol.ts";
import { listenError, listenUnixPrivate, removeUnixSocket, SocketPathError, takeUnixPath } from "./unix-socket.ts";

export interface ControlLimits {
  /** Clients connected at once, both listeners together. */
  maxClients: number;
  /** Longest command line. */
  maxLineBytes: number;
  /** Longest HTTP request head (request line and headers). */
  maxHeadBytes: number;
  /** A line client is cut off after this long without a command. */
  idleMs: number;
  /** An HTTP client must have sent its request head (and read the answer) within this time. */
  requestMs: number;
  /** Output a client has not read yet; more and it is cut off. */
  maxUnsentBytes: number;
  /**
   * Answers per second, all clients together, in bursts of at most answerBurst; beyond it
   * clients wait their turn. Each answer costs ~0.1 ms of the event loop that also moves the
   * tunnel's packets: a flood of requests takes at most a tenth of it, and never more than a
   * couple of milliseconds in one go (200 answers at once held packets back for 20 ms).
   */
  maxAnswersPerSec: number;
  answerBurst: number;
}

export const DEFAULT_LIMITS: ControlLimits = {
  maxClients: 256,
  maxLineBytes: 1024,
  maxHeadBytes: 8192,
  idleMs: 5000,
  requestMs: 5000,
  maxUnsentBytes: 1 << 20,
  maxAnswersPerSec: 1000,
  answerBurst: 16,
};

export interface ControlOptions {
  unixPath?: string;
  http?: { host: string; port: number };
  content: ControlContent;
  log: Logger;
  limits?: Partial<ControlLimits>;
}

/**
 * Why control clients were refused or cut off, counted for /status (`control_rejected`). Every
 * key is always present, so dashboards see a stable set.
 */
export const CONTROL_REJECT_REASONS = [
  "too-many-clients", // over maxClients: told "busy" and closed
  "timeout", // idle line client, or no complete HTTP request within requestMs
  "line-too-long", // a command line over maxLineBytes
  "head-too-large", // an HTTP request head over maxHeadBytes (431)
  "bad-request", // an HTTP answer of status 400 or more, or an unknown line command
  "unread-output", // more than maxUnsentBytes left unread
  "flooding", // sent more than a request head while its answer waited its turn
  "socket-error", // a write failed or the socket reported an error
] as const;
export type ControlRejectReason = (typeof CONTROL_REJECT_REASONS)[number];

export interface ControlServer {
  /** The HTTP listener's port (useful when 0 was asked for). */
  readonly httpPort: number | undefined;
  /** Refusals and cut-offs so far, by reason (every reason present). */
  readonly rejected: Readonly<Record<ControlRejectReason, number>>;
  /** Clients connected now. */
  readonly clients: number;
  close(): void;
}

export class ControlStartError extends Error {}

/** The listeners the configuration asks for: HTTP needs both host and port, as in C. */
export function listenersOf(g: GeneralConfig): Pick<ControlOptions, "unixPath" | "http"> {
  const http = g.control_bind_host !== undefined && g.control_bind_port !== undefined ? { host: g.control_bind_host, port: g.control_bind_port } : undefined;
  return { unixPath: g.control_unix_path, http };
}

const LF = 0x0a;
const EOT = 0x04;

interface Client {
  socket: Socket<Client>;
  /** "line" and "http" are fixed by the listener (HTTP) or the first line (Unix). */
  protocol: "undecided" | "line" | "http";
  input: Buffer;
  unsent: Uint8Array[];
  unsentBytes: number;
  /** Close once the output is flushed; read nothing more. */
  ending: boolean;
  deadline: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  closed: boolean;
  /** An answer waiting for its turn; the client's further input waits behind it. */
  pending: (() => void) | undefined;
}

export async function startControl(o: ControlOptions): Promise<ControlServer> {
  const limits = { ...DEFAULT_LIMITS, ...o.limits };
  const clients = new Set<Client>();
  const listeners: SocketListener<Client>[] = [];
  let httpListener: TCPSocketListener<Client> | undefined;
  let unixPath: string | undefined;
  let closed = false;
  const log = o.log;
  const answers = new KeyedRateLimiter(limits.maxAnswersPerSec, limits.answerBurst, 1);
  const waiting: Client[] = [];
  let retry: ReturnType<typeof setTimeout> | undefined;
  const rejected = Object.fromEntries(CONTROL_REJECT_REASONS.map((r) => [r, 0])) as Record<ControlRejectReason, number>;

  /** Runs `answer` now if the answer rate allows and nobody is waiting, else queues it in order. */
  function inTurn(c: Client, answer: () => void): void {
    if (waiting.length === 0 && answers.allow("", performance.now())) return answer();
    c.pending = answer;
    waiting.push(c);
    retry ??= setTimeout(answerWaiting, 1000 / limits.maxAnswersPerSec);
  }

  function answerWaiting(): void {
    retry = undefined;
    while (waiting.length > 0) {
      const c = waiting[0]!;
      if (!c.closed && !answers.allow("", performance.now())) break;
      waiting.shift();
      const answer = c.pending;
      c.pending = undefined;
      if (c.closed || !answer) continue;
      answer();
      processInput(c);
    }
    if (waiting.length > 0) retry = setTimeout(answerWaiting, 1000 / limits.maxAnswersPerSec);
  }

  function cut(c: Client, why: string, reason?: ControlRejectReason): void {
    if (c.closed) return;
    if (reason) rejected[reason]++;
    log.debug("control", `client cut off: ${why}`);
    release(c);
    c.socket.terminate();
  }

  function release(c: Client): void {
    c.closed = true;
    if (c.timer) clearTimeout(c.timer);
    c.timer = undefined;
    clients.delete(c);
  }

  /** One timer per client, re-armed lazily when its deadline has moved. */
  function arm(c: Client, deadline: number): void {
    c.deadline = deadline;
    if (c.timer) return;
    const fire = (): void => {
      c.timer = undefined;
      if (c.closed) return;
      const left = c.deadline - performance.now();
      if (left > 0) c.timer = setTimeout(fire, left);
      else cut(c, c.protocol === "line" ? `idle for ${limits.idleMs} ms` : `no complete request within ${limits.requestMs} ms`, "timeout");
    };
    c.timer = setTimeout(fire, Math.max(0, deadline - performance.now()));
  }

  function flush(c: Client): void {
    while (c.unsent.length > 0 && !c.closed) {
      const chunk = c.unsent[0]!;
      const n = c.socket.write(chunk);
      if (n < 0) return cut(c, "write failed", "socket-error");
      c.unsentBytes -= n;
      if (n < chunk.length) {
        c.unsent[0] = chunk.subarray(n);
        return;
      }
      c.unsent.shift();
    }
    if (c.ending && c.unsent.length === 0 && !c.closed) {
      release(c);
      c.socket.end();
    }
  }

  function send(c: Client, bytes: Uint8Array | string): void {
    const b = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
    if (b.length === 0) return flush(c);
    c.unsent.push(b);
    c.unsentBytes += b.length;
    if (c.unsentBytes > limits.maxUnsentBytes) return cut(c, `more than ${limits.maxUnsentBytes} bytes of output left unread`, "unread-output");
    flush(c);
  }

  function finish(c: Client, last: Uint8Array | string): void {
    c.ending = true;
    send(c, last);
  }

  /** Builds an answer; a failure inside (a bug) becomes an error reply, never a crash. */
  function safely<T>(make: () => T, fallback: (message: string) => T): T {
    try {
      return make();
    } catch (e) {
      log.warn("control", `answering a control request failed: ${(e as Error).message}`);
      return fallback((e as Error).message);
    }
  }

  function onLine(c: Client, line: string): void {
    arm(c, performance.now() + limits.idleMs);
    if (line.trim() === "") return;
    inTurn(c, () => {
      const a = safely(
        () => answerLine(line, o.content),
        (m) => ({ kind: "reply", text: jsonError(`internal error: ${m}`), error: true }) as const,
      );
      if (a.kind === "reply") {
        if (a.error) rejected["bad-request"]++;
        send(c, a.text);
      } else if (a.kind === "quit") finish(c, a.text);
    });
  }

  function onHttpInput(c: Client): void {
    const end = headEnd(c.input);
    if (end < 0 ? c.input.length > limits.maxHeadBytes : end > limits.maxHeadBytes) {
      rejected["head-too-large"]++;
      return finish(c, encodeHttp(httpError(431, `request head larger than ${limits.maxHeadBytes} bytes`)));
    }
    if (end < 0) return;
    const requestLine = c.input.subarray(0, c.input.indexOf(LF)).toString("latin1");
    const wrongHost = refuseHost(c.input.subarray(0, end).toString("latin1"), o.http?.host ?? "");
    if (wrongHost) return finish(c, encodeHttp(wrongHost));
    inTurn(c, () => {
      const a = safely(
        () => answerHttp(requestLine, o.content),
        (m) => httpError(500, `internal error: ${m}`),
      );
      if (a.status >= 400) rejected["bad-request"]++;
      finish(c, encodeHttp(a));
    });
  }

  function onData(c: Client, chunk: Buffer): void {
    if (c.closed || c.ending) return;
    c.input = c.input.length === 0 ? chunk : Buffer.concat([c.input, chunk]);
    if (c.pending && c.input.length > limits.maxHeadBytes) return cut(c, "sent too much while waiting for an answer", "flooding");
    processInput(c);
  }

  function processInput(c: Client): void {
    while (!c.closed && !c.ending && !c.pending) {
      if (c.protocol === "http") return onHttpInput(c);
      const lf = c.input.indexOf(LF);
      const eot = c.input.indexOf(EOT);
      // Ctrl-D ends the session, as in C.
      if (eot >= 0 && (lf < 0 || eot < lf)) return finish(c, "");
      if (lf < 0) {
        if (c.input.length > limits.maxLineBytes) {
          rejected["line-too-long"]++;
          finish(c, jsonError(`line longer than ${limits.maxLineBytes} bytes`));
        }
        return;
      }
      if (lf > limits.maxLineBytes) {
        rejected["line-too-long"]++;
        return finish(c, jsonError(`line longer than ${limits.maxLineBytes} bytes`));
      }
      const line = c.input.subarray(0, lf).toString("utf8");
      if (c.protocol === "undecided") {
        // The request line stays in the input: the HTTP reader takes the whole head.
        c.protocol = isHttpRequestLine(line) ? "http" : "line";
        continue;
      }
      onLine(c, line);
      c.input = c.input.subarray(lf + 1);
    }
  }

  function handlers(protocol: "undecided" | "http"): SocketHandler<Client> {
    return {
      open(socket: Socket<Client>) {
        const c: Client = { socket, protocol, input: Buffer.alloc(0), unsent: [], unsentBytes: 0, ending: false, deadline: 0, timer: undefined, closed: false, pending: undefined };
        socket.data = c;
        if (closed || clients.size >= limits.maxClients) {
          c.closed = true;
          rejected["too-many-clients"]++;
          const busy = protocol === "http" ? encodeHttp(httpError(503, "too many control clients")) : jsonError("too many control clients");
          socket.write(busy);
          socket.end();
          return;
        }
        clients.add(c);
        arm(c, performance.now() + (protocol === "http" ? limits.requestMs : limits.idleMs));
      },
      data(socket: Socket<Client>, chunk: Buffer) {
        const c = socket.data;
        try {
          onData(c, chunk);
        } catch (e) {
          cut(c, `error: ${(e as Error).message}`, "socket-error");
        }
      },
      drain(socket: Socket<Client>) {
        flush(socket.data);
      },
      close(socket: Socket<Client>) {
        if (socket.data) release(socket.data);
      },
      error(socket: Socket<Client>, e: Error) {
        if (socket.data && !socket.data.closed) rejected["socket-error"]++;
        if (socket.data) release(socket.data);
        log.debug("control", `client error: ${e.message}`);
      },
    };
  }

  try {
    if (o.unixPath) {
      await takeUnixPath(o.unixPath, "control_unix_path").catch((e) => {
        throw asStartError(e, "");
      });
      try {
        listeners.push(listenUnixPrivate(o.unixPath, handlers("undecided")));
      } catch (e) {
        throw asStartError(e, "control: ");
      }
      unixPath = o.unixPath;
      log.info("control", `control socket ${o.unixPath} (mode 0600)`);
    }
    if (o.http) {
      const { host, port } = o.http;
      try {
        httpListener = Bun.listen<Client>({ hostname: host, port, exclusive: true, socket: handlers("http") });
        listeners.push(httpListener);
      } catch (e) {
        throw new ControlStartError(`control: cannot listen on ${host}:${port}: ${listenError(e)}`);
      }
      log.info("control", `HTTP control on ${host.includes(":") ? `[${host}]` : host}:${httpListener.port}`);
      if (!isLoopback(host)) log.warn("control", `the HTTP control on ${host} has no authentication: anyone who can reach it can read the tunnel's status; prefer 127.0.0.1 or control_unix_path`);
    }
  } catch (e) {
    for (const l of listeners) l.stop(true);
    if (unixPath) removeUnixSocket(unixPath);
    throw e;
  }

  return {
    httpPort: httpListener?.port,
    rejected,
    get clients() {
      return clients.size;
    },
    close() {
      if (closed) return;
      closed = true;
      if (retry) clearTimeout(retry);
      waiting.length = 0;
      for (const c of [...clients]) cut(c, "shutting down");
      for (const l of listeners) l.stop(true);
      if (unixPath) removeUnixSocket(unixPath);
    },
  };
}

function asStartError(e: unknown, prefix: string): unknown {
  return e instanceof SocketPathError ? new ControlStartError(`${prefix}${e.message}`) : e;
}

/** Index just past the blank line ending an HTTP head (CRLF or bare LF line ends), or -1. */
function headEnd(b: Buffer): number {
  const crlf = b.indexOf("\r\n\r\n");
  const lf = crlf >= 0 ? -1 : b.indexOf("\n\n");
  return crlf >= 0 ? crlf + 4 : lf >= 0 ? lf + 2 : -1;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}
