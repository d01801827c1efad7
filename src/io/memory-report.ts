/**
 * What the daemon's memory holds, for SIGUSR1: the live JavaScript heap after a full collection
 * beside the process's resident memory.
 *
 * Why: RSS alone cannot tell a leak from memory the allocator keeps for reuse. After a burst of
 * work (10⁴ control requests, 2000 reloads: RELIABILITY.md) the process's own memory (RssAnon)
 * may stay a few MiB above its level while the live heap is back where it was, object for
 * object; a leak grows the live heap. An operator (and `npm run chaos`) asks with
 * `kill -USR1 <pid>` and reads one log line.
 */
import { readFileSync } from "node:fs";
import { heapStats } from "bun:jsc";

export interface MemoryFigures {
  /** Live JavaScript heap after the collection, array buffers' contents included (bytes). */
  liveHeapBytes: number;
  /** Of which the contents of array buffers (packet stores, socket slabs). */
  bufferBytes: number;
  objects: number;
  /** What the heap has reserved for reuse beside the live part (bytes). */
  heapCapacityBytes: number;
  /** The process's resident memory and its own part (heap, JIT code, buffers), from /proc (KiB). */
  rssKiB: number;
  rssAnonKiB: number;
  collectMs: number;
}

/** Runs a full collection (a few ms for an idle daemon), then reads the figures. */
export function measureMemory(collect: () => void = () => Bun.gc(true)): MemoryFigures {
  const t0 = performance.now();
  collect();
  const collectMs = performance.now() - t0;
  const h = heapStats();
  let rssKiB = NaN;
  let rssAnonKiB = NaN;
  try {
    const status = readFileSync("/proc/self/status", "utf8");
    rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
    rssAnonKiB = Number(/^RssAnon:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
  } catch {
    // No /proc (a container without it): the heap's figures stand alone.
  }
  return { liveHeapBytes: h.heapSize, bufferBytes: h.extraMemorySize, objects: h.objectCount, heapCapacityBytes: h.heapCapacity, rssKiB, rssAnonKiB, collectMs };
}

const mib = (bytes: number) => (bytes / 1048576).toFixed(2);

/** One log line; `npm run chaos` parses its "live heap … in … objects" part. */
export function formatMemory(m: MemoryFigures): string {
  return (
    `after a full collection (${m.collectMs.toFixed(1)} ms): live heap ${mib(m.liveHeapBytes)} MiB in ${m.objects} objects ` +
    `(array buffers ${mib(m.bufferBytes)} MiB), heap capacity ${mib(m.heapCapacityBytes)} MiB; ` +
    `resident ${mib(m.rssKiB * 1024)} MiB, of which own memory (RssAnon) ${mib(m.rssAnonKiB * 1024)} MiB`
  );
}

/** Parses a formatMemory line back (for the chaos run and the tests); null if it is not one. */
export function parseMemoryLine(line: string): { liveHeapMiB: number; objects: number; bufferMiB: number; rssAnonMiB: number } | null {
  const m = /live heap ([\d.]+) MiB in (\d+) objects \(array buffers ([\d.]+) MiB\).* own memory \(RssAnon\) ([\d.]+|NaN) MiB/.exec(line);
  return m ? { liveHeapMiB: Number(m[1]), objects: Number(m[2]), bufferMiB: Number(m[3]), rssAnonMiB: Number(m[4]) } : null;
}
