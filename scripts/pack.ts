/**
 * Self-unpacking single files for routers: a POSIX sh stub (scripts/pack/stub.sh) followed by
 * the xz-compressed executable. The stub unpacks it once into a tmpfs, checks its SHA-256 and
 * execs it with every argument (see the stub's header and README.md "Routers").
 *
 *   bun scripts/pack.ts BINARY OUT TARGET [--level N]
 *
 * build.ts --all packs every target into dist/packed/ with the default level. xz's preset 6
 * (8 MiB dictionary) is kept on purpose: decompressing needs about the dictionary's size in RAM,
 * which a router has; presets 7–9 would need up to 65 MiB for 1–2 % less.
 */
import { createHash } from "node:crypto";
import { chmodSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { VERSION } from "../src/version.ts";

export const STUB = join(import.meta.dir, "pack", "stub.sh");
export const DEFAULT_LEVEL = 6;
/** The size a router download must stay under (issue #15): 40 MB. */
export const MAX_PACKED_BYTES = 40_000_000;

export interface PackResult {
  out: string;
  unpackedBytes: number;
  packedBytes: number;
  sha256: string;
  ms: number;
}

export interface PackOptions {
  /** xz preset 0–9 (default 6). The tests use 0 to stay fast; the stub is the same. */
  level?: number;
  /** Version in the unpacked file's name (default: package.json's). */
  version?: string;
}

/** The stub with its placeholders filled in. */
export function stubFor(target: string, version: string, sha256: string, unpackedBytes: number, payloadBytes: number): string {
  if (!/^[a-z0-9-]+$/.test(target)) throw new Error(`pack: bad target name ${JSON.stringify(target)}`);
  if (!/^[0-9A-Za-z.+-]+$/.test(version)) throw new Error(`pack: bad version ${JSON.stringify(version)}`);
  const fill: Record<string, string> = {
    VERSION: version,
    TARGET: target,
    SHA256: sha256,
    SHORT: sha256.slice(0, 12),
    UNPACKED_BYTES: String(unpackedBytes),
    PAYLOAD_BYTES: String(payloadBytes),
  };
  const text = readFileSync(STUB, "utf8").replace(/@([A-Z0-9_]+)@/g, (m, k: string) => {
    const v = fill[k];
    if (v === undefined) throw new Error(`pack: unknown placeholder ${m} in ${STUB}`);
    return v;
  });
  return text.endsWith("\n") ? text : `${text}\n`;
}

export function pack(binary: string, out: string, target: string, o: PackOptions = {}): PackResult {
  const started = performance.now();
  const level = o.level ?? DEFAULT_LEVEL;
  const bytes = readFileSync(binary);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  // One thread: the single-block stream compresses best and any xz/unxz (busybox too) reads it.
  // No BCJ filter (--x86/--arm64): busybox's unxz refuses them. The bytes hashed are the bytes
  // compressed (a build replacing the file meanwhile cannot mix two versions).
  const xz = Bun.spawnSync(["xz", `-${level}`, "-T1", "-c"], { stdin: bytes, stdout: "pipe", stderr: "pipe", maxBuffer: bytes.length + (1 << 20) });
  if (xz.exitCode !== 0) throw new Error(`pack: xz failed on ${binary}: ${xz.stderr.toString().trim() || `exit ${xz.exitCode}`}`);
  const payload = xz.stdout;
  const stub = Buffer.from(stubFor(target, o.version ?? VERSION, sha256, bytes.length, payload.length));
  const tmp = `${out}.tmp${process.pid}`;
  writeFileSync(tmp, Buffer.concat([stub, payload]));
  chmodSync(tmp, 0o755);
  renameSync(tmp, out);
  return { out, unpackedBytes: bytes.length, packedBytes: statSync(out).size, sha256, ms: Math.round(performance.now() - started) };
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const li = args.indexOf("--level");
  const level = li >= 0 ? Number(args.splice(li, 2)[1]) : DEFAULT_LEVEL;
  if (args.length !== 3 || !Number.isInteger(level) || level < 0 || level > 9) {
    console.error("usage: bun scripts/pack.ts BINARY OUT TARGET [--level 0-9]");
    process.exit(2);
  }
  try {
    const r = pack(args[0]!, args[1]!, args[2]!, { level });
    console.log(`pack: ${r.out}: ${r.packedBytes} bytes (${r.unpackedBytes} unpacked) in ${r.ms} ms`);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
