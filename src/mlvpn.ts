/** Entry point of the `mlvpn` binary. */
import { runHookHelper } from "./io/hook-helper.ts";
import { HOOK_HELPER_FLAG } from "./io/hook-protocol.ts";
import { main } from "./main.ts";

const io = {
  stdout: (text: string) => void process.stdout.write(text),
  stderr: (text: string) => void process.stderr.write(text),
  ownsProcess: true,
};

try {
  // The root hook helper is this binary too; runHookHelper declines (undefined) unless the daemon started it.
  const helper = process.argv[2] === HOOK_HELPER_FLAG ? await runHookHelper(process.argv.slice(3)) : undefined;
  process.exitCode = helper ?? (await main(process.argv.slice(2), io));
} catch (e) {
  // Never a stack trace for the user: one line, and the way to get more.
  io.stderr(`mlvpn: internal error: ${(e as Error)?.message ?? String(e)} (please report it)\n`);
  process.exitCode = 1;
}
