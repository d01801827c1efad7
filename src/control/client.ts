/**
 * Fetches the /status document from a running mlvpn: over its Unix socket (the line command
 * `status`, answered by one line of JSON) or over HTTP. Every failure becomes a one-line
 * ControlClientError saying what to check.
 */
import type { StatusDocument } from "./contract.ts";

export type ControlTarget = { unix: string } | { url: string };

export class ControlClientError extends Error {}

/** Larger than any status document (32 links); guards against talking to the wrong service. */
const MAX_ANSWER_BYTES = 4 << 20;

export function describeTarget(t: ControlTarget): string {
  return "unix" in t ? t.unix : t.url;
}

export async function fetchStatus(target: ControlTarget, timeoutMs = 5000): Promise<{ text: string; doc: StatusDocument }> {
  const text = "unix" in target ? await viaUnix(target.unix, timeoutMs) : await viaHttp(statusUrl(target.url), timeoutMs);
  let doc: StatusDocument;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ControlClientError(`${describeTarget(target)} answered something that is not JSON: ${JSON.stringify(text.slice(0, 80))}`);
  }
  if (typeof doc !== "object" || doc === null) throw new ControlClientError(`${describeTarget(target)} answered JSON that is not a status document`);
  if ("error" in doc) throw new ControlClientError(`${describeTarget(target)} answered an error: ${String((doc as { error: unknown }).error)}`);
  if (!Array.isArray(doc.tunnels)) throw new ControlClientError(`${describeTarget(target)} answered JSON that is not a status document`);
  return { text: text.endsWith("\n") ? text : `${text}\n`, doc };
}

/** A base URL ("http://127.0.0.1:7070") means its /status; a full one is used as given. */
export function statusUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ControlClientError(`not a URL: ${JSON.stringify(url)} (e.g. http://127.0.0.1:7070)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new ControlClientError(`not an HTTP URL: ${url}`);
  if (u.pathname === "/" || u.pathname === "") u.pathname = "/status";
  return u.toString();
}

async function viaHttp(url: string, timeoutMs: number): Promise<string> {
  let r: Response;
  try {
    r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "error" });
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.name === "TimeoutError") throw new ControlClientError(`${url} did not answer within ${timeoutMs / 1000} s`);
    if (err.code === "ECONNREFUSED") throw new ControlClientError(`nothing listens at ${url}: is mlvpn running, with control_bind_host/control_bind_port set?`);
    throw new ControlClientError(`cannot reach ${url}: ${err.message}`);
  }
  const body = await r.text();
  if (!r.ok) throw new ControlClientError(`${url} answered ${r.status} ${r.statusText}${body ? `: ${body.trim().slice(0, 120)}` : ""}`);
  return body;
}

function unixError(path: string, code: string | undefined, message: string): ControlClientError {
  switch (code) {
    case "ENOENT":
      return new ControlClientError(`no control socket at ${path}: is mlvpn running with this configuration?`);
    case "ECONNREFUSED":
      return new ControlClientError(`nothing listens on ${path}: mlvpn is not running (the socket file is stale) or it is not a socket`);
    case "EACCES":
    case "EPERM":
      return new ControlClientError(`permission denied on ${path}: run as the user mlvpn runs as, or as root`);
    default:
      return new ControlClientError(`cannot connect to ${path}: ${code ?? message}`);
  }
}

async function viaUnix(path: string, timeoutMs: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  let settle!: (r: { text?: string; error?: ControlClientError }) => void;
  const result = new Promise<{ text?: string; error?: ControlClientError }>((r) => (settle = r));
  const lineOf = (): string | undefined => {
    const all = Buffer.concat(chunks);
    const lf = all.indexOf(0x0a);
    return lf < 0 ? undefined : all.subarray(0, lf).toString("utf8");
  };
  let socket;
  try {
    socket = await Bun.connect({
      unix: path,
      socket: {
        data(s, d) {
          chunks.push(Buffer.from(d));
          size += d.length;
          const line = lineOf();
          // Settled before closing: end() runs the close handler at once.
          if (line !== undefined) {
            settle({ text: line });
            s.end();
          } else if (size > MAX_ANSWER_BYTES) {
            settle({ error: new ControlClientError(`${path} sent more than ${MAX_ANSWER_BYTES} bytes without a line end: not an mlvpn control socket?`) });
            s.terminate();
          }
        },
        close() {
          settle({ error: new ControlClientError(`${path} closed the connection without an answer`) });
        },
        error(_s, e) {
          settle({ error: new ControlClientError(`${path}: ${e.message}`) });
        },
      },
    });
  } catch (e) {
    const err = e as Error & { code?: string };
    throw unixError(path, err.code, err.message);
  }
  socket.write("status\n");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<{ text?: string; error?: ControlClientError }>((r) => (timer = setTimeout(() => r({ error: new ControlClientError(`${path} did not answer within ${timeoutMs / 1000} s`) }), timeoutMs)));
  const r = await Promise.race([result, timeout]);
  clearTimeout(timer);
  if (r.error) {
    socket.terminate();
    throw r.error;
  }
  return r.text!;
}
