/**
 * Malformed and surprising configurations: each case asserts the exit code of `mlvpn -t` and the
 * exact `file:line: severity: [section] key…` start of the message. Where the C MLVPN silently
 * reads something else, we must say so (README.md, "Where mlvpn reads a file differently from
 * the C MLVPN").
 */
import { afterAll, describe, expect, test } from "bun:test";
import { runMain, tempDir, writeConfig } from "../helpers/run.ts";

const { dir, cleanup } = tempDir();
afterAll(cleanup);

const CLIENT_GENERAL = '[general]\nmode = "client"\npassword = "s3cret-pw"\n';
const CLIENT_LINK = '[adsl1]\nremotehost = "10.0.0.1"\nremoteport = 5080\n';
const SERVER_GENERAL = '[general]\nmode = "server"\npassword = "s3cret-pw"\n';

interface Case {
  name: string;
  text: string;
  /** File extension: decides INI or TOML. */
  ext?: ".conf" | ".toml";
  exit: 0 | 1;
  /** [line or undefined (whole file), "error"|"warning", text the message starts with after "severity: "] */
  expect: Array<[number | undefined, "error" | "warning", string]>;
  /** Text that must not appear anywhere in the output (e.g. the password). */
  absent?: string;
  /** Extra arguments (default: -t). */
  args?: string[];
}

