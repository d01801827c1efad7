/**
 * scripts/systemd: the keys the service contract rests on (Type=notify, reload by SIGHUP, restart
 * on failure, the umbrella unit), an ExecStart that mlvpn's own parser accepts, and
 * `systemd-analyze verify` where systemd is installed.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "../../src/cli.ts";
import { tempDir } from "../helpers/run.ts";
import { reportSkip } from "../helpers/skip.ts";

const DIR = join(import.meta.dir, "..", "..", "scripts", "systemd");
const INSTALLED_BIN = "/usr/local/sbin/mlvpn";

/** A unit file as section → key → values (a key may repeat); comments and blank lines skipped. */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const unit: Record<string, Record<string, string[]>> = {};
  let section: Record<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      section = unit[head[1]!] = {};
      continue;
    }
    const eq = line.indexOf("=");
    if (!section || eq < 1) throw new Error(`not a unit file line: ${line}`);
    (section[line.slice(0, eq)] ??= []).push(line.slice(eq + 1));
  }
  return unit;
}

const template = parseUnit(readFileSync(join(DIR, "mlvpn@.service"), "utf8"));
const umbrella = parseUnit(readFileSync(join(DIR, "mlvpn.service"), "utf8"));

describe("mlvpn@.service", () => {
  test("Type=notify from the main process, HUP to reload, restart on failure", () => {
    expect(template.Service!.Type).toEqual(["notify"]);
    expect(template.Service!.NotifyAccess).toEqual(["main"]);
    expect(template.Service!.ExecReload).toEqual(["/bin/kill -HUP $MAINPID"]);
    expect(template.Service!.Restart).toEqual(["on-failure"]);
  });

  test("started, stopped and reloaded with mlvpn.service", () => {
    expect(template.Unit!.PartOf).toEqual(["mlvpn.service"]);
    expect(template.Unit!.ReloadPropagatedFrom).toEqual(["mlvpn.service"]);
    expect(template.Install!.WantedBy![0]!.split(" ")).toEqual(["multi-user.target", "mlvpn.service"]);
  });

  test("ExecStart is a command line mlvpn accepts: /etc/mlvpn/NAME.conf, named NAME, logging to syslog", () => {
    const [bin, ...args] = template.Service!.ExecStart![0]!.replaceAll("%i", "office").split(" ");
    expect(bin).toBe(INSTALLED_BIN);
    const cmd = parseArgs(args);
    expect(cmd.kind).toBe("run");
    if (cmd.kind !== "run") return;
    expect(cmd.options).toMatchObject({ config: "/etc/mlvpn/office.conf", name: "office", user: "mlvpn", debug: false, naturalTitle: false });
  });
});

describe("mlvpn.service and tmpfiles", () => {
  test("the umbrella is a oneshot that stays active, so reload and stop propagate", () => {
    expect(umbrella.Service).toEqual({ Type: ["oneshot"], RemainAfterExit: ["yes"], ExecStart: ["/bin/true"], ExecReload: ["/bin/true"] });
  });

  test("tmpfiles creates /run/mlvpn", () => {
    const lines = readFileSync(join(DIR, "mlvpn.tmpfiles"), "utf8").split("\n").filter((l) => l && !l.startsWith("#"));
    expect(lines).toEqual(["d /run/mlvpn 0750 mlvpn mlvpn -"]);
  });
});

const analyze = Bun.which("systemd-analyze");
reportSkip(import.meta.file, "`systemd-analyze verify`", analyze ? null : "systemd-analyze is not installed (Debian package systemd)");

/**
 * Runs `systemd-analyze verify` on copies of our units in `dir` and returns the lines of its
 * output that are about them. verify also loads the host's units that ours reference (targets,
 * dependencies) and reports their problems too; those lines, and the exit code they cause, are
 * the machine's business, not ours.
 */
function verifyOurs(dir: string, units: Record<string, string>): string[] {
  const paths = Object.entries(units).map(([name, text]) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  });
  const r = Bun.spawnSync([analyze!, "verify", "--man=no", ...paths], { stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  const names = Object.keys(units);
  return `${r.stdout}${r.stderr}`
    .split("\n")
    .filter((line) => line.includes(dir) || names.some((n) => line.startsWith(`${n}:`) || line.includes(` ${n}`)));
}

describe.skipIf(!analyze)("systemd-analyze verify", () => {
  const { dir, cleanup } = tempDir("mlvpn-units-");
  afterAll(cleanup);
  // verify checks that ExecStart's program exists: point it at one that does.
  const instance = readFileSync(join(DIR, "mlvpn@.service"), "utf8").replaceAll(INSTALLED_BIN, process.execPath);

  test("both units verify cleanly (as an instance, with an executable that exists here)", () => {
    expect(verifyOurs(dir, { "mlvpn.service": readFileSync(join(DIR, "mlvpn.service"), "utf8"), "mlvpn@office.service": instance })).toEqual([]);
  });

  test("the filter keeps what verify says about our units (a broken copy is reported)", () => {
    const broken = instance.replace("[Service]\n", "[Service]\nNoSuchKey=1\n").replace(process.execPath, "/nonexistent/mlvpn");
    const lines = verifyOurs(dir, { "mlvpn@broken.service": broken });
    expect(lines.some((l) => l.includes("NoSuchKey"))).toBe(true);
    expect(lines.some((l) => l.includes("/nonexistent/mlvpn"))).toBe(true);
  });
});
