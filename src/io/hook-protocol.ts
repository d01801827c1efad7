/**
 * The line protocol between the unprivileged daemon and the root hook helper (hook-helper.ts).
 *
 * Requests (daemon → helper), one per line, at most MAX_REQUEST_BYTES:
 *   E <event>            tuntap_up | tuntap_down
 *   E <event> <link>     rtun_up | rtun_down, for a link of the helper's own configuration
 *   R                    re-read the configuration file (after SIGHUP)
 * Nothing else is accepted: the script, its arguments and its environment come from the
 * configuration the helper read itself, never from the request (fixes docs/c-mlvpn.md, "Weaknesses" #14).
 *
 * Replies (helper → daemon), in request order, one line each: `done <outcome>`,
 * `refused <reason>` (for a reload: why the file was not read, or its errors as file:line, never its
 * text), `reloaded <base64 of the configuration text>` (only for a valid configuration; the daemon
 * validates it again), or from older helpers `invalid <base64>`; before them `ready` once,
 * and any number of `log <level> <message>` lines the daemon writes to its own log.
 */
import type { Level } from "../log.ts";

export const HOOK_HELPER_FLAG = "--hook-helper";
export const MAX_REQUEST_BYTES = 256;

const LINK_EVENTS = ["rtun_up", "rtun_down"] as const;
const TUNNEL_EVENTS = ["tuntap_up", "tuntap_down"] as const;
export type HookEvent = (typeof LINK_EVENTS)[number] | (typeof TUNNEL_EVENTS)[number];

export type HookRequest = { kind: "event"; event: HookEvent; link?: string } | { kind: "reload" };
export type ParsedRequest = HookRequest | { kind: "refused"; reason: string };

const LEVELS: readonly Level[] = ["error", "warn", "info", "debug"];

/** Shows an untrusted string in a log line: quoted, escaped, cut short. */
export const shown = (s: string): string => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);

/** Checks one request line against the links the helper knows; anything unexpected is refused. */
export function parseRequest(line: string, links: ReadonlySet<string>): ParsedRequest {
  const refuse = (reason: string): ParsedRequest => ({ kind: "refused", reason });
  if (new TextEncoder().encode(line).length > MAX_REQUEST_BYTES) return refuse(`request longer than ${MAX_REQUEST_BYTES} bytes`);
  if (/[\u0000-\u001f\u007f]/.test(line)) return refuse(`control characters in request ${shown(line)}`);
  if (line === "R") return { kind: "reload" };
  const m = /^E ([a-z_]+)(?: (.+))?$/.exec(line);
  if (!m) return refuse(`malformed request ${shown(line)}`);
  const [, event, link] = m as unknown as [string, string, string | undefined];
  if ((TUNNEL_EVENTS as readonly string[]).includes(event)) {
    if (link !== undefined) return refuse(`${event} takes no link (got ${shown(link)})`);
    return { kind: "event", event: event as HookEvent };
  }
  if (!(LINK_EVENTS as readonly string[]).includes(event)) return refuse(`unknown event ${shown(event)}`);
  if (link === undefined) return refuse(`${event} needs a link name`);
  if (!links.has(link)) return refuse(`${event}: no link ${shown(link)} in the configuration`);
  return { kind: "event", event: event as HookEvent, link };
}

/** The request for a HookRunner-style argument list `[device, event, link?]` (the device is the helper's own). */
export function eventRequest(args: readonly string[]): string {
  return args.length > 2 ? `E ${args[1]} ${args[2]}` : `E ${args[1]}`;
}

export type HookReply =
  | { kind: "ready" }
  | { kind: "log"; level: Level; message: string }
  | { kind: "done" | "refused" | "reloaded" | "invalid"; text: string };

/** One reply line; newlines in `text` would break the framing, so they become spaces. */
export function replyLine(kind: string, text = ""): string {
  return `${kind}${text ? ` ${text.replace(/[\r\n]+/g, " ")}` : ""}\n`;
}

export function parseReply(line: string): HookReply | undefined {
  const space = line.indexOf(" ");
  const kind = space < 0 ? line : line.slice(0, space);
  const text = space < 0 ? "" : line.slice(space + 1);
  if (kind === "ready") return { kind };
  if (kind === "done" || kind === "refused" || kind === "reloaded" || kind === "invalid") return { kind, text };
  if (kind === "log") {
    const [level, ...rest] = text.split(" ");
    if (LEVELS.includes(level as Level)) return { kind, level: level as Level, message: rest.join(" ") };
  }
  return undefined;
}

export type LineItem = { line: string } | { tooLong: number };

/**
 * Splits a byte stream into lines of at most `maxBytes`; a longer line is reported once as
 * `tooLong` (its length so far) and skipped up to its newline, so memory stays bounded.
 */
export async function* readLines(stream: ReadableStream<Uint8Array>, maxBytes: number): AsyncGenerator<LineItem> {
  const decoder = new TextDecoder();
  let pending: Uint8Array[] = [];
  let size = 0;
  let skipping = false;
  for await (const chunk of stream) {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      const part = chunk.subarray(start, nl);
      start = nl + 1;
      if (skipping || size + part.length > maxBytes) {
        if (!skipping) yield { tooLong: size + part.length };
        skipping = false;
      } else {
        pending.push(part);
        yield { line: decoder.decode(Buffer.concat(pending)) };
      }
      pending = [];
      size = 0;
    }
    const rest = chunk.subarray(start);
    if (skipping || rest.length === 0) continue;
    if (size + rest.length > maxBytes) {
      yield { tooLong: size + rest.length };
      skipping = true;
      pending = [];
      size = 0;
    } else {
      pending.push(rest.slice());
      size += rest.length;
    }
  }
}