const cases: Case[] = [
  {
    name: "timeout = abc",
    text: `${CLIENT_GENERAL}timeout = abc\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[4, "error", '[general] timeout = abc: expected a whole number of seconds (the C MLVPN would silently read 0)']],
  },
  {
    name: "timeout = 30s (atoi would read 30)",
    text: `${CLIENT_GENERAL}timeout = 30s\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[4, "error", '[general] timeout = 30s: expected a whole number of seconds (the C MLVPN would silently read 30); write 30']],
  },
  {
    name: "server bindport = 99999",
    text: `${SERVER_GENERAL}[adsl1]\nbindport = 99999\n`,
    exit: 1,
    expect: [[5, "error", '[adsl1] bindport = 99999: expected a port number 0–65535']],
  },
  {
    name: "mode = sever",
    text: `[general]\nmode = sever\npassword = "x"\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[2, "error", '[general] mode = sever: expected "client" or "server" (the C MLVPN would run this as a client)']],
  },
  {
    name: "mode = Server (case)",
    text: `[general]\nmode = Server\npassword = "x"\n[adsl1]\nbindport = 5080\n`,
    exit: 1,
    expect: [[2, "error", '[general] mode = Server: expected "client" or "server" (the C MLVPN would run this as a client); write "server" (values are case-sensitive)']],
  },
  {
    name: "password missing",
    text: `[general]\nmode = "client"\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[1, "error", "[general] password is missing"]],
  },
  {
    name: "password empty",
    text: `[general]\nmode = "client"\npassword = ""\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[3, "error", '[general] password is empty: add password = "…" to [general]']],
  },
  {
    name: "mode missing",
    text: `[general]\npassword = "x"\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[1, "error", '[general] mode is missing: add mode = "client" or mode = "server"']],
  },
  {
    name: "no [general] at all",
    text: CLIENT_LINK,
    exit: 1,
    expect: [[undefined, "error", "[general] no [general] section"]],
  },
  {
    name: "client link without remotehost",
    text: `${CLIENT_GENERAL}[adsl1]\nremoteport = 5080\n`,
    exit: 1,
    expect: [[4, "error", "[adsl1] remotehost is missing"]],
  },
  {
    name: "client link without remoteport",
    text: `${CLIENT_GENERAL}[adsl1]\nremotehost = "10.0.0.1"\n`,
    exit: 1,
    expect: [[4, "error", "[adsl1] remoteport is missing"]],
  },
  {
    name: "server link without bindport",
    text: `${SERVER_GENERAL}[adsl1]\nbindhost = "0.0.0.0"\n`,
    exit: 1,
    expect: [[4, "error", "[adsl1] bindport is missing"]],
  },
  {
    name: "tuntap = TUN (C reads it as tap)",
    text: `${CLIENT_GENERAL}tuntap = TUN\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[4, "error", '[general] tuntap = TUN: expected "tun" or "tap" (the C MLVPN would run this as tap); write "tun"']],
  },
  {
    name: "cleartext_data = yes (C reads 0)",
    text: `${CLIENT_GENERAL}cleartext_data = yes\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[4, "error", '[general] cleartext_data = yes: expected 0 or 1 (the C MLVPN would read 0 (off))']],
  },
  {
    name: "loss_tolerence = 150 is capped",
    text: `${CLIENT_GENERAL}loss_tolerence = 150\n${CLIENT_LINK}`,
    exit: 0,
    expect: [[4, "warning", "[general] loss_tolerence = 150 is read as 100 (it is a percentage)"]],
  },
  {
    name: "timeout = 1 is raised to 2",
    text: `${CLIENT_GENERAL}${CLIENT_LINK}timeout = 1\n`,
    exit: 0,
    expect: [[7, "warning", "[adsl1] timeout = 1 is read as 2 (the shortest timeout is 2 seconds)"]],
  },
  {
    name: "latency_tolerence = 5000 is capped",
    text: `${CLIENT_GENERAL}latency_tolerence = 5000\n${CLIENT_LINK}`,
    exit: 0,
    expect: [[4, "warning", "[general] latency_tolerence = 5000 is read as 1000"]],
  },
  {
    name: "unknown key with suggestion",
    text: `${CLIENT_GENERAL}${CLIENT_LINK}bandwith_upload = 100000\n`,
    exit: 0,
    expect: [[7, "warning", "[adsl1] bandwith_upload: unknown key, ignored; did you mean bandwidth_upload?"]],
  },
  {
    name: "loss_tolerance (English spelling) is accepted with a warning",
    text: `${CLIENT_GENERAL}loss_tolerance = 20\n${CLIENT_LINK}`,
    exit: 0,
    expect: [[4, "warning", "[general] loss_tolerance: read as loss_tolerence (MLVPN's spelling)"]],
  },
  {
    name: "[general] after a link section",
    text: `${CLIENT_LINK}${CLIENT_GENERAL}`,
    exit: 0,
    expect: [[4, "warning", "[general] this section comes after the link [adsl1] (line 1)"]],
  },
  {
    name: "unquoted spaces in a value are kept, and said",
    text: `${CLIENT_GENERAL}ip4_routes = 10.0.0.0/8 192.168.0.0/16\n${CLIENT_LINK}`,
    exit: 0,
    expect: [[4, "warning", '[general] ip4_routes: the value "10.0.0.0/8 192.168.0.0/16" has unquoted blanks; mlvpn keeps them, the C MLVPN deletes them and reads 10.0.0.0/8192.168.0.0/16']],
  },
  {
    name: "unquoted spaces in the password: warned, never shown",
    text: `[general]\nmode = "client"\npassword = my secret words\n${CLIENT_LINK}`,
    exit: 0,
    expect: [[3, "warning", "[general] password: the value <redacted> has unquoted blanks"]],
    absent: "secret words",
  },
  {
    name: "tab between key and '='",
    text: `${CLIENT_GENERAL}timeout\t= 30\n${CLIENT_LINK}`,
    exit: 0,
    expect: [[4, "warning", "[general] timeout: a tab next to the key is read as a blank; the C MLVPN keeps the tab in the key and ignores the line"]],
  },
  {
    name: "bracketed IPv6 value (C takes it as a section)",
    text: `${CLIENT_GENERAL}[adsl1]\nremotehost = [2001:db8::1]\nremoteport = 5080\n`,
    exit: 1,
    expect: [[5, "error", '[adsl1] remotehost = "[2001:db8::1]": write the address without brackets: "2001:db8::1"']],
  },
  {
    name: "line without '=' (the guide's 'reorder_buffer_size 64')",
    text: `${CLIENT_GENERAL}reorder_buffer_size 64\n${CLIENT_LINK}`,
    exit: 0,
    expect: [[4, "warning", '[general] line ignored: no \'=\' in "reorder_buffer_size 64" (the C MLVPN ignores it too); write "reorder_buffer_size = VALUE"']],
  },
  {
    name: "key before any section",
    text: `timeout = 30\n${CLIENT_GENERAL}${CLIENT_LINK}`,
    exit: 0,
    expect: [[1, "warning", "timeout: key outside any section is ignored"]],
  },
  {
    name: "duplicate key: first wins",
    text: `${CLIENT_GENERAL}timeout = 30\ntimeout = 40\n${CLIENT_LINK}`,
    exit: 0,
    expect: [[5, "warning", "[general] timeout: duplicate key ignored: the first value (line 4) wins"]],
  },
  {
    name: "[General] (case)",
    text: `[General]\nmode = "client"\npassword = "x"\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[1, "error", "[General] section names are case-sensitive: write [general]"]],
  },
  {
    name: "last line without newline is read",
    text: `${CLIENT_GENERAL}[adsl1]\nremotehost = "10.0.0.1"\nremoteport = 5080`,
    exit: 0,
    expect: [[6, "warning", "[adsl1] the last line has no newline at its end; mlvpn reads it, the C MLVPN ignores it"]],
  },
  {
    name: "unterminated quote",
    text: `${CLIENT_GENERAL}ip4 = "10.42.0.2/30\n${CLIENT_LINK}`,
    exit: 0,
    expect: [[4, "warning", "[general] ip4: unterminated '\"': the value runs to the end of the line"]],
  },
  {
    name: "mtu too small",
    text: `${CLIENT_GENERAL}mtu = 20\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[4, "error", '[general] mtu = 20: must be between 68 and 9000']],
  },
  {
    name: "interface_name too long",
    text: `${CLIENT_GENERAL}interface_name = "mlvpn-interface-0"\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[4, "error", '[general] interface_name = mlvpn-interface-0: must be 1 to 15 characters long']],
  },
  {
    name: "reorder_buffer_size = -1 (C wraps it)",
    text: `${CLIENT_GENERAL}reorder_buffer_size = -1\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[4, "error", '[general] reorder_buffer_size = -1: expected a whole number of packets (the C MLVPN would silently read 4294967295)']],
  },
  {
    name: "rekey_interval below its bound (10 s)",
    text: `${CLIENT_GENERAL}rekey_interval = 9\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[4, "error", "[general] rekey_interval = 9: must be between 10 and 120"]],
  },
  {
    name: "rekey_interval above its bound (120 s, the protocol's)",
    text: `${CLIENT_GENERAL}rekey_interval = 121\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[4, "error", "[general] rekey_interval = 121: must be between 10 and 120"]],
  },
  {
    name: "rekey_interval at both bounds is valid",
    text: `${CLIENT_GENERAL}rekey_interval = 10\n${CLIENT_LINK}`,
    exit: 0,
    expect: [],
  },
  {
    name: "rekey_interval = 120 is valid (TOML)",
    ext: ".toml",
    text: `[general]\nmode = "client"\npassword = "s3cret-pw"\nrekey_interval = 120\n[adsl1]\nremotehost = "10.0.0.1"\nremoteport = 5080\n`,
    exit: 0,
    expect: [],
  },
  {
    name: "remotehost is not a host",
    text: `${CLIENT_GENERAL}[adsl1]\nremotehost = "bad host!"\nremoteport = 5080\n`,
    exit: 1,
    expect: [[5, "error", '[adsl1] remotehost = "bad host!": expected a host name or an IPv4/IPv6 address']],
  },
  {
    name: "remotehost with a port",
    text: `${CLIENT_GENERAL}[adsl1]\nremotehost = "10.0.0.1:5080"\nremoteport = 5080\n`,
    exit: 1,
    expect: [[5, "error", '[adsl1] remotehost = 10.0.0.1:5080: write the port in its own key']],
  },
  {
    name: "two server links on the same port",
    text: `${SERVER_GENERAL}[adsl1]\nbindport = 5080\n[adsl2]\nbindport = 5080\n`,
    exit: 1,
    expect: [[6, "error", "[adsl2] bindport: server links [adsl1] and [adsl2] both bind *:5080"]],
  },
  {
    name: "fallback_only = 2",
    text: `${CLIENT_GENERAL}${CLIENT_LINK}fallback_only = 2\n`,
    exit: 1,
    expect: [[7, "error", '[adsl1] fallback_only = 2: expected 0 or 1 (the C MLVPN would read 1 (on))']],
  },
  {
    name: "spaces inside the section brackets",
    text: `[ general ]\nmode = "client"\npassword = "x"\n${CLIENT_LINK}`,
    exit: 0,
    expect: [[1, "warning", '[general] spaces around the section name are ignored; the C MLVPN reads a section named " general "']],
  },
  {
    name: "';' comment",
    text: `${CLIENT_GENERAL}; a comment\n${CLIENT_LINK}`,
    exit: 0,
    expect: [[4, "warning", "[general] ';' is not a comment in MLVPN's format"]],
  },
  {
    name: "control_bind_port = abc",
    text: `${CLIENT_GENERAL}control_bind_host = "127.0.0.1"\ncontrol_bind_port = abc\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[5, "error", '[general] control_bind_port = abc: expected a port number 1–65535']],
  },
  {
    name: "control_bind_port without control_bind_host",
    text: `${CLIENT_GENERAL}control_bind_port = 7070\n${CLIENT_LINK}`,
    exit: 0,
    expect: [[1, "warning", "[general] control_bind_host: control_bind_port is set without control_bind_host: the HTTP control interface stays off"]],
  },
  {
    name: "cipher unknown",
    text: `${CLIENT_GENERAL}cipher = "aes"\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[4, "error", '[general] cipher = aes: expected "aes-256-gcm" or "chacha20poly1305"']],
  },
  {
    name: "empty link section",
    text: `${CLIENT_GENERAL}[spare]\n${CLIENT_LINK}`,
    exit: 0,
    expect: [[4, "warning", "[spare] section has no keys, so no link is created"]],
  },
  {
    name: "filter for an unknown link",
    text: `${CLIENT_GENERAL}[filters]\nlte = "udp port 5060"\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[5, "error", '[filters] lte: filter for an unknown link "lte" (the links are adsl1)']],
  },
  {
    name: "link key in [general]",
    text: `${CLIENT_GENERAL}bandwidth_upload = 1000\n${CLIENT_LINK}`,
    exit: 0,
    expect: [[4, "warning", "[general] bandwidth_upload: has no effect here: it belongs in a link section"]],
  },
  {
    name: "header without ']'",
    text: `${CLIENT_GENERAL}[adsl1\nremotehost = "10.0.0.1"\nremoteport = 5080\n`,
    exit: 1,
    expect: [[4, "error", 'section header "[adsl1" has no closing \']\'']],
  },
  {
    name: "TOML: syntax error names the line",
    ext: ".toml",
    text: `[general]\nmode = "client"\npassword = "x\n`,
    exit: 1,
    expect: [[3, "error", "invalid TOML:"]],
  },
  {
    name: "TOML: fractional timeout",
    ext: ".toml",
    text: `${CLIENT_GENERAL}timeout = 3.5\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[4, "error", "[general] timeout = 3.5: expected a whole number of seconds, not 3.5"]],
  },
  {
    name: "TOML: nested link tables are refused",
    ext: ".toml",
    text: `${CLIENT_GENERAL}[links.adsl1]\nremotehost = "10.0.0.1"\nremoteport = 5080\n`,
    exit: 1,
    expect: [[4, "error", "[links] adsl1: the nested table [links.adsl1] is not allowed; links are top-level tables like [adsl1]"]],
  },
  {
    name: "TOML: key outside any table",
    ext: ".toml",
    text: `mode = "client"\n${CLIENT_GENERAL}${CLIENT_LINK}`,
    exit: 1,
    expect: [[1, "error", "mode: key outside any table"]],
  },
  {
    name: "TOML: boolean where a string is expected",
    ext: ".toml",
    text: `${CLIENT_GENERAL}ip4 = true\n${CLIENT_LINK}`,
    exit: 1,
    expect: [[4, "error", "[general] ip4 = true: expected a string in quotes, not true"]],
  },
  {
    name: "config readable by others refuses to start",
    text: `${CLIENT_GENERAL}${CLIENT_LINK}`,
    exit: 1,
    args: [],
    expect: [[undefined, "error", "is accessible by group or others (mode 0644) and holds the password: run chmod 600"]],
  },
  {
    name: "status script that does not exist refuses to start",
    text: `${CLIENT_GENERAL}statuscommand = "/nonexistent/mlvpn-updown.sh"\n${CLIENT_LINK}`,
    exit: 1,
    args: [],
    expect: [[4, "error", "[general] statuscommand: /nonexistent/mlvpn-updown.sh does not exist"]],
  },
];

describe("malformed and surprising configs", () => {
  test("there are at least 30 cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  cases.forEach((c, i) => {
    test(c.name, async () => {
      const mode = c.name.startsWith("config readable by others") ? 0o644 : 0o600;
      const file = writeConfig(dir, `case${i}${c.ext ?? ".conf"}`, c.text, mode);
      const r = await runMain([...(c.args ?? ["-t"]), "-c", file]);
      const out = r.stdout + r.stderr;
      for (const [line, severity, start] of c.expect) {
        const where = line === undefined ? file : `${file}:${line}`;
        expect(r.stderr).toContain(`${where}: ${severity}: ${start}`);
      }
      expect(r.code).toBe(c.exit);
      if (c.exit === 0) expect(r.stdout).toContain("password = <redacted>");
      if (c.absent) expect(out).not.toContain(c.absent);
      expect(out).not.toContain("s3cret-pw");
    });
  });
});
