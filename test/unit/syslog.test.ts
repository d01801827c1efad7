/** Syslog datagrams as glibc writes them, sent to a socket this test binds, and the stderr fallback. */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { syslogLine, syslogSink } from "../../src/io/syslog.ts";
import { UnixDatagramSocket } from "../../src/io/unix-dgram.ts";
import { createLogger } from "../../src/log.ts";
import { tempDir } from "../helpers/run.ts";

const { dir, cleanup } = tempDir("mlvpn-syslog-");
afterAll(cleanup);
// Local time, as syslog(3) uses: built from local fields so the test holds in any time zone.
const at = (day: number, h: number) => new Date(2026, 10, day, h, 4, 5);

function received(s: UnixDatagramSocket): string[] {
  const got: string[] = [];
  for (let d = s.receive(); d && got.length < 100; d = s.receive()) got.push(new TextDecoder().decode(d));
  return got;
}

describe("syslog", () => {
  test("the glibc format: <PRI>Mmm dd hh:mm:ss IDENT[PID]: message, facility daemon", () => {
    expect(syslogLine("info", "office", 4242, "link up", at(26, 8))).toBe("<30>Nov 26 08:04:05 office[4242]: link up");
    expect(syslogLine("warn", "office", 1, "w", at(6, 23))).toBe("<28>Nov  6 23:04:05 office[1]: w");
    expect(syslogLine("error", "mlvpn", 1, "e", at(6, 0))).toBe("<27>Nov  6 00:04:05 mlvpn[1]: e");
    expect(syslogLine("debug", "mlvpn", 1, "d", at(6, 0))).toBe("<31>Nov  6 00:04:05 mlvpn[1]: d");
  });

  test("a logger on the syslog sink sends one datagram per message, without the token", () => {
    const path = join(dir, "log");
    const syslogd = UnixDatagramSocket.bound(path);
    const stderr: string[] = [];
    try {
      const sink = syslogSink({ ident: "office", path, pid: 77, now: () => at(26, 9), fallback: (l) => stderr.push(l) });
      const log = createLogger({ verbosity: 3, debugTokens: [], sink });
      log.info("net", "[adsl] listening on 0.0.0.0:5080");
      log.warn("protocol", "[adsl] link down: timeout");
      log.debug("rtt", "[adsl] rtt 20 ms");
      expect(received(syslogd)).toEqual([
        "<30>Nov 26 09:04:05 office[77]: [adsl] listening on 0.0.0.0:5080",
        "<28>Nov 26 09:04:05 office[77]: [adsl] link down: timeout",
        "<31>Nov 26 09:04:05 office[77]: [adsl] rtt 20 ms",
      ]);
      expect(stderr).toEqual([]);
    } finally {
      syslogd.close();
    }
  });

  test("no syslog: stderr in the --debug format, with one line saying why, and back to syslog once it works", () => {
    const path = join(dir, "log-later");
    const stderr: string[] = [];
    const sink = syslogSink({ ident: "", path, pid: 5, now: () => at(26, 10), fallback: (l) => stderr.push(l) });
    sink("info", "net", "first");
    sink("warn", "protocol", "second");
    expect(stderr).toEqual([
      `2026-11-26T10:04:05 [WARN] cannot log to syslog (${path}: No such file or directory): logging to stderr until it works again\n`,
      "2026-11-26T10:04:05 [INFO/net] first\n",
      "2026-11-26T10:04:05 [WARN/protocol] second\n",
    ]);
    const syslogd = UnixDatagramSocket.bound(path);
    try {
      sink("info", "", "third");
      expect(received(syslogd)).toEqual(["<30>Nov 26 10:04:05 mlvpn[5]: third"]);
      expect(stderr).toHaveLength(3);
    } finally {
      syslogd.close();
    }
    // A bound path whose reader is gone refuses the connection: back to stderr, said once again.
    sink("info", "", "fourth");
    expect(stderr.slice(3)).toEqual([
      `2026-11-26T10:04:05 [WARN] cannot log to syslog (${path}: Connection refused): logging to stderr until it works again\n`,
      "2026-11-26T10:04:05 [INFO] fourth\n",
    ]);
  });
});
