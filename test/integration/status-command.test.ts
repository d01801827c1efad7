/**
 * `mlvpn status` against real control listeners serving a real core's status: the table, --json,
 * finding the listener from -c, and the errors when nothing (or the wrong thing) answers.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { type ControlServer, startControl } from "../../src/control/server.ts";
import type { StatusDocument } from "../../src/control/contract.ts";
import { buildStatus, statusJson } from "../../src/control/document.ts";
import { buildMetrics } from "../../src/control/metrics.ts";
import { formatDuration, formatRate, formatStatus } from "../../src/control/table.ts";
import { CLIENT, FACTS, runningClient, STARTED } from "../helpers/status-fixture.ts";
import { runMain, tempDir, writeConfig } from "../helpers/run.ts";

const { dir, cleanup } = tempDir("mlvpn-status-");
const quiet = { error() {}, warn() {}, info() {}, debug() {} };
const doc = buildStatus(runningClient(), CLIENT, FACTS, STARTED + 3_725_000);
const servers: ControlServer[] = [];
afterAll(() => {
  for (const s of servers) s.close();
  cleanup();
});

const socketPath = join(dir, "ctl.sock");
const server = await startControl({ unixPath: socketPath, http: { host: "127.0.0.1", port: 0 }, content: { status: () => statusJson(doc), metrics: () => buildMetrics(doc) }, log: quiet });
servers.push(server);
const base = `http://127.0.0.1:${server.httpPort}`;

const GENERAL = `[general]\nmode = "client"\npassword = "x"\n`;
const LINK = `\n[wan]\nremotehost = "192.0.2.1"\nremoteport = 5080\n`;

describe("mlvpn status", () => {
  test("the table over the Unix socket: one row per link with state, RTT, loss, rates, bytes", async () => {
    const r = await runMain(["status", "--socket", socketPath]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe('mlvpn 9.8.7 client "office", pid 4242, up 1h02m, tun mlvpn7: tunnel up');
    expect(lines[2]).toMatch(/^LINK +STATE +FOR +SRTT +LOSS IN +LOSS OUT +CAPACITY +SEND RATE +SENT +RECEIVED$/);
    const t0 = doc.tunnels[0]!;
    expect(lines[3]).toStartWith("link0  connected");
    expect(lines[3]).toContain(`${t0.srtt} ms ±`);
    expect(lines[3]).toContain(formatRate(t0.capacity_bps));
    expect(lines[4]).toStartWith("link1  connected");
    expect(r.stdout).toContain("reorder: hold ");
    expect(r.stdout).toMatch(/^drops: .*tun-write 3$/m);
  });

  test("--json prints the document as served, over HTTP", async () => {
    const r = await runMain(["status", "--json", "--url", base]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(statusJson(doc));
    expect((JSON.parse(r.stdout) as StatusDocument).tunnels.length).toBe(2);
  });

  test("-c FILE: control_unix_path first, else the HTTP listener", async () => {
    const unixConf = writeConfig(dir, "unix.conf", `${GENERAL}control_unix_path = "${socketPath}"\ncontrol_bind_host = "127.0.0.1"\ncontrol_bind_port = 1\n${LINK}`);
    expect((await runMain(["status", "--json", "-c", unixConf])).stdout).toBe(statusJson(doc));
    const httpConf = writeConfig(dir, "http.toml", `[general]\nmode = "client"\npassword = "x"\ncontrol_bind_host = "0.0.0.0"\ncontrol_bind_port = ${server.httpPort}\n\n[wan]\nremotehost = "192.0.2.1"\nremoteport = 5080\n`);
    const r = await runMain(["status", `--config=${httpConf}`, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(statusJson(doc));
  });

  test("clear errors when nothing answers", async () => {
    const cases: Array<[string[], string]> = [
      [["--socket", join(dir, "none.sock")], `no control socket at ${join(dir, "none.sock")}: is mlvpn running`],
      [["--socket", join(dir, "unix.conf")], "nothing listens on"],
      [["--url", "http://127.0.0.1:1"], "nothing listens at http://127.0.0.1:1/status"],
      [["--url", "ftp://x"], "not an HTTP URL"],
      [["--url", `${base}/nope`], "answered 404 Not Found"],
      [["-c", join(dir, "missing.conf")], "cannot read the configuration: no such file (give the configuration with -c, or the control interface with --socket or --url)"],
      [["-c", writeConfig(dir, "none.conf", `${GENERAL}${LINK}`)], "enables no control interface"],
    ];
    for (const [args, message] of cases) {
      const r = await runMain(["status", ...args]);
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 1, stdout: "" });
      expect(r.stderr).toStartWith("mlvpn status: ");
      expect(r.stderr).toContain(message);
      expect(r.stderr.trim().split("\n").length).toBe(1);
    }
  });

  test("the wrong service: an answer that is not a status document", async () => {
    const other = await startControl({ unixPath: join(dir, "other.sock"), content: { status: () => "hello\n", metrics: () => "" }, log: quiet });
    servers.push(other);
    const r = await runMain(["status", "--socket", join(dir, "other.sock")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("answered something that is not JSON");
  });

  test("usage errors and help", async () => {
    for (const args of [["--socket"], ["-c", "a", "--url", "http://x"], ["--bogus"], ["extra"], ["--format", "xml"]]) {
      const r = await runMain(["status", ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("Try 'mlvpn status --help'");
    }
    const h = await runMain(["status", "--help"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toStartWith("usage: mlvpn status");
    expect((await runMain(["--help"])).stdout).toContain("mlvpn status [--json]");
  });
});

describe("the table", () => {
  test("durations and rates", () => {
    expect([0, 59, 61, 3599, 3600, 86399, 90000].map(formatDuration)).toEqual(["0s", "59s", "1m01s", "59m59s", "1h00m", "23h59m", "1d01h"]);
    expect([0, 999, 1000, 19_800_000, 2.5e9].map(formatRate)).toEqual(["0 bit/s", "999 bit/s", "1.00 kbit/s", "19.8 Mbit/s", "2.50 Gbit/s"]);
  });

  test("a name with control characters cannot garble the terminal; unknown RTT and loss show as -", () => {
    const d: StatusDocument = structuredClone(doc);
    d.tunnels[0]!.name = "evil\u001b[2J\nname";
    d.tunnels[0]!.rttvar = null;
    d.tunnels[0]!.loss_in = null;
    const text = formatStatus(d);
    expect(text).not.toContain("\u001b");
    expect(text).toContain("evil\\x1b[2J\\x0aname");
    const row = text.split("\n").find((l) => l.startsWith("evil"))!;
    expect(row.split(/ {2,}/).slice(3, 5)).toEqual(["-", "-"]);
  });
});
