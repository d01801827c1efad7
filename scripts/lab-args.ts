/** Command-line arguments of the lab and simulator scripts (scripts/lab.ts, lab-cut-trace.ts, lab-faults.ts, sim-trace-links.ts, sim-random-pairs.ts). */
import type { UplinkShape } from "../test/lab/topology.ts";

export class UsageError extends Error {}

/**
 * Reads a script's options with `read`; a UsageError (a missing, non-numeric or unknown value)
 * is printed as `script: message` and ends the process with status 2, before any work starts.
 */
export function readOptions<T>(script: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`${script}: ${e.message}`);
    process.exit(2);
  }
}

export function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith("--")) throw new UsageError(`${name} needs a value`);
  args.splice(i, 2);
  return v;
}

export function number(v: string, what: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new UsageError(`${what}: not a number: ${JSON.stringify(v)}`);
  return n;
}

/** "20/10/5/0.5/50" → shape; empty fields are left out, rate "-" means unlimited. */
export function parseUplink(spec: string): UplinkShape {
  const f = spec.split("/").map((x) => x.trim());
  if (f.length > 5) throw new UsageError(`uplink "${spec}": at most rate/delay/jitter/loss/queue`);
  const s: UplinkShape = {};
  if (f[0] && f[0] !== "-") s.rateMbit = number(f[0], "rate");
  if (f[1]) s.delayMs = number(f[1], "delay");
  if (f[2]) s.jitterMs = number(f[2], "jitter");
  if (f[3]) s.lossPct = number(f[3], "loss");
  if (f[4]) s.queuePackets = number(f[4], "queue");
  return s;
}
