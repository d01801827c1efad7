/**
 * Builds the standalone `mlvpn` binary with `bun build --compile`.
 *
 *   bun scripts/build.ts          → dist/mlvpn for this machine
 *   bun scripts/build.ts --all    → also dist/mlvpn-linux-{x64,arm64}[-musl]
 *
 * Cross-compiling makes Bun fetch the target's runtime from the npm registry (cached after the
 * first time). A target that cannot be built is reported by name and the script exits 1.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const ENTRY = join(ROOT, "src", "mlvpn.ts");
// Worker entry files must be compiled in as extra entrypoints (bun-io.md §5).
const WORKERS = [join(ROOT, "src", "io", "tun-poll-worker.ts")];
const DIST = join(ROOT, "dist");

const CROSS_TARGETS = [
  { target: "bun-linux-x64", out: "mlvpn-linux-x64" },
  { target: "bun-linux-x64-musl", out: "mlvpn-linux-x64-musl" },
  { target: "bun-linux-arm64", out: "mlvpn-linux-arm64" },
  { target: "bun-linux-arm64-musl", out: "mlvpn-linux-arm64-musl" },
];

function build(outfile: string, target?: string): boolean {
  // --bytecode precompiles to JSC bytecode (faster start-up); it requires ESM output.
  const args = ["build", "--compile", "--minify", "--bytecode", "--format=esm", ENTRY, ...WORKERS, "--outfile", outfile];
  if (target) args.push(`--target=${target}`);
  const started = performance.now();
  const r = Bun.spawnSync([process.execPath, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const ms = Math.round(performance.now() - started);
  if (r.exitCode !== 0) {
    const why = `${r.stderr.toString()}${r.stdout.toString()}`.trim().split("\n").slice(-3).join(" | ");
    console.error(`build: ${target ?? "host"}: FAILED (${why})`);
    return false;
  }
  console.log(`build: ${outfile.replace(`${ROOT}/`, "")}${target ? ` (${target})` : ""} in ${ms} ms`);
  return true;
}

mkdirSync(DIST, { recursive: true });
let ok = build(join(DIST, "mlvpn"));
if (process.argv.includes("--all")) {
  for (const t of CROSS_TARGETS) ok = build(join(DIST, t.out), t.target) && ok;
}
process.exit(ok ? 0 : 1);
