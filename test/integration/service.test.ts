/**
 * dist/mlvpn as a service manager runs it (root; a network namespace this file creates and
 * removes): a server and a client over loopback inside the namespace, the server with
 * $NOTIFY_SOCKET pointing at a socket this test binds. READY=1 comes only once the tun device
 * exists and the link socket is bound; STATUS follows the link; STOPPING=1 on SIGTERM; the process
 * title shows the link states (and `--natural-title` keeps the command line); and with every
 * debug message on, neither the password nor the key derived from it appears in any log line.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { UnixDatagramSocket } from "../../src/io/unix-dgram.ts";
import { BIN, buildBinary } from "../lab/mlvpn.ts";
import { createLab, type Lab, labSkipReason, waitFor } from "../lab/netns.ts";
import { tempDir, writeConfig } from "../helpers/run.ts";
import { reportSkip } from "../helpers/skip.ts";

const skip = labSkipReason() ?? (existsSync("/dev/net/tun") ? null : "/dev/net/tun is missing");
reportSkip(import.meta.file, "dist/mlvpn under a service manager", skip);

const PASSWORD = "correct horse battery staple 42";
const PORT = 5391;

function config(side: "server" | "client"): string {
  return `[general]
tuntap = "tun"
mode = "${side}"
interface_name = "${side === "server" ? "svc0" : "cli0"}"
timeout = 5
password = "${PASSWORD}"

[adsl]
bindhost = "127.0.0.1"
${side === "server" ? `bindport = ${PORT}` : `remotehost = "127.0.0.1"\nremoteport = ${PORT}`}
`;
}

const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "latin1").replace(/\0+$/, "").replaceAll("\0", " ");

describe.skipIf(skip !== null)("dist/mlvpn under a service manager", () => {
  const { dir, cleanup } = tempDir("mlvpn-svc-");
  const notifyPath = join(dir, "notify");
  let lab: Lab;
  let manager: UnixDatagramSocket;
  let server: Subprocess;
  let client: Subprocess;
  const notes: string[] = [];
  const receive = () => {
    for (let d = manager.receive(); d && notes.length < 1000; d = manager.receive()) notes.push(new TextDecoder().decode(d));
    return notes;
  };
  const logOf = (side: string) => readFileSync(join(dir, `${side}.log`), "utf8");

  beforeAll(async () => {
    buildBinary();
    lab = await createLab({ namespaces: ["svc"] });
    manager = UnixDatagramSocket.bound(notifyPath);
  }, 120_000);

  afterAll(async () => {
    await lab?.destroy();
    manager?.close();
    cleanup();
  });

  test("READY=1 only once the tun exists and the link is bound", async () => {
    const conf = writeConfig(dir, "server.conf", config("server"));
    server = lab.spawn("svc", [BIN, "-c", conf, "--yes-run-as-root", "--debug", "-vvv", "--name", "office"], {
      env: { NOTIFY_SOCKET: notifyPath },
      stdout: join(dir, "server.log"),
      stderr: join(dir, "server.log"),
    });
    await waitFor(() => receive().length > 0 || server.exitCode !== null, { timeoutMs: 15_000, what: "the first notification" });
    expect(notes[0]).toBe("READY=1\nSTATUS=0/1 links up: adsl disconnected");
    const link = await lab.exec("svc", ["ip", "-o", "link", "show", "svc0"]);
    expect(link.code).toBe(0);
    const udp = await lab.exec("svc", ["ss", "-Hnul", "sport", `= :${PORT}`]);
    expect(udp.stdout).toContain(`127.0.0.1:${PORT}`);
    expect(cmdline(server.pid)).toBe("mlvpn: office !adsl");
  });

  test("a start that fails (port taken) exits 1 and sends nothing", async () => {
    const before = receive().length;
    const conf = writeConfig(dir, "second.conf", config("server").replace("svc0", "svc1"));
    const second = lab.spawn("svc", [BIN, "-c", conf, "--yes-run-as-root", "--debug", "--name", "second"], {
      env: { NOTIFY_SOCKET: notifyPath },
      stdout: join(dir, "second.log"),
      stderr: join(dir, "second.log"),
    });
    expect(await Promise.race([second.exited, Bun.sleep(15_000).then(() => "timeout")])).toBe(1);
    expect(logOf("second")).toContain(`cannot bind 127.0.0.1:${PORT}`);
    expect(receive().length).toBe(before);
  });

  test("a link up changes STATUS and the title; --natural-title keeps the command line", async () => {
    const conf = writeConfig(dir, "client.conf", config("client"));
    client = lab.spawn("svc", [BIN, "-c", conf, "--yes-run-as-root", "--debug", "-vvv", "--natural-title"], { stdout: join(dir, "client.log"), stderr: join(dir, "client.log") });
    await waitFor(() => receive().includes("STATUS=1/1 links up: adsl connected"), { timeoutMs: 15_000, what: "STATUS with the link connected" });
    expect(cmdline(server.pid)).toBe("mlvpn: office @adsl");
    expect(cmdline(client.pid)).toBe(`${BIN} -c ${conf} --yes-run-as-root --debug -vvv --natural-title`);
  });

  test("SIGTERM: STOPPING=1, exit 0", async () => {
    server.kill("SIGTERM");
    client.kill("SIGTERM");
    const codes = await Promise.race([Promise.all([server.exited, client.exited]), Bun.sleep(15_000).then(() => "timeout")]);
    expect(codes).toEqual([0, 0]);
    expect(receive().at(-1)).toBe("STOPPING=1");
    expect(logOf("server")).toContain("[ DBG/systemd] notified READY=1");
    expect(logOf("server")).toContain("[ DBG/systemd] notified STOPPING=1");
  });

  test("no log line holds the password or the key derived from it", () => {
    // The key derived from it depends on the server's random salt (protocol v2): the password is what is known here.
    const secrets = [PASSWORD, Buffer.from(PASSWORD).toString("hex"), Buffer.from(PASSWORD).toString("base64")];
    for (const side of ["server", "client"]) {
      const log = logOf(side);
      expect(log).toContain("[ DBG/protocol] key derived from the password"); // -vvv really logged everything
      expect(log).toContain("link up");
      for (const s of secrets) expect(log.toLowerCase()).not.toContain(s.toLowerCase());
    }
    for (const n of notes) for (const s of secrets) expect(n).not.toContain(s);
  });
});
