/**
 * `mlvpn status`: asks a running mlvpn for its status and prints the links as a table (or the raw
 * /status JSON). Without a socket or URL, the control interface comes from the configuration file,
 * preferring control_unix_path over the HTTP listener. The command line is read by src/cli.ts.
 */
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

/** Exit status 0 when mlvpn answered, 1 when not (the message on stderr). */
export async function runStatus(o: StatusOptions, io: StatusIo): Promise<number> {
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
