/**
 * Command line of mlvpn(1), as the C MLVPN 2.3.5 reads it (reference §2.1), plus our `--check`
 * and `--format`. getopt_long rules: `-c FILE`, `-cFILE`, `--config FILE`, `--config=FILE`,
 * bundled flags (`-vv`, `-tc FILE`), `--` ends the options.
 *
 * Differences from C, on purpose: `-q` works (C only knew `--quiet`), `-h` prints help to stdout
 * and exits 0, and a stray argument is a usage error instead of being ignored.
 */
import type { ConfigFormat } from "./config/load.ts";

export interface CliOptions {
  config: string;
  user: string;
  name: string;
  naturalTitle: boolean;
  /** Log to stderr instead of syslog (`--debug` or any `-D`). */
  debug: boolean;
  debugTokens: string[];
  /** 2 by default; `-v` adds one, `-q` takes one away (reference §11.1). */
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

interface OptionSpec {
  long: string;
  short?: string;
  takesValue: boolean;
  apply: (o: CliOptions, value: string) => string | undefined;
}

const SPECS: OptionSpec[] = [
  { long: "config", short: "c", takesValue: true, apply: (o, v) => void (o.config = v) },
  { long: "user", short: "u", takesValue: true, apply: (o, v) => void (o.user = v) },
  { long: "name", short: "n", takesValue: true, apply: (o, v) => void (o.name = v) },
  { long: "natural-title", takesValue: false, apply: (o) => void (o.naturalTitle = true) },
  { long: "debug", takesValue: false, apply: (o) => void (o.debug = true) },
  {
    long: "debug-token",
    short: "D",
    takesValue: true,
    apply: (o, v) => {
      if (o.debugTokens.length >= MAX_DEBUG_TOKENS) return `at most ${MAX_DEBUG_TOKENS} -D tokens`;
      o.debugTokens.push(v);
      o.debug = true;
      return undefined;
    },
  },
  { long: "verbose", short: "v", takesValue: false, apply: (o) => void o.verbosity++ },
  { long: "quiet", short: "q", takesValue: false, apply: (o) => void o.verbosity-- },
  { long: "yes-run-as-root", takesValue: false, apply: (o) => void (o.yesRunAsRoot = true) },
  { long: "check", short: "t", takesValue: false, apply: (o) => void (o.check = true) },
  {
    long: "format",
    takesValue: true,
    apply: (o, v) => {
      if (v !== "ini" && v !== "toml") return `--format takes "ini" or "toml", not ${JSON.stringify(v)}`;
      o.format = v;
      return undefined;
    },
  },
];

export function parseArgs(argv: readonly string[]): CliCommand {
  const options: CliOptions = { ...DEFAULT_OPTIONS, debugTokens: [] };
  const usage = (message: string): CliCommand => ({ kind: "usage-error", message });
  let wantHelp = false;
  let wantVersion = false;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      if (i + 1 < argv.length) return usage(`unexpected argument ${JSON.stringify(argv[i + 1])}`);
      break;
    }
    if (arg === "--help") {
      wantHelp = true;
      continue;
    }
    if (arg === "--version") {
      wantVersion = true;
      continue;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const spec = SPECS.find((s) => s.long === name);
      if (!spec) return usage(`unknown option --${name}`);
      let value = "";
      if (spec.takesValue) {
        if (eq >= 0) value = arg.slice(eq + 1);
        else if (i + 1 < argv.length) value = argv[++i]!;
        else return usage(`option --${name} needs a value`);
      } else if (eq >= 0) {
        return usage(`option --${name} takes no value`);
      }
      const err = spec.apply(options, value);
      if (err) return usage(err);
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const ch = arg[j]!;
        if (ch === "h") {
          wantHelp = true;
          continue;
        }
        if (ch === "V") {
          wantVersion = true;
          continue;
        }
        const spec = SPECS.find((s) => s.short === ch);
        if (!spec) return usage(`unknown option -${ch}`);
        let value = "";
        if (spec.takesValue) {
          if (j + 1 < arg.length) value = arg.slice(j + 1);
          else if (i + 1 < argv.length) value = argv[++i]!;
          else return usage(`option -${ch} needs a value`);
          j = arg.length;
        }
        const err = spec.apply(options, value);
        if (err) return usage(err);
      }
      continue;
    }
    return usage(`unexpected argument ${JSON.stringify(arg)}`);
  }
  if (wantHelp) return { kind: "help" };
  if (wantVersion) return { kind: "version" };
  return { kind: "run", options };
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
