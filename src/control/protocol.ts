/**
 * What the control interface answers, without the sockets: line commands (the C MLVPN's
 * `status`, `metrics`, `quit`) and HTTP/1.1 requests (`GET /status`, `GET /metrics`, `GET /`).
 * src/control/server.ts does the I/O and enforces the limits.
 *
 * Unlike C (docs/c-mlvpn.md, "Control interface" and "Weaknesses" #13): the unknown-command error is valid JSON, `quit` really says
 * `bye.`, HTTP errors carry proper status codes, and every reply has a Content-Length.
 */

/** Produces the bodies; called once per request (building a document is cheap). */
export interface ControlContent {
  status(): string;
  metrics(): string;
  /** The HTML status page, when the page module is wired in. */
  page?: () => string;
}

/** `error`: the reply refuses the line (an unknown command), counted as a rejection. */
export type LineAnswer = { kind: "reply"; text: string; error?: boolean } | { kind: "quit"; text: string } | { kind: "none" };

const MAX_ECHO = 64;

export function jsonError(message: string): string {
  return `${JSON.stringify({ error: message })}\n`;
}

/** One command line (without its line feed). The command word is case-insensitive, as in C. */
export function answerLine(line: string, content: ControlContent): LineAnswer {
  const word = line.replace(/\r$/, "").trim().split(/\s+/)[0]!.toLowerCase();
  switch (word) {
    case "":
      return { kind: "none" };
    case "status":
    case "/status":
      return { kind: "reply", text: content.status() };
    case "metrics":
    case "/metrics":
      return { kind: "reply", text: content.metrics() };
    case "quit":
    case "exit":
      return { kind: "quit", text: "bye.\n" };
    default:
      return { kind: "reply", text: jsonError(`unknown command ${JSON.stringify(word.slice(0, MAX_ECHO))}: try status, metrics or quit`), error: true };
  }
}

/** True for a line that starts an HTTP/1.x request ("GET /status HTTP/1.1"). */
export function isHttpRequestLine(line: string): boolean {
  return /^[A-Z]+ \S+ HTTP\/\d\.\d\r?$/.test(line);
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  head: boolean;
}

const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  421: "Misdirected Request",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

const JSON_TYPE = "application/json";
const TEXT_TYPE = "text/plain; charset=utf-8";
/** What Prometheus expects for the text exposition format. */
export const METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8";
const HTML_TYPE = "text/html; charset=utf-8";

function answer(status: number, type: string, body: string, extra: Record<string, string> = {}): HttpAnswer {
  return { status, headers: { "Content-Type": type, ...extra }, body, head: false };
}

export function httpError(status: number, message: string): HttpAnswer {
  return answer(status, TEXT_TYPE, `${message}\n`);
}

/**
 * The Host header must name this listener: a loopback name or address, an IP address (what a
 * browser sends for a literal address), or the configured bind host. Anything else is another
 * site's name resolving to us (DNS rebinding), and gets 421. A request without Host (HTTP/1.0)
 * passes. Returns the refusal, or undefined.
 */
export function refuseHost(head: string, bindHost: string): HttpAnswer | undefined {
  const m = /\r?\nhost:[ \t]*([^\r\n]*)/i.exec(head);
  if (!m) return undefined;
  const value = m[1]!.trim().toLowerCase();
  const host = value.startsWith("[") ? value.slice(1, value.indexOf("]")) : value.replace(/:\d*$/, "");
  const ipv4 = /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
  const ipv6 = host.includes(":") && /^[0-9a-f:.]+$/.test(host);
  if (host === "localhost" || host.endsWith(".localhost") || ipv4 || ipv6 || host === bindHost.toLowerCase()) return undefined;
  return httpError(421, `this control port does not serve ${JSON.stringify(value.slice(0, MAX_ECHO))}: use its address`);
}

/** Answers a request from its request line (the headers carry nothing we need). */
export function answerHttp(requestLine: string, content: ControlContent): HttpAnswer {
  const m = /^([A-Z]+) (\S+) HTTP\/(\d\.\d)\r?$/.exec(requestLine);
  if (!m) return httpError(400, "bad request line");
  const [, method, target, version] = m as unknown as [string, string, string, string];
  if (version !== "1.0" && version !== "1.1") return httpError(505, `HTTP/${version} is not supported`);
  const path = target.split("?")[0]!;
  const route = routeFor(path, content);
  if (!route) return httpError(404, `not found: ${path.slice(0, MAX_ECHO)} (try /status or /metrics)`);
  if (method !== "GET" && method !== "HEAD") return httpError(405, `${method.slice(0, MAX_ECHO)} is not allowed here: use GET`);
  const a = route();
  a.head = method === "HEAD";
  return a;
}

function routeFor(path: string, content: ControlContent): (() => HttpAnswer) | undefined {
  switch (path) {
    case "/status":
      return () => answer(200, JSON_TYPE, content.status());
    case "/metrics":
      return () => answer(200, METRICS_TYPE, content.metrics());
    case "/":
      return content.page ? () => answer(200, HTML_TYPE, content.page!()) : undefined;
    default:
      return undefined;
  }
}

/** The bytes on the wire. Every answer closes the connection (one request per connection, like C). */
export function encodeHttp(a: HttpAnswer): Uint8Array {
  const body = new TextEncoder().encode(a.body);
  const headers: Record<string, string> = {
    ...a.headers,
    "Content-Length": String(body.length),
    Connection: "close",
    // No Access-Control-Allow-Origin: a web page on another origin must not read the status.
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    Server: "mlvpn",
  };
  if (a.status === 405) headers.Allow = "GET, HEAD";
  let head = `HTTP/1.1 ${a.status} ${REASONS[a.status] ?? "Error"}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  head += "\r\n";
  const h = new TextEncoder().encode(head);
  if (a.head) return h;
  const out = new Uint8Array(h.length + body.length);
  out.set(h);
  out.set(body, h.length);
  return out;
}
