/**
 * Skips that say why. A test that needs root, a tool or a device calls reportSkip() with the
 * reason it cannot run here (or null when it can). Each skip prints one machine-readable line,
 *
 *   SKIP-REASON: <test file>: <what is skipped>: <why>
 *
 * and, when the environment names a file in MLVPN_SKIP_LOG, appends the same line there. .ci/run
 * (CI=true, as root, with the Debian packages installed) sets MLVPN_SKIP_LOG and fails if
 * anything was skipped: in CI every test should run.
 */
import { appendFileSync } from "node:fs";
import { basename } from "node:path";

export const SKIP_PREFIX = "SKIP-REASON:";

/** The line printed (and logged) for one skip. */
export function skipLine(file: string, what: string, reason: string): string {
  return `${SKIP_PREFIX} ${basename(file)}: ${what}: ${reason}`;
}

/** Reports the skip if there is a reason; returns whether to skip (for describe.skipIf / test.skipIf). */
export function reportSkip(file: string, what: string, reason: string | null | undefined): boolean {
  if (!reason) return false;
  const line = skipLine(file, what, reason);
  console.log(line);
  const log = process.env.MLVPN_SKIP_LOG;
  if (log) appendFileSync(log, `${line}\n`);
  return true;
}
