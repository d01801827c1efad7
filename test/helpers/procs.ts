/** Process facts from /proc, for the privilege tests. */
import { readdirSync, readFileSync } from "node:fs";

/** The Uid line of /proc/PID/status (or of one thread): real, effective, saved, filesystem uid. */
export function uidsOf(pid: number, tid?: number): number[] {
  const status = readFileSync(tid === undefined ? `/proc/${pid}/status` : `/proc/${pid}/task/${tid}/status`, "utf8");
  return /^Uid:\s*(.*)$/m.exec(status)![1]!.trim().split(/\s+/).map(Number);
}

export function threadsOf(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map(Number);
}

/** Child processes of `parent` whose command line contains `marker`. */
export function childrenOf(parent: number, marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]!.split(" ")[1]);
      if (ppid === parent && readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").includes(marker)) found.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}
