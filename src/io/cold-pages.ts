/**
 * Unmaps the file pages of code and read-only data (the mlvpn binary — which embeds the whole
 * runtime —, libc, libcrypto) once start-up is over, so that only the pages the running daemon
 * touches again count in its resident memory.
 *
 * Why: most of an idle daemon's RSS is file pages (docs/performance.md, "Idle footprint"): code of
 * the runtime that ran once — module loading, the config parser, the key derivation, the first
 * handshakes, the JIT compiling them — and stays mapped for the process's life. They are not lost:
 * the kernel keeps them in its page cache (shared, reclaimable) and a later access maps them
 * again without reading the disk (a minor fault). Unmapped, they are also the first the kernel
 * reclaims when memory runs short, before pages the daemon uses.
 *
 * Safe only for pages that are exactly the file's: a private mapping without write permission
 * and without any page of its own (Anonymous 0: no page was ever copied on write, as relocations
 * do to RELRO data before it becomes read-only). MADV_DONTNEED then only drops the mapping's
 * page-table entries. Writable mappings, anonymous memory and the JIT's code are left alone.
 */
import { readFileSync } from "node:fs";
import { libc } from "./libc.ts";

const MADV_DONTNEED = 4;

export interface CleanRange {
  start: number;
  length: number;
  /** Resident before (KiB). */
  rssKiB: number;
  path: string;
}

/** The mappings of a /proc/PID/smaps text whose resident pages are all clean file pages. */
export function cleanFileRanges(smaps: string): CleanRange[] {
  const out: CleanRange[] = [];
  let cur: (CleanRange & { eligible: boolean; anon: number }) | undefined;
  const done = () => {
    if (cur && cur.eligible && cur.anon === 0 && cur.rssKiB > 0) out.push({ start: cur.start, length: cur.length, rssKiB: cur.rssKiB, path: cur.path });
  };
  for (const line of smaps.split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      done();
      const [, from, to, perms, path] = head as unknown as [string, string, string, string, string];
      const start = Number.parseInt(from, 16);
      // A file by its path ("/…"); "[vdso]", "[heap]" and anonymous mappings are not files.
      const eligible = path.startsWith("/") && perms[1] === "-" && perms[3] === "p";
      cur = { start, length: Number.parseInt(to, 16) - start, rssKiB: 0, path, eligible, anon: 0 };
      continue;
    }
    if (!cur) continue;
    const field = /^(\w+):\s+(\d+) kB/.exec(line);
    if (!field) continue;
    if (field[1] === "Rss") cur.rssKiB = Number(field[2]);
    // Any page of its own (copied on write, or swapped out) makes the mapping ineligible.
    else if (field[1] === "Anonymous" || field[1] === "Private_Dirty" || field[1] === "Swap") cur.anon += Number(field[2]);
    else if (field[1] === "Locked" && Number(field[2]) > 0) cur.eligible = false;
  }
  done();
  return out;
}

/** Unmaps the clean file pages of this process; returns what was resident in them (KiB). */
export function releaseColdFilePages(): { mappings: number; kib: number } {
  let ranges: CleanRange[];
  try {
    ranges = cleanFileRanges(readFileSync("/proc/self/smaps", "utf8"));
  } catch {
    return { mappings: 0, kib: 0 };
  }
  let kib = 0;
  let mappings = 0;
  for (const r of ranges) {
    if (libc().madvise(r.start, r.length, MADV_DONTNEED) !== 0) continue;
    kib += r.rssKiB;
    mappings++;
  }
  return { mappings, kib };
}
