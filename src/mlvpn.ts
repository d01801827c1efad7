/** Entry point of the `mlvpn` binary. */
import { main } from "./main.ts";

const io = {
  stdout: (text: string) => void process.stdout.write(text),
  stderr: (text: string) => void process.stderr.write(text),
  ownsProcess: true,
};

try {
  process.exitCode = await main(process.argv.slice(2), io);
} catch (e) {
  // Never a stack trace for the user: one line, and the way to get more.
  io.stderr(`mlvpn: internal error: ${(e as Error)?.message ?? String(e)} (please report it)\n`);
  process.exitCode = 1;
}
