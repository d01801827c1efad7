/**
 * Reads a configuration file from disk: picks the format, checks the file's permissions and the
 * status script's, and returns the typed Config with every diagnostic.
 *
 * At start-up a config readable by others, or an unsafe status script, is an error (it holds the
 * password; the script runs as root). `--check` reports the same problems as warnings, so a
 * config can be validated as another user or before it is installed.
 */
import { readFileSync, statSync } from "node:fs";
import { extname, resolve } from "node:path";
import { type Diagnostic, Diagnostics } from "./diagnostics.ts";
import { parseIni } from "./ini.ts";
import type { RawDocument } from "./raw.ts";
import { type Config, toConfig } from "./schema.ts";
import { parseToml } from "./toml.ts";

export type ConfigFormat = "ini" | "toml";

export interface LoadOptions {
  /** Forces the format; otherwise `.toml` is TOML and anything else (`.conf`, `.ini`) INI. */
  format?: ConfigFormat;
  /** True for `--check`: permission problems become warnings. */
  checkOnly?: boolean;
  /** uid that runs mlvpn (the status script must be owned by it or by root). */
  uid?: number;
  /**
   * The file's text, read by someone else: the root hook helper reads a root-only file for a
   * daemon that has dropped privileges. The reader checked the file's permissions and the
   * status script.
   */
  text?: string;
}

export interface LoadResult {
  config?: Config;
  diagnostics: Diagnostic[];
}

/** Larger than any real config; protects against `-c /dev/zero` and the like. */
const MAX_CONFIG_BYTES = 1 << 20;

export function formatFor(file: string, forced?: ConfigFormat): ConfigFormat {
  if (forced) return forced;
  return extname(file).toLowerCase() === ".toml" ? "toml" : "ini";
}

const octal = (mode: number): string => `0${(mode & 0o777).toString(8)}`;

function readText(file: string, diags: Diagnostics): string | undefined {
  try {
    const st = statSync(file);
    if (!st.isFile()) {
      diags.error(undefined, undefined, undefined, "is not a regular file");
      return undefined;
    }
    if (st.size > MAX_CONFIG_BYTES) {
      diags.error(undefined, undefined, undefined, `is ${st.size} bytes long; a configuration is at most ${MAX_CONFIG_BYTES} bytes`);
      return undefined;
    }
    const bytes = readFileSync(file);
    const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
    if (text.includes("\u0000")) {
      diags.error(undefined, undefined, undefined, "contains NUL bytes: this is not a text configuration file");
      return undefined;
    }
    return text;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : String((e as Error).message);
    diags.error(undefined, undefined, undefined, `cannot read the configuration: ${why}`);
    return undefined;
  }
}

function checkPermissions(file: string, diags: Diagnostics, checkOnly: boolean): void {
  const mode = statSync(file).mode;
  if ((mode & 0o077) === 0) return;
  const message = `is accessible by group or others (mode ${octal(mode)}) and holds the password: run chmod 600 ${file}`;
  if (checkOnly) diags.warn(undefined, undefined, undefined, `${message} (mlvpn refuses to start with it)`);
  else diags.error(undefined, undefined, undefined, message);
}

function lineOf(doc: RawDocument, section: string, key: string): number | undefined {
  return doc.sections.find((s) => s.name === section)?.entries.find((e) => e.key === key)?.line;
}

/**
 * The status script runs as root with the tunnel's addresses: it must exist, be executable by its
 * owner, be closed to group and others (like the C MLVPN checks) and, beyond C, be owned by root
 * or by the user running mlvpn, so that nobody else can swap its content.
 */
export function checkStatusCommand(config: Config, doc: RawDocument, diags: Diagnostics, checkOnly: boolean, uid: number): void {
  const script = config.general.statuscommand;
  if (script === undefined) return;
  const line = lineOf(doc, "general", "statuscommand");
  const report = (message: string): void => {
    if (checkOnly) diags.warn(line, "general", "statuscommand", `${message} (mlvpn refuses to start with it)`);
    else diags.error(line, "general", "statuscommand", message);
  };
  const absolute = resolve(script);
  if (absolute !== script) {
    diags.warn(line, "general", "statuscommand", `relative path ${JSON.stringify(script)} is taken from the current directory: ${absolute} (write the absolute path)`);
    config.general.statuscommand = absolute;
  }
  let st;
  try {
    st = statSync(absolute);
  } catch {
    report(`${absolute} does not exist`);
    return;
  }
  if (!st.isFile()) return report(`${absolute} is not a regular file`);
  if ((st.mode & 0o100) === 0) return report(`${absolute} is not executable by its owner (mode ${octal(st.mode)}): run chmod 700 ${absolute}`);
  if ((st.mode & 0o077) !== 0) return report(`${absolute} is accessible by group or others (mode ${octal(st.mode)}) and runs as root: run chmod 700 ${absolute}`);
  if (st.uid !== 0 && st.uid !== uid) return report(`${absolute} is owned by uid ${st.uid}; it must be owned by root or by the user running mlvpn (uid ${uid}): run chown root ${absolute}`);
}

export function loadConfig(file: string, options: LoadOptions = {}): LoadResult {
  const diags = new Diagnostics(file);
  const text = options.text ?? readText(file, diags);
  if (text === undefined) return { diagnostics: diags.list };
  const checkOnly = options.checkOnly ?? false;
  if (options.text === undefined) checkPermissions(file, diags, checkOnly);
  const format = formatFor(file, options.format);
  const doc = format === "toml" ? parseToml(text, diags) : parseIni(text, diags);
  if (!doc) return { diagnostics: diags.list };
  const config = toConfig(doc, file, format, diags);
  // Text read by the root hook helper: it checked the script, which this user may not see.
  if (config && options.text === undefined) checkStatusCommand(config, doc, diags, checkOnly, options.uid ?? process.getuid?.() ?? 0);
  return diags.hasErrors || !config ? { diagnostics: diags.list } : { config, diagnostics: diags.list };
}
