/** The process title's text, and that /proc/PID/cmdline (what ps shows) really changes. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { titleText } from "../../src/io/proctitle.ts";
import { statusText } from "../../src/io/service-status.ts";

const links = [
  { name: "adsl", status: "connected" },
  { name: "lte", status: "disconnected" },
  { name: "sat", status: "lossy link" },
  { name: "wifi", status: "slow link" },
  { name: "dsl2", status: "waiting peer" },
];

describe("process title", () => {
  test("C's marks: @ connected, ~ lossy or slow, ! anything else, in config order", () => {
    expect(titleText("office", links)).toBe("mlvpn: office @adsl !lte ~sat ~wifi !dsl2");
    expect(titleText("", links.slice(0, 1))).toBe("mlvpn: @adsl");
    expect(titleText("bür\no", [])).toBe("mlvpn: b?r?o");
  });

  test("systemd's STATUS counts connected, lossy and slow links as up", () => {
    expect(statusText(links)).toBe("3/5 links up: adsl connected, lte disconnected, sat lossy link, wifi slow link, dsl2 waiting peer");
  });

  test("ps shows the title: /proc/PID/cmdline is rewritten, cut to the original length", async () => {
    const code = `
      const { ProcessTitle } = await import(${JSON.stringify(join(import.meta.dir, "../../src/io/proctitle.ts"))});
      const t = ProcessTitle.open();
      if (typeof t === "string") throw new Error(t);
      t.set(process.argv.includes("short") ? "mlvpn: office @adsl !lte" : "x".repeat(5000));
      console.log(t.capacity);
      await Bun.sleep(10_000);`;
    for (const mode of ["short", "long"]) {
      const proc = Bun.spawn([process.execPath, "-e", code, mode, "padding-so-the-title-fits"], { stdout: "pipe", stderr: "inherit" });
      try {
        const reader = proc.stdout.getReader();
        const first = await Promise.race([reader.read(), Bun.sleep(10_000).then(() => ({ value: undefined }))]);
        const capacity = Number(new TextDecoder().decode(first.value).trim());
        expect(capacity).toBeGreaterThan(24);
        const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, "latin1").replace(/\0+$/, "");
        expect(cmdline).toBe(mode === "short" ? "mlvpn: office @adsl !lte" : "x".repeat(capacity));
        // comm is left alone: the executable's name, at most 15 bytes
        expect(readFileSync(`/proc/${proc.pid}/comm`, "latin1").trim()).toBe(basename(process.execPath).slice(0, 15));
      } finally {
        proc.kill();
        await proc.exited;
      }
    }
  });
});
