/**
 * The root side of the status scripts: a hidden mode of the mlvpn binary (`--hook-helper`),
 * started by the daemon before it drops privileges (hook-client.ts), that runs the statuscommand
 * as root for the now unprivileged daemon.
 *
 * It trusts only its command line (written by root at spawn time: configuration path, format,
 * device, tun MTU) and the configuration file it reads itself. Requests name an event and a link,
 * nothing more (hook-protocol.ts); the script path, argv and environment are built here, by
 * HookRunner (clean environment, time limit). One request at a time, so scripts run in order.
 * It ends when its stdin closes, i.e. when the daemon is gone.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readlinkSync, readSync } from "node:fs";
import { formatDiagnostic } from "../config/diagnostics.ts";
import { type ConfigFormat, loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { createLogger, type Logger } from "../log.ts";
import { HookRunner, hookEnv } from "./hooks.ts";
import { MAX_REQUEST_BYTES, parseRequest, readLines, replyLine } from "./hook-protocol.ts";

export interface HookHelperArgs {
  configFile: string;
  format: ConfigFormat;
  device: string;
  tunMtu: number;
}

export function helperArgv(a: HookHelperArgs): string[] {
  return [a.configFile, a.format, a.device, String(a.tunMtu)];
}

function parseHelperArgv(argv: readonly string[]): HookHelperArgs | undefined {
  const [configFile, format, device, mtu] = argv;
  if (argv.length !== 4 || !configFile?.startsWith("/") || (format !== "ini" && format !== "toml") || !device || !/^\d+$/.test(mtu!)) return undefined;
  return { configFile, format, device, tunMtu: Number(mtu) };
}

/**
 * Only a root process whose stdin is a pipe or socket from a parent running this same executable
 * acts as the helper; anything else gets the ordinary "unknown option" of the command line.
 */
function calledByDaemon(): boolean {
  try {
    if (process.geteuid?.() !== 0) return false;
    const stdin = fstatSync(0);
    if (!stdin.isFIFO() && !stdin.isSocket()) return false;
    return readlinkSync(`/proc/${process.ppid}/exe`) === readlinkSync("/proc/self/exe");
  } catch {
    return false;
  }
}

/** The largest configuration file the helper reads. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * Reads the configuration as root without being tricked into reading another file: the last
 * path component must not be a symlink (O_NOFOLLOW), and the file must be a regular file owned
 * by root (or by the user the helper runs as), not writable by group or others, at most
 * MAX_CONFIG_BYTES. Returns the text or the reason for refusing it.
 */
export function readConfigSafely(path: string, ownerUid: number = process.geteuid?.() ?? 0): { text: string } | { error: string } {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { error: `${path}: ${code === "ELOOP" ? "is a symbolic link (refused: the helper reads only the file itself)" : (e as Error).message}` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { error: `${path}: not a regular file` };
    if (st.uid !== 0 && st.uid !== ownerUid) return { error: `${path}: owned by uid ${st.uid}, must be owned by root` };
    if ((st.mode & 0o022) !== 0) return { error: `${path}: writable by group or others (mode ${(st.mode & 0o777).toString(8)}): chmod 600` };
    if (st.size > MAX_CONFIG_BYTES) return { error: `${path}: ${st.size} bytes, larger than the ${MAX_CONFIG_BYTES} a configuration may have` };
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (let r = 1; r > 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, null);
    if (n > MAX_CONFIG_BYTES) return { error: `${path}: larger than ${MAX_CONFIG_BYTES} bytes` };
    return { text: buf.subarray(0, n).toString("utf8") };
  } catch (e) {
    return { error: `${path}: ${(e as Error).message}` };
  } finally {
    closeSync(fd);
  }
}

function load(args: HookHelperArgs): { config?: Config; text?: string; error?: string } {
  const read = readConfigSafely(args.configFile);
  if ("error" in read) return { error: read.error };
  const loaded = loadConfig(args.configFile, { format: args.format, text: read.text });
  if (loaded.config) return { config: loaded.config, text: read.text };
  // Never the text: the errors (file:line and what is wrong), of a file that passed the checks above.
  const errors = loaded.diagnostics.filter((d) => d.severity === "error");
  const shown = errors.slice(0, 5).map((d) => formatDiagnostic(d).slice(0, 300));
  if (errors.length > shown.length) shown.push(`${errors.length - shown.length} more errors`);
  return { error: shown.length > 0 ? shown.join("; ") : `${args.configFile}: not a valid configuration` };
}

/**
 * Re-reads the configuration for the daemon, which can no longer read the root-only file. The
 * text goes back only when it is a valid configuration (the helper adopts it, and the daemon
 * validates the same text again); otherwise only the reason.
 */
function reload(args: HookHelperArgs): { config: Config; text: string } | { error: string } {
  const r = load(args);
  return r.config ? { config: r.config, text: r.text! } : { error: r.error! };
}

/** Runs the helper, or returns undefined when this process must not be one (see calledByDaemon). */
export async function runHookHelper(argv: readonly string[]): Promise<number | undefined> {
  if (!calledByDaemon()) return undefined;
  const stderr = createLogger({ verbosity: 2, debugTokens: [], write: (l) => void process.stderr.write(l) });
  const args = parseHelperArgv(argv);
  if (!args) {
    stderr.error("", "hook helper: bad arguments");
    return 1;
  }
  const first = load(args);
  if (!first.config) {
    stderr.error("", `hook helper: ${first.error}`);
    return 1;
  }
  const send = (kind: string, text?: string): void => void process.stdout.write(replyLine(kind, text));
  // The daemon logs what the scripts did: its log goes where the user asked (verbosity, syslog).
  const toDaemon = (level: string) => (_token: string, message: string) => send("log", `${level} ${message}`);
  const forward: Logger = { error: toDaemon("error"), warn: toDaemon("warn"), info: toDaemon("info"), debug: toDaemon("debug") };
  // startOnly in C and here: the script stays the one validated at start-up, whatever a reload says.
  const script = first.config.general.statuscommand;
  let links = new Set(first.config.links.map((l) => l.name));
  let runner = new HookRunner(script, hookEnv(first.config.general, args.device, args.tunMtu), forward);

  // Ctrl-C or systemd signal the whole process group: stay, so that the daemon can still run its
  // down scripts; the daemon closing the pipe is what ends the helper.
  const ignore = (): void => {};
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, ignore);
  send("ready");
  for await (const item of readLines(Bun.stdin.stream(), MAX_REQUEST_BYTES)) {
    const req = "line" in item ? parseRequest(item.line, links) : ({ kind: "refused", reason: `request longer than ${MAX_REQUEST_BYTES} bytes` } as const);
    if (req.kind === "refused") {
      stderr.warn("", `hook helper: refused: ${req.reason}`);
      send("refused", req.reason);
    } else if (req.kind === "event") {
      send("done", await runner.runNow(req.link === undefined ? [args.device, req.event] : [args.device, req.event, req.link]));
    } else {
      const next = reload(args);
      if ("error" in next) {
        stderr.warn("", `hook helper: reload refused: ${next.error}`);
        send("refused", `reload: ${next.error}`);
        continue;
      }
      links = new Set(next.config.links.map((l) => l.name));
      runner = new HookRunner(script, hookEnv(next.config.general, args.device, args.tunMtu), forward);
      send("reloaded", Buffer.from(next.text).toString("base64"));
    }
  }
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(s, ignore);
  return 0;
}
