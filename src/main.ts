/**
 * The program: parse the command line, read the configuration, then either print it (`--check`)
 * or run the tunnel. Output goes through `io` so tests run it in-process.
 */
import { HELP, parseArgs } from "./cli.ts";
import { formatDiagnostic } from "./config/diagnostics.ts";
import { dumpConfig } from "./config/dump.ts";
import { loadConfig } from "./config/load.ts";
import { StartError, startDaemon } from "./daemon.ts";
import { createLogger } from "./log.ts";
import { runStatus } from "./status/command.ts";
import { VERSION } from "./version.ts";

export interface MainIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

export async function main(argv: readonly string[], io: MainIo): Promise<number> {
  if (argv[0] === "status") return runStatus(argv.slice(1), io);
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
  const loaded = loadConfig(options.config, { format: options.format, checkOnly: options.check });
  for (const d of loaded.diagnostics) io.stderr(`${formatDiagnostic(d)}\n`);
  if (!loaded.config) {
    const errors = loaded.diagnostics.filter((d) => d.severity === "error").length;
    io.stderr(`mlvpn: ${options.config}: ${errors} error${errors === 1 ? "" : "s"}, not ${options.check ? "valid" : "starting"}\n`);
    return EXIT_ERROR;
  }
  if (options.check) {
    io.stdout(dumpConfig(loaded.config, `mlvpn ${VERSION}: ${options.config} is valid; normalized with defaults, password redacted`));
    return EXIT_OK;
  }
  const log = createLogger({ verbosity: options.verbosity, debugTokens: options.debugTokens, write: io.stderr });
  let daemon;
  try {
    daemon = await startDaemon(loaded.config, options, log);
  } catch (e) {
    if (!(e instanceof StartError)) throw e;
    io.stderr(`mlvpn: ${e.message}\n`);
    return EXIT_ERROR;
  }
  const stop = (signal: string) => {
    log.info("", `${signal} received, stopping`);
    void daemon.stop();
  };
  const onInt = () => stop("SIGINT");
  const onTerm = () => stop("SIGTERM");
  const onHup = () => log.warn("config", "SIGHUP: reloading the configuration is not implemented yet; restart mlvpn to apply changes");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  process.on("SIGHUP", onHup);
  await daemon.stopped;
  // Signal listeners keep Bun's event loop alive: remove them so the process can end.
  process.off("SIGINT", onInt);
  process.off("SIGTERM", onTerm);
  process.off("SIGHUP", onHup);
  return EXIT_OK;
}
