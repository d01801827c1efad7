/**
 * Which mappings cold-pages.ts may unmap: read-only private file mappings whose resident pages
 * are all the file's (no page copied on write), nothing else.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { cleanFileRanges, releaseColdFilePages } from "../../src/io/cold-pages.ts";

const mapping = (range: string, perms: string, path: string, rss: number, anon = 0, extra = "") =>
  `${range} ${perms} 00000000 08:01 1234                       ${path}\nSize:               4096 kB\nRss:                 ${rss} kB\nPrivate_Dirty:       ${anon} kB\nAnonymous:           ${anon} kB\nSwap:                  0 kB\n${extra}Locked:                0 kB\nVmFlags: rd ex mr mw me\n`;

test("only clean, read-only, private file mappings with resident pages", () => {
  const smaps = [
    mapping("00200000-01a39000", "r--p", "/usr/bin/mlvpn", 7076), // rodata: yes
    mapping("01a40000-0684a000", "r-xp", "/usr/bin/mlvpn", 36392), // code: yes
    mapping("0684a000-06867000", "r--p", "/usr/bin/mlvpn", 116, 116), // RELRO, relocated before mprotect: no
    mapping("06867000-06d2d000", "rw-p", "/usr/bin/mlvpn", 2908, 2000), // data: no
    mapping("7f0000000000-7f0000100000", "r-xp", "/usr/lib/libc.so.6", 0), // nothing resident: nothing to do
    mapping("7f0000100000-7f0000200000", "r-xp", "/usr/lib/libcrypto.so.3", 1780),
    mapping("7f0000200000-7f0000300000", "r--s", "/dev/shm/x", 100), // shared: no
    mapping("5f4baa00000-5f4faa00000", "rw-p", "", 20828, 20828), // anonymous: no
    mapping("7fba96ccb000-7fbad6ccb000", "rwxp", "", 860, 860), // JIT code: no
    mapping("7ffc00000000-7ffc00002000", "r-xp", "[vdso]", 8),
  ].join("");
  expect(cleanFileRanges(smaps)).toEqual([
    { start: 0x200000, length: 0x1a39000 - 0x200000, rssKiB: 7076, path: "/usr/bin/mlvpn" },
    { start: 0x1a40000, length: 0x684a000 - 0x1a40000, rssKiB: 36392, path: "/usr/bin/mlvpn" },
    { start: 0x7f0000100000, length: 0x100000, rssKiB: 1780, path: "/usr/lib/libcrypto.so.3" },
  ]);
});

test("a locked mapping is left alone", () => {
  const smaps = mapping("00200000-00300000", "r-xp", "/usr/bin/mlvpn", 100).replace("Locked:                0 kB", "Locked:              100 kB");
  expect(cleanFileRanges(smaps)).toEqual([]);
});

test("this process: its file pages leave its RSS, and the code they hold still runs", () => {
  const rssFile = () => Number(/^RssFile:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
  const before = rssFile();
  const r = releaseColdFilePages();
  const after = rssFile();
  expect(r.mappings).toBeGreaterThan(0);
  expect(r.kib).toBeGreaterThan(0);
  // Some pages come back at once (the code running now), most do not.
  expect(after).toBeLessThan(before - r.kib / 2);
  // Code and read-only data faulted back in from the page cache, unchanged.
  expect(JSON.parse(JSON.stringify({ a: [1, 2, 3] }))).toEqual({ a: [1, 2, 3] });
  expect(new TextDecoder().decode(new TextEncoder().encode("é"))).toBe("é");
});

test("the daemon unmaps them once, the first time every link is up", async () => {
  const { createServiceStatus } = await import("../../src/io/service-status.ts");
  const { createLogger } = await import("../../src/log.ts");
  const lines: string[] = [];
  const log = createLogger({ verbosity: 4, debugTokens: [], sink: (_level, _token, message) => void lines.push(message) });
  let calls = 0;
  const s = createServiceStatus({ name: "t", title: false, log, coldPages: () => (calls++, { mappings: 3, kib: 40 * 1024 }) });
  const tick = () => Bun.sleep(5);
  s.ready([{ name: "a", status: "waiting peer" }, { name: "b", status: "disconnected" }]);
  s.changed([{ name: "a", status: "connected" }, { name: "b", status: "disconnected" }]);
  await tick();
  expect(calls).toBe(0);
  s.changed([{ name: "a", status: "connected" }, { name: "b", status: "lossy link" }]);
  await tick();
  expect(calls).toBe(1);
  expect(lines).toContain("start-up over: 40 MiB of code pages unmapped (3 mappings)");
  s.changed([{ name: "a", status: "disconnected" }, { name: "b", status: "lossy link" }]);
  s.changed([{ name: "a", status: "connected" }, { name: "b", status: "connected" }]);
  await tick();
  expect(calls).toBe(1);
});
