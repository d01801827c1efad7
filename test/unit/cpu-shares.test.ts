/** The lab's reading of the machine's stolen and busy CPU (test/lab/measure.ts), which bench results carry. */
import { describe, expect, test } from "bun:test";
import { cpuShares, cpuTimes } from "../lab/measure.ts";

const stat = (user: number, idle: number, steal: number) => `cpu  ${user} 0 100 ${idle} 50 0 10 ${steal} 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n`;

describe("cpu shares", () => {
  test("reads the first line's fields: idle counts iowait, steal is the eighth", () => {
    expect(cpuTimes(stat(1000, 5000, 40))).toEqual({ total: 1000 + 100 + 5000 + 50 + 10 + 40, idle: 5050, steal: 40 });
  });

  test("shares between two readings", () => {
    // 1000 ticks: 500 user, 300 idle, 200 stolen
    const s = cpuShares(cpuTimes(stat(1000, 5000, 40)), cpuTimes(stat(1500, 5300, 240)));
    expect(s.stolenPct).toBeCloseTo(20, 6);
    expect(s.busyPct).toBeCloseTo(50, 6);
  });

  test("a malformed /proc/stat is an error that quotes it", () => {
    expect(() => cpuTimes("intr 1 2 3\n")).toThrow(/unexpected first line "intr 1 2 3"/);
  });

  test("the real /proc/stat parses (Linux)", () => {
    const t = cpuTimes();
    expect(t.total).toBeGreaterThan(t.idle);
  });
});
