/**
 * Command line of mlvpn(1), as the C MLVPN 2.3.5 reads it (docs/c-mlvpn.md, "Command line"), plus our `--check`
 * and `--format`. getopt_long rules: `-c FILE`, `-cFILE`, `--config FILE`, `--config=FILE`,
 * bundled flags (`-vv`, `-tc FILE`), `--` ends the options.
 *
 * The same reader, with the same rules and messages, reads `mlvpn status`'s options.
 *
 * Differences from C, on purpose: `-q` works (C only knew `--quiet`), `-h` prints help to stdout
 * and exits 0, and a stray argument is a usage error instead of being ignored.
 */
import { parseArgs as parseTokens } from "node:util";
import type { ConfigFormat } from "./config/load.ts";
import { runStatus, type StatusIo, type StatusOptions } from "./control/command.ts";

export interface CliOptions {
  config: string;
  user: string;
  name: string;
  naturalTitle: boolean;
  /** Log to stderr instead of syslog (`--debug` or any `-D`). */
  debug: boolean;
  debugTokens: string[];
  /** 2 by default; `-v` adds one, `-q` takes one away (docs/c-mlvpn.md, "Logging"). */
  verbosity: number;
  yesRunAsRoot: boolean;
  check: boolean;
  format?: ConfigFormat;
}

export type CliCommand = { kind: "run"; options: CliOptions } | { kind: "help" } | { kind: "version" } | { kind: "usage-error"; message: string };

export const DEFAULT_OPTIONS: CliOptions = {
  config: "mlvpn.conf",
  user: "mlvpn",
  name: "mlvpn",
  naturalTitle: false,
  debug: false,
  debugTokens: [],
  verbosity: 2,
  yesRunAsRoot: false,
  check: false,
};

/** C accepts at most 40 `-D` tokens. */
const MAX_DEBUG_TOKENS = 40;

/**
 * One option: its names and what it does to the options being built. `apply` returns an error
 * message for a bad value. `rawName` is the spelling used (`-c` or `--config`), for messages.
 */
interface OptionSpec<O> {
  long: string;
  short?: string;
  takesValue: boolean;
  apply: (o: O, value: string, rawName: string) => string | undefined;
}

/**
 * Applies `argv` to `o` in order, following getopt_long's rules (node:util parseArgs in its
 * non-strict mode reads them: `-c FILE`, `-cFILE`, `--config FILE`, `--config=FILE`, bundled
 * flags, `--` ends the options, a value may start with `-`); the checks are ours, so every
 * message names the argument. Returns the first error, or undefined.
 */
