/**
 * The root hook helper as the daemon starts it (from source: `bun src/mlvpn.ts --hook-helper …`),
 * and the privilege decision at start-up. Root only: the helper refuses to run for anyone else.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HookHelperClient } from "../../src/io/hook-client.ts";
import { userToDropTo } from "../../src/io/privileges.ts";
import { createLogger } from "../../src/log.ts";
import { waitFor } from "../lab/netns.ts";
import { childrenOf, uidsOf } from "../helpers/procs.ts";
import { runMain, tempDir, writeConfig } from "../helpers/run.ts";
import { reportSkip } from "../helpers/skip.ts";

const skip = process.getuid?.() !== 0 ? "the hook helper and the privilege drop need root" : "";
reportSkip(import.meta.file, "the hook helper and whom to run as", skip);

const MLVPN = join(import.meta.dir, "..", "..", "src", "mlvpn.ts");

function config(script: string, links: string[], ip4 = "10.66.0.2/24"): string {
  let text = `[general]\nstatuscommand = "${script}"\nmode = "client"\npassword = "helper test"\nip4 = "${ip4}"\nip4_routes = "10.9.0.0/16"\n`;
  links.forEach((name, i) => (text += `\n[${name}]\nremotehost = "127.0.0.1"\nremoteport = ${6000 + i}\n`));
  return text;
}

describe.skipIf(skip !== "")("hook helper (root)", () => {
  const { dir, cleanup } = tempDir("mlvpn-hookhelper-");
  const calls = join(dir, "calls.log");
  const script = join(dir, "status.sh");
  let conf: string;
  let helper: HookHelperClient;
  const lines: string[] = [];
  const log = createLogger({ verbosity: 2, debugTokens: [], write: (l) => void lines.push(l) });
  const recorded = () => readFileSync(calls, "utf8").trim().split("\n");

  beforeAll(async () => {
    writeFileSync(script, `#!/bin/sh\necho "$# $1 $2 $3 | uid=$(id -u) | $DEVICE $MTU $IP4 [$IP4_ROUTES] | SECRET=$MLVPN_TEST_SECRET PATH=$PATH" >> ${calls}\n`);
    chmodSync(script, 0o700);
    conf = writeConfig(dir, "helper.conf", config(script, ["adsl1", "adsl2"]));
    process.env.MLVPN_TEST_SECRET = "the daemon's environment must not reach the script";
    helper = await HookHelperClient.start([process.execPath, MLVPN], { configFile: conf, format: "ini", device: "mlvtest0", tunMtu: 1400 }, log);
  }, 20_000);

  afterAll(() => {
    helper?.close();
    delete process.env.MLVPN_TEST_SECRET;
    cleanup();
  });

  test("runs the configured script with the C arguments and a clean environment, in order; logs come back", async () => {
    helper.run(["mlvtest0", "rtun_up", "adsl1"]);
    helper.run(["mlvtest0", "tuntap_up"]);
    helper.run(["mlvtest0", "rtun_down", "adsl1"]);
    await helper.idle();
    const path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    expect(recorded()).toEqual([
      `3 mlvtest0 rtun_up adsl1 | uid=0 | mlvtest0 1400 10.66.0.2/24 [10.9.0.0/16] | SECRET= PATH=${path}`,
      `2 mlvtest0 tuntap_up  | uid=0 | mlvtest0 1400 10.66.0.2/24 [10.9.0.0/16] | SECRET= PATH=${path}`,
      `3 mlvtest0 rtun_down adsl1 | uid=0 | mlvtest0 1400 10.66.0.2/24 [10.9.0.0/16] | SECRET= PATH=${path}`,
    ]);
    expect(lines.filter((l) => /\[INFO\] statuscommand (rtun_up adsl1|tuntap_up|rtun_down adsl1): exit 0/.test(l)).length).toBe(3);
  }, 20_000);

  test("an event or link not in the configuration is refused and nothing runs", async () => {
    const before = recorded().length;
    helper.run(["mlvtest0", "rtun_up", "nosuchlink"]);
    helper.run(["mlvtest0", "bring_up_backdoor", "adsl1"]);
    helper.run(["/bin/sh", "rtun_up", "adsl2 ; id"]);
    helper.run(["mlvtest0", "rtun_up", "x".repeat(300)]);
    helper.run(["mlvtest0", "tuntap_up"]);
    await helper.idle();
    expect(recorded().slice(before)).toEqual([expect.stringMatching(/^2 mlvtest0 tuntap_up  \| uid=0/)]); // the helper goes on after refusals
    const refused = lines.filter((l) => l.includes("refused by the hook helper"));
    expect(refused.map((l) => l.replace(/^\S+ /, ""))).toEqual([
      '[WARN] statuscommand rtun_up nosuchlink: refused by the hook helper: rtun_up: no link "nosuchlink" in the configuration\n',
      '[WARN] statuscommand bring_up_backdoor adsl1: refused by the hook helper: unknown event "bring_up_backdoor"\n',
      '[WARN] statuscommand rtun_up adsl2 ; id: refused by the hook helper: rtun_up: no link "adsl2 ; id" in the configuration\n',
      `[WARN] statuscommand rtun_up ${"x".repeat(300)}: refused by the hook helper: request longer than 256 bytes\n`,
    ]);
  }, 20_000);

  test("reload: the helper re-reads the file itself (new link, new IP4) and hands its text back", async () => {
    const text = config(script, ["adsl1", "lte"], "10.77.0.2/24");
    writeConfig(dir, "helper.conf", text);
    expect(await helper.reload()).toEqual({ text, valid: true });
    helper.run(["mlvtest0", "rtun_up", "lte"]);
    helper.run(["mlvtest0", "rtun_up", "adsl2"]);
    await helper.idle();
    expect(recorded().at(-1)).toStartWith("3 mlvtest0 rtun_up lte | uid=0 | mlvtest0 1400 10.77.0.2/24");
    expect(lines.at(-1)).toContain('rtun_up: no link "adsl2" in the configuration');
    // A broken file: refused with its errors (file:line), never its text, while the helper keeps
    // the last good configuration.
    const broken = "[general]\nmode = \"nonsense\"\n";
    writeConfig(dir, "helper.conf", broken);
    await expect(helper.reload()).rejects.toThrow(/helper\.conf:2: error: \[general\] mode = nonsense/);
    helper.run(["mlvtest0", "rtun_down", "lte"]);
    await helper.idle();
    expect(recorded().at(-1)).toStartWith("3 mlvtest0 rtun_down lte | uid=0");
  }, 20_000);

  test("the helper is root; closing the pipe (the daemon gone) ends it", async () => {
    const [pid] = childrenOf(process.pid, "--hook-helper");
    expect(pid).toBeNumber();
    expect(uidsOf(pid!)).toEqual([0, 0, 0, 0]);
    helper.close();
    await waitFor(() => childrenOf(process.pid, "--hook-helper").length === 0, { timeoutMs: 5000, what: "the helper to exit" });
    helper.run(["mlvtest0", "tuntap_down"]);
    await helper.idle();
    expect(lines.at(-1)).toContain("statuscommand tuntap_down: not run, the hook helper has exited");
  }, 20_000);

  test("by hand, --hook-helper is just an unknown option: stdin not a pipe, or not root", () => {
    const args = [process.execPath, MLVPN, "--hook-helper", conf, "ini", "mlvtest0", "1400"];
    const asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...args];
    for (const [cmd, stdin] of [[args, "ignore"], [asNobody, "pipe"]] as const) {
      // cwd "/": nobody may not be allowed into the checkout's directory (Bun then fails before main).
      const r = Bun.spawnSync([...cmd], { cwd: "/", stdin, stdout: "pipe", stderr: "pipe", timeout: 10_000 });
      expect(r.stderr.toString()).toContain("mlvpn: unknown option --hook-helper");
      expect(r.exitCode).toBe(2);
    }
  });
});

describe.skipIf(skip !== "")("whom to run as (root)", () => {
  test("the default user must exist; the error says how to fix it", () => {
    expect(() => userToDropTo({ user: "mlvpn-no-such-user", yesRunAsRoot: false }, () => {})).toThrow(
      "user 'mlvpn-no-such-user' does not exist: create it (useradd --system --no-create-home mlvpn-no-such-user), pass --user NAME, or --yes-run-as-root",
    );
    expect(() => userToDropTo({ user: "root", yesRunAsRoot: false }, () => {})).toThrow("user 'root' is root (uid 0)");
    expect(userToDropTo({ user: "nobody", yesRunAsRoot: false }, () => {})).toMatchObject({ name: "nobody", uid: 65534 });
  });

  test("--yes-run-as-root keeps root and warns", () => {
    const warnings: string[] = [];
    expect(userToDropTo({ user: "mlvpn-no-such-user", yesRunAsRoot: true }, (m) => warnings.push(m))).toBeUndefined();
    expect(warnings).toEqual(["running as root (--yes-run-as-root): the whole data path keeps every privilege; prefer --user"]);
  });

  test("mlvpn started as root with a missing --user stops before opening anything: one line, exit 1", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const conf = writeConfig(dir, "c.conf", `[general]\nmode = "client"\npassword = "x"\n\n[a]\nremotehost = "127.0.0.1"\nremoteport = 6000\n`);
      const r = await runMain(["-c", conf, "--user", "mlvpn-no-such-user"]);
      expect(r).toEqual({
        code: 1,
        stdout: "",
        stderr: "mlvpn: user 'mlvpn-no-such-user' does not exist: create it (useradd --system --no-create-home mlvpn-no-such-user), pass --user NAME, or --yes-run-as-root\n",
      });
    } finally {
      cleanup();
    }
  });
});
