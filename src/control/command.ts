/**
 * `mlvpn status [--json] [-c FILE | --socket PATH | --url URL]`: asks a running mlvpn for its
 * status and prints the links as a table (or the raw /status JSON). Without --socket or --url,
 * the control interface comes from the configuration file (the daemon's default -c), preferring
 * control_unix_path over the HTTP listener.
 */
import { DEFAULT_OPTIONS } from "../cli.ts";
import type { ConfigFormat } from "../config/load.ts";
import { loadConfig } from "../config/load.ts";
import { ControlClientError, type ControlTarget, fetchStatus } from "./client.ts";
import { formatStatus } from "./table.ts";

export interface StatusOptions {
  json: boolean;
  config: string;
  format?: ConfigFormat;
  target?: ControlTarget;
}

export type StatusCommand = { kind: "run"; options: StatusOptions } | { kind: "help" } | { kind: "usage-error"; message: string };

export const STATUS_HELP = `usage: mlvpn status [--json] [-c FILE | --socket PATH | --url URL]

Shows the links of a running mlvpn: state, round-trip time, loss both ways,
estimated capacity, send rate and bytes.

Options:
  -c, --config FILE   find the control interface in this configuration
                      (default: ${DEFAULT_OPTIONS.config}): control_unix_path, else
                      control_bind_host/control_bind_port
      --format FORMAT force the configuration format: ini or toml
      --socket PATH   ask the control socket at PATH
      --url URL       ask over HTTP, e.g. http://127.0.0.1:7070
      --json          print the /status JSON document instead of the table
  -h, --help          print this help and exit

Exit status: 0 success, 1 no answer from mlvpn, 2 usage error.
`;

export function parseStatusArgs(argv: readonly string[]): StatusCommand {
  const o: StatusOptions = { json: false, config: DEFAULT_OPTIONS.config };
  const usage = (message: string): StatusCommand => ({ kind: "usage-error", message });
  let sources = 0;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-h" || arg === "--help") return { kind: "help" };
    if (arg === "--json") {
      o.json = true;
      continue;
    }
    const m = /^(--config|--socket|--url|--format|-c)(?:=(.*))?$/.exec(arg) ?? (/^-c(.+)$/.exec(arg) ? ["", "-c", arg.slice(2)] : null);
    if (!m) return usage(`unknown ${arg.startsWith("-") ? "option" : "argument"} ${JSON.stringify(arg)} for mlvpn status`);
    const name = m[1]!;
    let value = m[2];
    if (value === undefined) {
      if (i + 1 >= argv.length) return usage(`option ${name} needs a value`);
      value = argv[++i]!;
    }
    if (value === "") return usage(`option ${name} needs a value`);
    switch (name) {
      case "-c":
      case "--config":
        o.config = value;
        sources++;
        break;
      case "--format":
        if (value !== "ini" && value !== "toml") return usage(`--format takes "ini" or "toml", not ${JSON.stringify(value)}`);
        o.format = value;
        break;
      case "--socket":
        o.target = { unix: value };
        sources++;
        break;
      case "--url":
        o.target = { url: value };
        sources++;
        break;
    }
  }
  if (sources > 1) return usage("give only one of -c, --socket and --url");
  return { kind: "run", options: o };
}

/** Where the configuration says the control interface is. */
export function targetFromConfig(file: string, format?: ConfigFormat): ControlTarget {
  const loaded = loadConfig(file, { format, checkOnly: true });
  if (!loaded.config) {
    const first = loaded.diagnostics.find((d) => d.severity === "error");
    throw new ControlClientError(`cannot read ${file}${first ? `: ${first.message}` : ""} (give the configuration with -c, or the control interface with --socket or --url)`);
  }
  const g = loaded.config.general;
  if (g.control_unix_path) return { unix: g.control_unix_path };
  if (g.control_bind_host !== undefined && g.control_bind_port !== undefined) {
    // A wildcard listener is reached on loopback.
    const host = g.control_bind_host === "0.0.0.0" ? "127.0.0.1" : g.control_bind_host === "::" ? "::1" : g.control_bind_host;
    return { url: `http://${host.includes(":") ? `[${host}]` : host}:${g.control_bind_port}/status` };
  }
  throw new ControlClientError(`${file} enables no control interface: set control_unix_path (or control_bind_host and control_bind_port), or use --socket/--url`);
}

export interface StatusIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

export async function runStatus(argv: readonly string[], io: StatusIo): Promise<number> {
  const cmd = parseStatusArgs(argv);
  if (cmd.kind === "help") {
    io.stdout(STATUS_HELP);
    return 0;
  }
  if (cmd.kind === "usage-error") {
    io.stderr(`mlvpn status: ${cmd.message}\nTry 'mlvpn status --help' for more information.\n`);
    return 2;
  }
  const o = cmd.options;
  try {
    const target = o.target ?? targetFromConfig(o.config, o.format);
    const { text, doc } = await fetchStatus(target);
    io.stdout(o.json ? text : formatStatus(doc));
    return 0;
  } catch (e) {
    if (!(e instanceof ControlClientError)) throw e;
    io.stderr(`mlvpn status: ${e.message}\n`);
    return 1;
  }
}
