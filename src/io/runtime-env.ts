/**
 * Settings of the runtime under the daemon that only the environment can give: the allocator and
 * the JavaScript engine read them once, before any of our code runs. When they are missing, the
 * process executes itself again (execve: same pid, same arguments, same fds but the close-on-exec
 * ones) with them added; a value already in the environment is kept, so an operator can override
 * each one, and MLVPN_RUNTIME_ENV=0 turns the whole thing off.
 *
 * Each setting is there for the idle footprint (issue #15: ≤ 5 wake-ups/s of the whole process),
 * measured in docs/performance.md ("Idle footprint"):
 *
 * - BUN_JSC_thresholdForJITAfterWarmUp=5000, BUN_JSC_thresholdForOptimizeAfterWarmUp=10000 (ten
 *   times JavaScriptCore's 500 and 1000): how much a function must have run before the JIT
 *   compiles it (baseline), then optimises it (DFG). Idle, the code that runs (a keepalive per
 *   link and second, its answer) reaches the default thresholds one function after another for
 *   minutes, and each compilation wakes a JIT thread: 3.5-4 wake-ups/s measured 30-50 s after
 *   start, 1.3-1.8 with these. The data path runs thousands of times a second under load and
 *   still reaches them within a second (the speed scenario is measured with them).
 *
 * The cost is one more start of the runtime (a few tens of ms), paid once.
 *
 * Not set, for the allocator's scavenger thread (0.8-1.8 wake-ups/s idle: Bun's mimalloc wakes
 * it when the event loop goes to sleep after a timer, and to purge freed memory 100 ms later):
 * - MIMALLOC_PURGE_DELAY=0 silences it by returning freed pages at once, but under load it cost
 *   1.2-1.4 × the CPU per forwarded packet in three of three speed rounds (freed pages faulted
 *   in again, presumably; not profiled). An operator for whom idle matters more can set it.
 * - MIMALLOC_PURGE_DELAY=10000 with MIMALLOC_PURGE_HOLES_MIN_INTERVAL=10000 (100 ms each) brought
 *   it to 0.4-0.5/s at no speed cost, but the server's RSS under a 50 Mbit/s load peaked 20-30
 *   MiB higher (95.6-98.6 against 68.5-74.6 MiB, two runs). A delay of 1000 or 3000 ms: 0.6-1.0/s.
 * - MIMALLOC_SCAVENGER=0 (no such thread: the purges fall to the main thread): about 0.8 × the
 *   goodput of main in a five-round speed run.
 * Nor BUN_JSC_useConcurrentJIT=0 (the main thread compiles, no JITWorker wake-ups): also about
 * 0.8 × the goodput of eight-second transfers, which include the warm-up.
 */
import { ptr } from "bun:ffi";
import { readFileSync, readlinkSync } from "node:fs";
import { errno, libc, SysError } from "./libc.ts";

export const RUNTIME_ENV: Readonly<Record<string, string>> = {
  BUN_JSC_thresholdForJITAfterWarmUp: "5000",
  BUN_JSC_thresholdForOptimizeAfterWarmUp: "10000",
};

/** The environment to execute with, or undefined when nothing is missing (or it is turned off). */
export function missingRuntimeEnv(env: Record<string, string | undefined>, wanted: Readonly<Record<string, string>> = RUNTIME_ENV): Record<string, string> | undefined {
  if (env.MLVPN_RUNTIME_ENV === "0") return undefined;
  const missing = Object.entries(wanted).filter(([k]) => env[k] === undefined);
  if (missing.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  for (const [k, v] of missing) out[k] = v;
  return out;
}

/** The NUL-terminated strings of a /proc/self file (cmdline, environ), as they are: no decoding. */
function nulStrings(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const end = bytes.indexOf(0, at);
    if (end < 0) break;
    out.push(bytes.subarray(at, end + 1));
    at = end + 1;
  }
  return out;
}

/** A NULL-terminated `char *[]` pointing into `items` (NUL-terminated, alive through the call). */
function cArray(items: Uint8Array[]): Uint8Array {
  const arr = new BigUint64Array(items.length + 1);
  items.forEach((b, i) => (arr[i] = BigInt(ptr(b))));
  return new Uint8Array(arr.buffer);
}

/**
 * Executes this process again with the runtime's settings when some are missing; returns only
 * when none are (or when the exec failed: the daemon then runs without them, `onFailure` says why).
 */
export function execWithRuntimeEnv(onFailure: (message: string) => void = () => {}): void {
  const env = missingRuntimeEnv(process.env);
  if (!env) return;
  let argv: Uint8Array[];
  let envp: Uint8Array[];
  try {
    // The arguments and the environment byte for byte (process.argv of a compiled binary is
    // rewritten by Bun, and decoding could change bytes that are not UTF-8).
    const copy = (b: Buffer) => new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer);
    argv = nulStrings(copy(readFileSync("/proc/self/cmdline")));
    envp = nulStrings(copy(readFileSync("/proc/self/environ")));
  } catch (e) {
    onFailure(`cannot read /proc/self: ${(e as Error).message}`);
    return;
  }
  for (const k of Object.keys(env)) if (process.env[k] === undefined) envp.push(new TextEncoder().encode(`${k}=${env[k]}\0`));
  // By its own path, not /proc/self/exe: the kernel names the process after the file executed
  // (`exe` would show in ps and defeat pidof mlvpn).
  let self = "/proc/self/exe";
  try {
    const real = readlinkSync(self);
    if (!real.endsWith(" (deleted)")) self = real;
  } catch {}
  const path = new TextEncoder().encode(`${self}\0`);
  libc().execve(path, cArray(argv), cArray(envp));
  onFailure(new SysError("execve", errno(), self).message);
}
