/**
 * Builds the standalone `mlvpn` binary with `bun build --compile`.
 *
 *   bun scripts/build.ts          → dist/mlvpn for this machine
 *   bun scripts/build.ts --all    → also dist/mlvpn-linux-{x64,arm64}[-musl], and each of them
 *                                   packed for routers into dist/packed/ (scripts/pack.ts:
 *                                   a self-unpacking file of at most 40 MB)
 *   bun scripts/build.ts --all --no-pack   → the four targets only (packing takes minutes)
 *   bun scripts/build.ts --target linux-arm64   → dist/mlvpn and that target only, not packed
 *
 * Cross-compiling makes Bun fetch the target's runtime from the npm registry (cached after the
 * first time). A target that cannot be built is reported by name and the script exits 1.
 */
import { mkdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { MAX_PACKED_BYTES } from "./pack.ts";

const ROOT = join(import.meta.dir, "..");
const ENTRY = join(ROOT, "src", "mlvpn.ts");
// Worker entry files must be compiled in as extra entrypoints (docs/bun-runtime.md, "Compiled binaries").
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

/** Packs the built targets, as many at once as there are CPUs (xz uses one each). */
async function packAll(targets: typeof CROSS_TARGETS): Promise<boolean> {
  const dir = join(DIST, "packed");
  mkdirSync(dir, { recursive: true });
  let ok = true;
  const queue = [...targets];
  const worker = async () => {
    for (let t = queue.shift(); t; t = queue.shift()) {
      const out = join(dir, t.out);
      const p = Bun.spawn([process.execPath, join(ROOT, "scripts", "pack.ts"), join(DIST, t.out), out, t.target.replace(/^bun-/, "")], { stdout: "pipe", stderr: "pipe" });
      const [text, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      if (code !== 0) {
        console.error(`build: packing ${t.out}: FAILED (${err.trim()})`);
        ok = false;
        continue;
      }
      const size = Bun.file(out).size;
      if (size > MAX_PACKED_BYTES) {
        console.error(`build: ${out.replace(`${ROOT}/`, "")} is ${size} bytes, over the ${MAX_PACKED_BYTES} a router download may take`);
        ok = false;
      }
      console.log(text.trim().replace(`${ROOT}/`, ""));
    }
  };
  await Promise.all(Array.from({ length: Math.min(availableParallelism(), targets.length) }, worker));
  return ok;
}

mkdirSync(DIST, { recursive: true });
let ok = build(join(DIST, "mlvpn"));
const only = process.argv.flatMap((a, i) => (process.argv[i - 1] === "--target" ? [a] : []));
if (only.length > 0) {
  for (const name of only) {
    const t = CROSS_TARGETS.find((c) => c.target === `bun-${name}` || c.target === name);
    if (!t) {
      console.error(`build: unknown target ${name} (known: ${CROSS_TARGETS.map((c) => c.target.replace(/^bun-/, "")).join(", ")})`);
      process.exit(2);
    }
    ok = build(join(DIST, t.out), t.target) && ok;
  }
} else if (process.argv.includes("--all")) {
  const built = CROSS_TARGETS.filter((t) => build(join(DIST, t.out), t.target));
  ok = ok && built.length === CROSS_TARGETS.length;
  if (!process.argv.includes("--no-pack")) ok = (await packAll(built)) && ok;
}
process.exit(ok ? 0 : 1);
