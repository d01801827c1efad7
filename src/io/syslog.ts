/**
 * Syslog as glibc's syslog() writes it to `/dev/log` (what the C MLVPN gets from
 * `openlog(name, LOG_PID | LOG_NDELAY, LOG_DAEMON)`): one datagram per message,
 * `<PRI>Mmm dd hh:mm:ss IDENT[PID]: message`, local time, no token (docs/c-mlvpn.md, "Logging").
 * journald, rsyslog, busybox syslogd and OpenWrt's logd all read this format.
 *
 * When the socket is missing or nobody reads it (ENOENT, ECONNREFUSED) or it refuses a message,
 * that message goes to stderr in the `--debug` format instead, and one warning line there says
 * why; sending to syslog is tried again on the next message, so a restarted syslog daemon gets
 * the log back.
 */
import { type Level, lineSink, type LogSink } from "../log.ts";
import { strerror } from "./libc.ts";
import { UnixDatagramSocket, unixAddress } from "./unix-dgram.ts";

export const SYSLOG_PATH = "/dev/log";
const LOG_DAEMON = 3 << 3;
/** syslog(3) severities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
const SEVERITY: Record<Level, number> = { error: 3, warn: 4, info: 6, debug: 7 };
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const pad2 = (n: number) => String(n).padStart(2, "0");

/** One syslog datagram's text, as glibc formats it (`%h %e %T`: the day is space-padded). */
export function syslogLine(level: Level, ident: string, pid: number, message: string, date: Date): string {
  const time = `${MONTHS[date.getMonth()]} ${String(date.getDate()).padStart(2, " ")} ${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`;
  return `<${LOG_DAEMON | SEVERITY[level]}>${time} ${ident}[${pid}]: ${message}`;
}

export function syslogSink(opts: {
  /** The syslog identity: `--name` (default mlvpn). */
  ident: string;
  /** Where lines go when syslog cannot take them (stderr). */
  fallback: (line: string) => void;
  path?: string;
  pid?: number;
  now?: () => Date;
}): LogSink {
  const path = opts.path ?? SYSLOG_PATH;
  const ident = opts.ident || "mlvpn";
  const now = opts.now ?? (() => new Date());
  const toStderr = lineSink(opts.fallback, now);
  const address = unixAddress(path);
  const encoder = new TextEncoder();
  let socket: UnixDatagramSocket | undefined;
  let failing = false;

  const send = (text: string): number => {
    try {
      socket ??= UnixDatagramSocket.open();
    } catch {
      return -1; // no socket at all (out of descriptors): reported below like a send failure
    }
    return socket.send(encoder.encode(text), address);
  };

  return (level, token, message) => {
    const err = send(syslogLine(level, ident, opts.pid ?? process.pid, message, now()));
    if (err === 0) {
      failing = false;
      return;
    }
    if (!failing) {
      failing = true;
      toStderr("warn", "", `cannot log to syslog (${path}: ${err < 0 ? "no socket" : strerror(err)}): logging to stderr until it works again`);
    }
    toStderr(level, token, message);
  };
}
