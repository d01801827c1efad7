/**
 * Logging in the C MLVPN's stderr format (reference §11.1):
 *   YYYY-MM-DDTHH:MM:SS [LEVL/token] message
 * Warnings always show; info at verbosity ≥ 2 (the default); debug at ≥ 3, or at 2 for the
 * tokens given with -D. Syslog output comes with the operations work; until then every line
 * goes to stderr.
 */
export type Level = "error" | "warn" | "info" | "debug";

const LABEL: Record<Level, string> = { error: " ERR", warn: "WARN", info: "INFO", debug: " DBG" };

export interface Logger {
  error(token: string, message: string): void;
  warn(token: string, message: string): void;
  info(token: string, message: string): void;
  debug(token: string, message: string): void;
}

const pad = (n: number) => String(n).padStart(2, "0");

function stamp(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function createLogger(opts: { verbosity: number; debugTokens: readonly string[]; write: (line: string) => void; now?: () => Date }): Logger {
  const tokens = new Set(opts.debugTokens);
  const now = opts.now ?? (() => new Date());
  const shows = (level: Level, token: string): boolean => {
    if (level === "error" || level === "warn") return true;
    if (level === "info") return opts.verbosity >= 2;
    return opts.verbosity >= 3 || (opts.verbosity === 2 && tokens.has(token));
  };
  const log = (level: Level) => (token: string, message: string) => {
    if (!shows(level, token)) return;
    opts.write(`${stamp(now())} [${LABEL[level]}${token ? `/${token}` : ""}] ${message}\n`);
  };
  return { error: log("error"), warn: log("warn"), info: log("info"), debug: log("debug") };
}
