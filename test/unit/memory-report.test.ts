/** The SIGUSR1 memory line (src/io/memory-report.ts): measured after the collection, and parsed back as written. */
import { expect, test } from "bun:test";
import { formatMemory, measureMemory, parseMemoryLine } from "../../src/io/memory-report.ts";

test("the collection runs before the heap is read, and its time is reported", () => {
  const order: string[] = [];
  const m = measureMemory(() => {
    order.push("collect");
    Bun.gc(true);
  });
  order.push("read");
  expect(order).toEqual(["collect", "read"]);
  // This test process's own heap: real figures, not zeros (heapSize is what the last collection found).
  expect(m.liveHeapBytes).toBeGreaterThan(100_000);
  expect(m.objects).toBeGreaterThan(1000);
  expect(m.heapCapacityBytes).toBeGreaterThanOrEqual(m.liveHeapBytes - m.bufferBytes);
  expect(m.rssAnonKiB).toBeGreaterThan(0);
  expect(m.rssKiB).toBeGreaterThanOrEqual(m.rssAnonKiB);
});

test("a memory line parses back to its figures; other lines do not", () => {
  const line = formatMemory({ liveHeapBytes: 12.5 * 1048576, bufferBytes: 10 * 1048576, objects: 24536, heapCapacityBytes: 14 * 1048576, rssKiB: 40000, rssAnonKiB: 16384, collectMs: 8.24 });
  expect(line).toBe("after a full collection (8.2 ms): live heap 12.50 MiB in 24536 objects (array buffers 10.00 MiB), heap capacity 14.00 MiB; resident 39.06 MiB, of which own memory (RssAnon) 16.00 MiB");
  expect(parseMemoryLine(`2026-12-04T22:54:32 [INFO/memory] ${line}`)).toEqual({ liveHeapMiB: 12.5, objects: 24536, bufferMiB: 10, rssAnonMiB: 16 });
  expect(parseMemoryLine("2026-12-04T22:54:32 [INFO/control] gc 10 ms")).toBeNull();
});
