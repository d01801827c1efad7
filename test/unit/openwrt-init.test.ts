/**
 * scripts/openwrt/mlvpn.init: valid sh (`sh -n`), clean under shellcheck, and, sourced with stub
 * procd functions that print their arguments, the instances and command lines it asks procd for.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "../../src/cli.ts";
import { tempDir } from "../helpers/run.ts";
import { reportSkip } from "../helpers/skip.ts";

const INIT = join(import.meta.dir, "..", "..", "scripts", "openwrt", "mlvpn.init");
const { dir, cleanup } = tempDir("mlvpn-openwrt-");
afterAll(cleanup);

/** procd's shell API as stubs: each call prints its name and its arguments in <>. */
const STUBS = `
for f in procd_open_instance procd_set_param procd_close_instance procd_send_signal; do
  eval "$f() { printf '%s' $f; for a in \\"\\$@\\"; do printf ' <%s>' \\"\\$a\\"; done; echo; }"
done
`;

function runInit(body: string): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync(["sh", "-c", `${STUBS}\n. "$1"\n${body}`, "sh", INIT], { stdout: "pipe", stderr: "pipe", timeout: 10_000 });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe("scripts/openwrt/mlvpn.init", () => {
  test("sh -n", () => {
    const r = Bun.spawnSync(["sh", "-n", INIT], { stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });

  const shellcheck = Bun.which("shellcheck");
  reportSkip(import.meta.file, "shellcheck on the init script", shellcheck ? null : "shellcheck is not installed (Debian package shellcheck)");
  test.skipIf(!shellcheck)("shellcheck finds nothing", () => {
    const r = Bun.spawnSync([shellcheck!, INIT], { stdout: "pipe", stderr: "pipe", timeout: 30_000 });
    expect(`${r.stdout}${r.stderr}`).toBe("");
    expect(r.exitCode).toBe(0);
  });

  test("one procd instance per config file, named after it, with respawn and output to logd", () => {
    const conf = join(dir, "etc-mlvpn");
    mkdirSync(conf);
    writeFileSync(join(conf, "office.conf"), "");
    writeFileSync(join(conf, "home lte.toml"), "");
    writeFileSync(join(conf, "office.toml"), ""); // same instance name as office.conf: skipped
    writeFileSync(join(conf, "notes.txt"), "");
    mkdirSync(join(conf, "old.conf")); // a directory, not a config
    const r = runInit(`CONFDIR='${conf}'\nstart_service`);
    expect(r.code).toBe(0);
    const instance = (file: string, name: string) => [
      `procd_open_instance <${name}>`,
      `procd_set_param <command> </usr/sbin/mlvpn> <--config> <${conf}/${file}> <--name> <${name}> <--user> <nobody>`,
      "procd_set_param <respawn> <3600> <5> <5>",
      "procd_set_param <stdout> <1>",
      "procd_set_param <stderr> <1>",
      "procd_set_param <term_timeout> <40>",
      "procd_close_instance",
    ];
    expect(r.stdout.trimEnd().split("\n")).toEqual([...instance("office.conf", "office"), ...instance("home lte.toml", "home lte")]);
    expect(r.stderr).toBe(`mlvpn: ${conf}/office.toml skipped: an instance named office already runs another file\n`);
  });

  test("the command line it builds is one mlvpn accepts", () => {
    const r = runInit(`CONFDIR='${join(dir, "etc-mlvpn")}'\nstart_service`);
    const args = [...r.stdout.split("\n")[1]!.matchAll(/<([^>]*)>/g)].map((m) => m[1]!).slice(2);
    const cmd = parseArgs(args);
    expect(cmd.kind === "run" && cmd.options).toMatchObject({ config: join(dir, "etc-mlvpn", "office.conf"), name: "office", user: "nobody", debug: false });
  });

  test("no config file: no instance", () => {
    const empty = join(dir, "empty");
    mkdirSync(empty);
    const r = runInit(`CONFDIR='${empty}'\nstart_service`);
    expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  test("reload sends SIGHUP to every instance", () => {
    expect(runInit("reload_service").stdout).toBe("procd_send_signal <mlvpn> <*> <HUP>\n");
  });
});
