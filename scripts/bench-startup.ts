/**
 * Start-up time of the compiled binary for `--check` (issue #3 target: under 100 ms), measured
 * beside `/bin/true` so that the machine's own process start cost is visible.
 *   bun scripts/bench-startup.ts [runs]
 */
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const BIN = join(ROOT, "dist", "mlvpn");
const CONFIG = join(ROOT, "test", "fixtures", "client.conf");
const runs = Number(process.argv[2] ?? 30);

function time(cmd: string[]): number[] {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = Bun.spawnSync(cmd, { stdout: "ignore", stderr: "ignore" });
    ms.push(performance.now() - t0);
    if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} exited ${r.exitCode}`);
  }
  return ms.sort((a, b) => a - b);
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

if (!(await Bun.file(BIN).exists())) {
  console.error("bench-startup: dist/mlvpn is missing; run npm run build first");
  process.exit(1);
}
const check = time([BIN, "-t", "-c", CONFIG]);
const version = time([BIN, "--version"]);
const baseline = time(["/bin/true"]);
const row = (name: string, xs: number[]) => `| ${name} | ${pct(xs, 50).toFixed(1)} | ${pct(xs, 90).toFixed(1)} | ${xs[xs.length - 1]!.toFixed(1)} |`;
console.log(`start-up over ${runs} runs (ms)\n| command | median | p90 | max |\n|---|---|---|---|`);
console.log(row("mlvpn -t -c client.conf", check));
console.log(row("mlvpn --version", version));
console.log(row("/bin/true", baseline));
