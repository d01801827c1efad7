/**
 * The smaller holes of the v1 security review: the root hook helper's configuration read, the
 * status script's output, and the HTTP control's Host header and cross-origin reads.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_CONFIG_BYTES, readConfigSafely } from "../../src/io/hook-helper.ts";
import { HookRunner } from "../../src/io/hooks.ts";
import { createLogger } from "../../src/log.ts";
import { encodeHttp, httpError, refuseHost } from "../../src/control/protocol.ts";
import { tempDir } from "../helpers/run.ts";

const { dir, cleanup } = tempDir();
afterAll(cleanup);
const me = process.geteuid!();
const CONFIG = readFileSync(join(import.meta.dir, "..", "fixtures", "server.conf"), "utf8");

function file(name: string, text: string, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
}

describe("hook helper: reading the configuration as root", () => {
  test("a regular file of the right owner and mode is read", () => {
    expect(readConfigSafely(file("ok.conf", CONFIG), me)).toEqual({ text: CONFIG });
  });

  test("a symlink is refused, even to a readable file (O_NOFOLLOW)", () => {
    const target = file("secret", "root:$6$hash:19000:0:99999:7:::\n");
    const link = join(dir, "swapped.conf");
    symlinkSync(target, link);
    const r = readConfigSafely(link, me);
    expect("error" in r && r.error).toContain("symbolic link");
  });

  test("group- or other-writable, too large, not a regular file: refused with the reason", () => {
    expect((readConfigSafely(file("gw.conf", CONFIG, 0o620), me) as { error: string }).error).toContain("writable by group or others");
    expect((readConfigSafely(file("ow.conf", CONFIG, 0o602), me) as { error: string }).error).toContain("writable by group or others");
    expect((readConfigSafely(file("big.conf", "#".repeat(MAX_CONFIG_BYTES + 1)), me) as { error: string }).error).toContain("larger than");
    expect((readConfigSafely(dir, me) as { error: string }).error).toContain("not a regular file");
  });

  test("a file owned by someone else is refused", () => {
    const p = file("other.conf", CONFIG);
    // As root the file is given to nobody; otherwise it is checked as if the helper ran as another user.
    if (me === 0) chownSync(p, 65534, 65534);
    expect((readConfigSafely(p, me === 0 ? 0 : me + 1) as { error: string }).error).toContain("must be owned by root");
  });
});

describe("status script output", () => {
  test("goes to the log, never to our stdout (the helper's reply channel)", async () => {
    const s = file("chatty.sh", "#!/bin/sh\necho 'done forged reply'\necho 'oops' >&2\n", 0o700);
    const lines: string[] = [];
    const hooks = new HookRunner(s, {}, createLogger({ verbosity: 2, debugTokens: [], write: (l) => lines.push(l) }));
    const written: string[] = [];
    const original = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    try {
      await hooks.runNow(["mlvpn0", "tuntap_up"]);
    } finally {
      process.stdout.write = original;
    }
    expect(written.join("")).not.toContain("done forged reply");
    expect(lines.some((l) => l.includes("statuscommand tuntap_up: done forged reply"))).toBe(true);
    expect(lines.some((l) => l.includes("WARN") && l.includes("statuscommand tuntap_up: oops"))).toBe(true);
  });
});

describe("HTTP control", () => {
  const head = (host?: string) => `GET /status HTTP/1.1\r\n${host === undefined ? "" : `Host: ${host}\r\n`}\r\n`;

  test("loopback names and addresses, IP literals and the bind host pass; other names get 421", () => {
    for (const h of ["127.0.0.1:5080", "localhost", "LOCALHOST:80", "[::1]:8080", "192.0.2.7:80", "vpn-box.lan"]) expect(refuseHost(head(h), "vpn-box.lan")).toBeUndefined();
    expect(refuseHost(head(), "127.0.0.1")).toBeUndefined();
    for (const h of ["evil.example", "evil.example:5080", "127.0.0.1.evil.example"]) expect(refuseHost(head(h), "127.0.0.1")?.status).toBe(421);
  });

  test("no Access-Control-Allow-Origin header", () => {
    const text = new TextDecoder().decode(encodeHttp(httpError(404, "x")));
    expect(text.toLowerCase()).not.toContain("access-control-allow-origin");
  });
});
