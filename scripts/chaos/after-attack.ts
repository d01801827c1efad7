/**
 * What every hostile-input test of `npm run chaos` (scripts/chaos/hostile.ts) checks after its
 * attack: both daemons alive, not restarted, no stack trace, the probe through the tunnel, and
 * memory, as the process's own (RssAnon) and as the live heap after a full collection.
 */
import { alive, type ChaosLab, HEAP_BOUND, heapBack, heapChange, liveHeap, logSince, logSize, mib, row, type Row, sample, stackTraces } from "./harness.ts";

/** After an attack, the process's own memory may stand at most this far above its level before. */
const MEMORY_BACK_FACTOR = 1.2;

/** What every hostile-input test checks after the attack: alive, no restart, no trace, probe, memory. */
export async function afterAttack(lab: ChaosLab, before: Awaited<ReturnType<typeof snapshotBefore>>, rows: Row[]): Promise<void> {
  // Memory "back to its level": the GC gives memory back lazily, so it is read every 2 s for up
  // to 30 s after the attack, until it is within 120 % of before. The process's own memory
  // (RssAnon), not the whole RSS: the daemon unmaps its start-up code pages once every link is up
  // (src/io/cold-pages.ts), and code that the attack ran (the control server, the reload path)
  // maps its pages of the binary again. Those are the page cache's, shared and reclaimable, and do
  // not grow with the input; a leak is in the process's own memory. Both are in the row.
  const t0 = performance.now();
  const settled = () => (["server", "client"] as const).every((side) => !alive(lab.proc[side]) || sample(lab.proc[side].pid).rssAnonKiB <= before[side].rssAnonKiB * MEMORY_BACK_FACTOR);
  await Bun.sleep(2000);
  while (!settled() && performance.now() - t0 < 30_000) await Bun.sleep(2000);
  const settleS = ((performance.now() - t0) / 1000).toFixed(0);
  for (const side of ["server", "client"] as const) {
    const p = lab.proc[side];
    const up = alive(p) && p.pid === before[side].pid;
    rows.push(row(`${side}: same process, still running`, up ? `pid ${p.pid}` : `exit ${p.exitCode ?? p.signalCode}`, "no crash, no restart", up));
    const traces = stackTraces(logSince(lab.dir, side, before[side].log));
    rows.push(row(`${side}: stack traces in the log`, traces.length, "0", traces.length === 0));
    if (up) {
      const now = sample(p.pid);
      // It may stay up by what the allocator keeps for reuse; a leak grows with the input.
      const bound = before[side].rssAnonKiB * MEMORY_BACK_FACTOR;
      const detail = `${mib(before[side].rssAnonKiB)} → ${mib(now.rssAnonKiB)} (whole RSS ${mib(before[side].rssKiB)} → ${mib(now.rssKiB)}: file pages ${mib(before[side].rssFileKiB)} → ${mib(now.rssFileKiB)})`;
      rows.push(row(`${side}: own memory (RssAnon) before → ${settleS} s after (MiB)`, detail, `≤ ${Math.round(MEMORY_BACK_FACTOR * 100)} % of before within 30 s`, now.rssAnonKiB <= bound));
      // What the process still holds, without what the allocator keeps for reuse.
      const heap = await liveHeap(lab, side);
      const was = before[side].heap;
      const text = heapChange(was, heap);
      rows.push(row(`${side}: live heap after a full collection, before → after (MiB)`, text, HEAP_BOUND, heapBack(was, heap)));
    }
  }
  const probe = await lab.probeBack(10_000);
  rows.push(row("probe through the tunnel afterwards", probe === null ? "no answer in 10 s" : `answered after ${probe.toFixed(2)} s`, "answered", probe !== null));
}

/** Why an own-memory row failed when the same side's live heap is back: for the notes. */
export function retentionNotes(rows: Row[]): string[] {
  return (["server", "client"] as const).flatMap((side) => {
    const own = rows.find((r) => r.figure.startsWith(`${side}: own memory (RssAnon) before →`));
    const heap = rows.find((r) => r.figure.startsWith(`${side}: live heap after`));
    if (!own || own.pass || !heap?.pass) return [];
    return [
      `${side}: the live heap is back to its level (${heap.value}), its own memory is not: what stays is pages the allocator keeps ` +
        "for reuse after the attack's peak (hundreds of connections or parses at once), not objects the daemon still holds. No lasting leak: a leak grows the live heap.",
    ];
  });
}

export async function snapshotBefore(lab: ChaosLab) {
  const s = async (side: "client" | "server") => {
    const proc = { pid: lab.proc[side].pid, ...sample(lab.proc[side].pid) };
    // After the RSS sample: the collection it runs may give memory back.
    const heap = await liveHeap(lab, side);
    return { ...proc, heap, log: logSize(lab.dir, side) };
  };
  return { client: await s("client"), server: await s("server") };
}
