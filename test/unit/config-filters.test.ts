/**
 * `[filters]` in the configuration: every entry kept in file order (duplicate keys included),
 * INI and TOML, errors at file:line naming the expression and the offending token, unquoted
 * expressions kept with a warning, and `--check` printing them normalized.
 */
import { describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config/load.ts";
import { loadText as load } from "../helpers/config-text.ts";
import { runMain, tempDir, writeConfig } from "../helpers/run.ts";

const GENERAL = `[general]\nmode = "client"\npassword = "p"\n`;
const LINKS = `[adsl1]\nremotehost = "203.0.113.1"\nremoteport = 5080\n\n[adsl2]\nremotehost = "203.0.113.1"\nremoteport = 5081\n`;

describe("[filters] in the configuration", () => {
  test("INI: several entries per link, all kept in file order", () => {
    const { config, diags } = load(`${GENERAL}[filters]\nadsl1 = "udp port 5060"\nadsl2 = "tcp port 22 or icmp"\nadsl1 = "tcp port 80 or 443"\n${LINKS}`);
    expect(diags).toEqual([]);
    expect(config!.filters.map((f) => [f.link, f.expression, f.normalized, f.line])).toEqual([
      ["adsl1", "udp port 5060", "udp port 5060", 5],
      ["adsl2", "tcp port 22 or icmp", "tcp port 22 or icmp", 6],
      ["adsl1", "tcp port 80 or 443", "tcp port 80 or tcp port 443", 7],
    ]);
  });

  test("TOML: a string or a list of strings per link", () => {
    const { config, diags } = load(`${GENERAL}[filters]\nadsl1 = ["udp port 5060", "tcp port 80"]\nadsl2 = "icmp"\n${LINKS}`, "mlvpn.toml");
    expect(diags).toEqual([]);
    expect(config!.filters.map((f) => [f.link, f.expression, f.line])).toEqual([
      ["adsl1", "udp port 5060", 5],
      ["adsl1", "tcp port 80", 5],
      ["adsl2", "icmp", 6],
    ]);
  });

  test("a bad expression: file:line, the expression and the offending token", () => {
    const { config, diags } = load(`${GENERAL}[filters]\nadsl1 = "udp prot 5060"\n${LINKS}`);
    expect(config).toBeUndefined();
    expect(diags).toEqual(['5: error: [filters] adsl1: "udp prot 5060": syntax error at column 5 ("prot")']);
  });

  test("TOML list: the bad element is named", () => {
    const { diags } = load(`${GENERAL}[filters]\nadsl1 = ["udp port 5060", "port 99999"]\n${LINKS}`, "mlvpn.toml");
    expect(diags).toEqual(['5: error: [filters] adsl1: "port 99999": illegal port number 99999 > 65535 at column 6 ("99999")']);
  });

  test("unknown link, empty value, a number: errors", () => {
    const { diags } = load(`${GENERAL}[filters]\nlte = "icmp"\nadsl1 =\nadsl2 = 5060\n${LINKS}`, "mlvpn.conf");
    expect(diags).toEqual([
      '5: error: [filters] lte: filter for an unknown link "lte" (the links are adsl1, adsl2)',
      '6: error: [filters] adsl1 = "": expected a pcap filter expression in quotes, e.g. adsl1 = "udp port 5060"',
      '7: error: [filters] adsl2: "5060": syntax error: a comparison (=, !=, <, <=, >, >=) was expected at the end of the expression',
    ]);
  });

  test("link-layer primitives: an error with a tun, accepted with a tap", () => {
    const filters = `[filters]\nadsl1 = "ether host 00:11:22:33:44:55 or arp"\n`;
    expect(load(`${GENERAL}${filters}${LINKS}`).diags[0]).toContain("no link-layer header in tun mode");
    const tap = load(`${GENERAL}tuntap = "tap"\n${filters}${LINKS}`);
    expect(tap.diags).toEqual([]);
    expect(tap.config!.filters.length).toBe(1);
  });

  test("an unquoted expression keeps its spaces, with a warning", () => {
    const { config, diags } = load(`${GENERAL}[filters]\nadsl1 = udp port 5060\n${LINKS}`);
    expect(config!.filters[0]!.expression).toBe("udp port 5060");
    expect(diags).toEqual(['5: warning: [filters] adsl1: the value "udp port 5060" has unquoted blanks; mlvpn keeps them, the C MLVPN deletes them and reads udpport5060 (quote the value: adsl1 = "…")']);
  });

  test("--check prints them normalized, INI and TOML", async () => {
    const tmp = tempDir();
    try {
      const ini = writeConfig(tmp.dir, "c.conf", `${GENERAL}[filters]\nadsl1 = "udp port 5060"\nadsl2 = "tcp port 22 or 80"\nadsl1 = "icmp"\n${LINKS}`);
      const r = await runMain(["-t", "-c", ini]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('[filters]\nadsl1 = "udp port 5060"\nadsl2 = "tcp port 22 or tcp port 80"\nadsl1 = "icmp"\n');
      const toml = writeConfig(tmp.dir, "c.toml", `${GENERAL}[filters]\nadsl1 = ["udp port 5060", "icmp"]\nadsl2 = "host 10.0.0.1 or 10.0.0.2"\n${LINKS}`);
      const t = await runMain(["-t", "-c", toml]);
      expect(t.stdout).toContain('[filters]\nadsl1 = ["udp port 5060", "icmp"]\nadsl2 = "host 10.0.0.1 or host 10.0.0.2"\n');
      // What --check prints is itself a valid configuration with the same filters.
      const back = writeConfig(tmp.dir, "back.toml", t.stdout.replace("password = <redacted>", 'password = "p"'));
      expect(loadConfig(back).config!.filters.map((f) => f.normalized)).toEqual(["udp port 5060", "icmp", "host 10.0.0.1 or host 10.0.0.2"]);
    } finally {
      tmp.cleanup();
    }
  });
});
