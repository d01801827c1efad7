/**
 * The program: parse the command line, read the configuration, then either print it (`--check`)
 * or run the tunnel. Output goes through `io` so tests run it in-process.
 */
import { fileURLToPath } from "node:url";
import { type CliOptions, HELP, parseArgs, runStatusCommand } from "./cli.ts";
import { generateKey, passwordWarning } from "./config/password.ts";
import { formatDiagnostic } from "./config/diagnostics.ts";
import { dumpConfig } from "./config/dump.ts";
import { loadConfig } from "./config/load.ts";
import { type DaemonOptions, StartError, startDaemon } from "./daemon.ts";
import { releaseColdFilePages } from "./io/cold-pages.ts";
import { execWithRuntimeEnv } from "./io/runtime-env.ts";
import { createServiceStatus, type ServiceStatus } from "./io/service-status.ts";
import { syslogSink } from "./io/syslog.ts";
import { createLogger, lineSink } from "./log.ts";
import { reloadFromFile } from "./reload.ts";
import { runFilter } from "./filter-command.ts";
import { VERSION } from "./version.ts";
import { formatMemory, measureMemory } from "./io/memory-report.ts";

export interface MainIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Set by the binary's entry point: main() is the whole process and may rewrite its title. */
  ownsProcess?: boolean;
}

/**
 * How to start this program again (the root hook helper is this program in a hidden mode): the
 * compiled binary runs itself; from source, Bun runs the entry point beside this file, whatever
 * runs main() now (the entry point, or a test calling main() in-process).
 */
function selfCommand(): string[] {
  if (import.meta.url.startsWith("file:///$bunfs/")) return [process.execPath];
  return [process.execPath, fileURLToPath(new URL("./mlvpn.ts", import.meta.url))];
}

/** The daemon's part of the command line. */
export function daemonOptions(options: CliOptions, service?: ServiceStatus): DaemonOptions {
  return { name: options.name, user: options.user, yesRunAsRoot: options.yesRunAsRoot, selfCommand: selfCommand(), service };
}

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

export async function main(argv: readonly string[], io: MainIo): Promise<number> {
  if (argv[0] === "status") return runStatusCommand(argv.slice(1), io);
  if (argv[0] === "genkey" && argv.length === 1) {
    io.stdout(`${generateKey((b) => void crypto.getRandomValues(b))}\n`);
    return EXIT_OK;
  }
  if (argv[0] === "filter") return runFilter(argv.slice(1), io);
  const cmd = parseArgs(argv);
  switch (cmd.kind) {
    case "help":
      io.stdout(HELP);
      return EXIT_OK;
    case "version":
      io.stdout(`mlvpn version ${VERSION}.\n`);
      return EXIT_OK;
    case "usage-error":
      io.stderr(`mlvpn: ${cmd.message}\nTry 'mlvpn --help' for more information.\n`);
      return EXIT_USAGE;
    case "run":
      break;
  }
  const options = cmd.options;
  // The runtime's settings for a long-running daemon come from the environment: this process
  // executes itself again with them when they are missing (io/runtime-env.ts) — before anything
  // is printed or opened, or the process title changed (the arguments are read back from
  // /proc/self/cmdline).
  if (io.ownsProcess === true && !options.check) execWithRuntimeEnv((why) => io.stderr(`mlvpn: running without the runtime's idle settings: ${why}\n`));
  const loaded = loadConfig(options.config, { format: options.format, checkOnly: options.check });
  for (const d of loaded.diagnostics) io.stderr(`${formatDiagnostic(d)}\n`);
  if (!loaded.config) {
    const errors = loaded.diagnostics.filter((d) => d.severity === "error").length;
    io.stderr(`mlvpn: ${options.config}: ${errors} error${errors === 1 ? "" : "s"}, not ${options.check ? "valid" : "starting"}\n`);
    return EXIT_ERROR;
  }
  if (options.check) {
    const weak = passwordWarning(loaded.config.general.password);
    if (weak) io.stderr(`${options.config}: warning: [general] password: ${weak}\n`);
    io.stdout(dumpConfig(loaded.config, `mlvpn ${VERSION}: ${options.config} is valid; normalized with defaults, password redacted`));
    return EXIT_OK;
  }
  // Syslog unless --debug or -D (docs/c-mlvpn.md, "Logging"); a missing syslog falls back to stderr.
  const sink = options.debug ? lineSink(io.stderr) : syslogSink({ ident: options.name, fallback: io.stderr });
  const log = createLogger({ verbosity: options.verbosity, debugTokens: options.debugTokens, sink });
  const service = createServiceStatus({ name: options.name, title: io.ownsProcess === true && !options.naturalTitle, log, ...(io.ownsProcess === true ? { coldPages: releaseColdFilePages } : {}) });
  // A SIGHUP during start-up (DNS, the hook helper) would kill the process by default: it is
  // kept for when the daemon runs.
  let hupWhileStarting = false;
  const onEarlyHup = () => void (hupWhileStarting = true);
  process.on("SIGHUP", onEarlyHup);
  // SIGUSR1: one log line on memory (io/memory-report.ts). At most one a second: each runs a
  // full collection, and the event loop also moves the packets.
  let memoryReportedAt = -Infinity;
  const onUsr1 = () => {
    const now = performance.now();
    if (now - memoryReportedAt < 1000) return;
    memoryReportedAt = now;
    log.info("memory", formatMemory(measureMemory()));
  };
  // Registered from here on: SIGUSR1's default action would end the process.
  process.on("SIGUSR1", onUsr1);
  if (io.ownsProcess === true) {
    // The code that loaded the modules and the configuration is done with: unmapped before the
    // start-up's own peak (the key derivation's 16 MiB) adds to it (io/cold-pages.ts).
    releaseColdFilePages();
  }
  let daemon;
  try {
    daemon = await startDaemon(loaded.config, { ...daemonOptions(options, service), ...(io.ownsProcess === true ? { beforeKeyDerivation: releaseColdFilePages } : {}) }, log);
  } catch (e) {
    if (!(e instanceof StartError)) throw e;
    io.stderr(`mlvpn: ${e.message}\n`);
    return EXIT_ERROR;
  } finally {
    process.off("SIGHUP", onEarlyHup);
    // Not started (refused or failed): nothing may keep the event loop alive.
    if (!daemon) process.off("SIGUSR1", onUsr1);
  }
  const stop = (signal: string) => {
    log.info("", `${signal} received, stopping`);
    void daemon.stop();
  };
  const onInt = () => stop("SIGINT");
  const onTerm = () => stop("SIGTERM");
  const onHup = () => {
    service.reloading();
    void reloadFromFile(options.config, options.format, daemon, log).finally(() => service.reloaded());
  };
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  process.on("SIGHUP", onHup);
  if (hupWhileStarting) onHup();
  await daemon.stopped;
  // Signal listeners keep Bun's event loop alive: remove them so the process can end.
  process.off("SIGINT", onInt);
  process.off("SIGTERM", onTerm);
  process.off("SIGHUP", onHup);
  process.off("SIGUSR1", onUsr1);
  log.flush?.();
  if (daemon.failure) {
    io.stderr(`mlvpn: stopped: ${daemon.failure}\n`);
    return EXIT_ERROR;
  }
  return EXIT_OK;
}