function applyArgs<O>(argv: readonly string[], specs: readonly OptionSpec<O>[], o: O): string | undefined {
  const options = Object.fromEntries(specs.map((s) => [s.long, { type: s.takesValue ? ("string" as const) : ("boolean" as const), multiple: true, ...(s.short ? { short: s.short } : {}) }]));
  const { tokens } = parseTokens({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  for (const t of tokens) {
    if (t.kind === "option-terminator") continue;
    if (t.kind === "positional") return `unexpected argument ${JSON.stringify(t.value)}`;
    const spec = specs.find((s) => t.rawName === `--${s.long}` || (s.short !== undefined && t.rawName === `-${s.short}`));
    if (!spec) return `unknown option ${t.rawName}`;
    if (spec.takesValue && t.value === undefined) return `option ${t.rawName} needs a value`;
    if (!spec.takesValue && t.value !== undefined) return `option ${t.rawName} takes no value`;
    const err = spec.apply(o, t.value ?? "", t.rawName);
    if (err) return err;
  }
  return undefined;
}

function formatOf(v: string): { format?: ConfigFormat; error?: string } {
  return v === "ini" || v === "toml" ? { format: v } : { error: `--format takes "ini" or "toml", not ${JSON.stringify(v)}` };
}

interface MlvpnArgs {
  options: CliOptions;
  help: boolean;
  version: boolean;
}

const SPECS: OptionSpec<MlvpnArgs>[] = [
  { long: "config", short: "c", takesValue: true, apply: ({ options }, v) => void (options.config = v) },
  { long: "user", short: "u", takesValue: true, apply: ({ options }, v) => void (options.user = v) },
  { long: "name", short: "n", takesValue: true, apply: ({ options }, v) => void (options.name = v) },
  { long: "natural-title", takesValue: false, apply: ({ options }) => void (options.naturalTitle = true) },
  { long: "debug", takesValue: false, apply: ({ options }) => void (options.debug = true) },
  {
    long: "debug-token",
    short: "D",
    takesValue: true,
    apply: ({ options }, v) => {
      if (options.debugTokens.length >= MAX_DEBUG_TOKENS) return `at most ${MAX_DEBUG_TOKENS} -D tokens`;
      options.debugTokens.push(v);
      options.debug = true;
      return undefined;
    },
  },
  { long: "verbose", short: "v", takesValue: false, apply: ({ options }) => void options.verbosity++ },
  { long: "quiet", short: "q", takesValue: false, apply: ({ options }) => void options.verbosity-- },
  { long: "yes-run-as-root", takesValue: false, apply: ({ options }) => void (options.yesRunAsRoot = true) },
  { long: "check", short: "t", takesValue: false, apply: ({ options }) => void (options.check = true) },
  {
    long: "format",
    takesValue: true,
    apply: ({ options }, v) => {
      const f = formatOf(v);
      options.format = f.format;
      return f.error;
    },
  },
  { long: "help", short: "h", takesValue: false, apply: (a) => void (a.help = true) },
  { long: "version", short: "V", takesValue: false, apply: (a) => void (a.version = true) },
];

export function parseArgs(argv: readonly string[]): CliCommand {
  const a: MlvpnArgs = { options: { ...DEFAULT_OPTIONS, debugTokens: [] }, help: false, version: false };
  const error = applyArgs(argv, SPECS, a);
  if (error) return { kind: "usage-error", message: error };
  if (a.help) return { kind: "help" };
  if (a.version) return { kind: "version" };
  return { kind: "run", options: a.options };
}

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

export type StatusCommand = { kind: "run"; options: StatusOptions } | { kind: "help" } | { kind: "usage-error"; message: string };

interface StatusArgs {
  options: StatusOptions;
  help: boolean;
  /** How many of -c, --socket and --url were given. */
  sources: number;
}

/** Values of `mlvpn status`'s options must not be empty: an empty path is never meant. */
function source(set: (a: StatusArgs, v: string) => void): OptionSpec<StatusArgs>["apply"] {
  return (a, v, rawName) => {
    if (v === "") return `option ${rawName} needs a value`;
    set(a, v);
    a.sources++;
    return undefined;
  };
}

const STATUS_SPECS: OptionSpec<StatusArgs>[] = [
  { long: "config", short: "c", takesValue: true, apply: source((a, v) => (a.options.config = v)) },
  { long: "socket", takesValue: true, apply: source((a, v) => (a.options.target = { unix: v })) },
  { long: "url", takesValue: true, apply: source((a, v) => (a.options.target = { url: v })) },
  {
    long: "format",
    takesValue: true,
    apply: (a, v) => {
      const f = formatOf(v);
      a.options.format = f.format;
      return f.error;
    },
  },
  { long: "json", takesValue: false, apply: (a) => void (a.options.json = true) },
  { long: "help", short: "h", takesValue: false, apply: (a) => void (a.help = true) },
];

export function parseStatusArgs(argv: readonly string[]): StatusCommand {
  const a: StatusArgs = { options: { json: false, config: DEFAULT_OPTIONS.config }, help: false, sources: 0 };
  const error = applyArgs(argv, STATUS_SPECS, a);
  if (error) return { kind: "usage-error", message: error };
  if (a.help) return { kind: "help" };
  if (a.sources > 1) return { kind: "usage-error", message: "give only one of -c, --socket and --url" };
  return { kind: "run", options: a.options };
}

export const HELP = `usage: mlvpn [options]
       mlvpn status [--json] [-c FILE | --socket PATH | --url URL]  (see mlvpn status --help)
       mlvpn filter EXPRESSION FILE.pcap  (packets a [filters] expression matches)

Multi-link VPN: bonds several uplinks into one encrypted tunnel.

Options:
  -c, --config FILE     configuration file (default: mlvpn.conf); .toml files are
                        read as TOML, anything else as MLVPN's INI format
      --format FORMAT   force the configuration format: ini or toml
  -t, --check           validate the configuration, print it normalized (password
                        redacted) and exit: 0 if valid, 1 if not
  -u, --user USER       user to run as after start-up (default: mlvpn)
  -n, --name NAME       name in the process title and syslog (default: mlvpn)
      --natural-title   never change the process title
      --debug           log to stderr instead of syslog
  -D TOKEN              show debug messages for TOKEN (config, control, net,
                        protocol, reorder, rtt, systemd, tuntap, wrr); implies --debug
  -v, --verbose         more messages (repeatable)
  -q, --quiet           fewer messages (repeatable)
      --yes-run-as-root keep running as root (no privilege drop)
  -V, --version         print the version and exit
  -h, --help            print this help and exit

Exit status: 0 success, 1 configuration or runtime error, 2 usage error.
`;

/** `mlvpn status ARGS`: exit status 0 success, 1 no answer from mlvpn, 2 usage error. */
export async function runStatusCommand(argv: readonly string[], io: StatusIo): Promise<number> {
  const cmd = parseStatusArgs(argv);
  if (cmd.kind === "help") {
    io.stdout(STATUS_HELP);
    return 0;
  }
  if (cmd.kind === "usage-error") {
    io.stderr(`mlvpn status: ${cmd.message}\nTry 'mlvpn status --help' for more information.\n`);
    return 2;
  }
  return runStatus(cmd.options, io);
}
