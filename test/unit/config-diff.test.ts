import { describe, expect, test } from "bun:test";
import { diffConfig, isEmptyDiff } from "../../src/config/diff.ts";
import { Diagnostics } from "../../src/config/diagnostics.ts";
import { parseIni } from "../../src/config/ini.ts";
import { type Config, toConfig } from "../../src/config/schema.ts";

/** A Config from INI text, failing the test on any error. */
function ini(text: string): Config {
  const diags = new Diagnostics("test.conf");
  const config = toConfig(parseIni(text, diags), "test.conf", "ini", diags);
  expect(diags.list.filter((d) => d.severity === "error")).toEqual([]);
  return config!;
}

const GENERAL = `[general]\nmode = "client"\npassword = "secret"\n`;
const client = (general: string, links: string) => ini(`${GENERAL}${general}\n${links}`);
const link = (name: string, port: number, extra = "") => `[${name}]\nbindhost = "192.168.${port - 5000}.2"\nremotehost = "203.0.113.1"\nremoteport = ${port}\n${extra}\n`;

describe("diffConfig", () => {
  test("the same file: nothing changes", () => {
    const a = client("", link("adsl1", 5080) + link("adsl2", 5081));
    const d = diffConfig(a, client("", link("adsl1", 5080) + link("adsl2", 5081)));
    expect(isEmptyDiff(d)).toBe(true);
  });

  test("a link added and another removed, matched by section name", () => {
    const d = diffConfig(client("", link("adsl1", 5080) + link("adsl2", 5081)), client("", link("adsl2", 5081) + link("adsl3", 5082)));
    expect(d.added.map((l) => l.name)).toEqual(["adsl3"]);
    expect(d.removed.map((l) => l.name)).toEqual(["adsl1"]);
    expect(d.updated).toEqual([]);
    expect(d.rebound).toEqual([]);
    expect(d.reordered).toBe(false);
  });

  test("a renamed section is one link removed and one added", () => {
    const d = diffConfig(client("", link("adsl1", 5080)), client("", link("dsl1", 5080)));
    expect(d.removed.map((l) => l.name)).toEqual(["adsl1"]);
    expect(d.added.map((l) => l.name)).toEqual(["dsl1"]);
  });

  test("tolerances, bandwidth, timeout and fallback_only change in place", () => {
    const before = client("", link("adsl1", 5080) + link("adsl2", 5081));
    const after = client("", link("adsl1", 5080, "loss_tolerence = 20\nlatency_tolerence = 300\nbandwidth_upload = 125000\ntimeout = 9\nfallback_only = 1") + link("adsl2", 5081));
    const d = diffConfig(before, after);
    expect(d.updated.map((c) => [c.name, c.keys])).toEqual([["adsl1", ["bandwidth_upload", "timeout", "loss_tolerence", "latency_tolerence", "fallback_only"]]]);
    expect(d.updated[0]!.after.loss_tolerence).toBe(20);
    expect(d.rebound).toEqual([]);
    expect(d.needsRestart).toEqual([]);
  });

  test("an address or port change needs a new socket; other keys changed with it are listed too", () => {
    const before = client("", link("adsl1", 5080) + link("adsl2", 5081));
    const after = client("", link("adsl1", 5080).replace("203.0.113.1", "203.0.113.9") + link("adsl2", 5081).replace("remoteport = 5081", "remoteport = 6000\ntimeout = 7"));
    const d = diffConfig(before, after);
    expect(d.rebound.map((c) => [c.name, c.keys])).toEqual([
      ["adsl1", ["remotehost"]],
      ["adsl2", ["remoteport", "timeout"]],
    ]);
    expect(d.updated).toEqual([]);
  });

  test("a server's remotehost/remoteport are only shown: changed in place, no new socket", () => {
    const server = (port: number, extra = "") => ini(`[general]\nmode = "server"\npassword = "x"\n[adsl1]\nbindhost = "0.0.0.0"\nbindport = ${port}\n${extra}`);
    const d = diffConfig(server(5080), server(5080, 'remotehost = "198.51.100.7"\nremoteport = 4000'));
    expect(d.rebound).toEqual([]);
    expect(d.updated.map((c) => c.keys)).toEqual([["remotehost", "remoteport"]]);
    const moved = diffConfig(server(5080), server(5090));
    expect(moved.rebound.map((c) => c.keys)).toEqual([["bindport"]]);
  });

  test("[general] link defaults reach the links that inherit them; start-only keys need a restart", () => {
    const before = client("", link("adsl1", 5080) + link("adsl2", 5081, "loss_tolerence = 30"));
    const after = client('loss_tolerence = 10\nmtu = 1400\ninterface_name = "vpn1"\ncipher = "chacha20poly1305"\nip4 = "10.0.0.2/24"', link("adsl1", 5080) + link("adsl2", 5081, "loss_tolerence = 30"));
    const d = diffConfig(before, after);
    expect(d.liveGeneral).toEqual(["loss_tolerence"]);
    // Only adsl1 inherits the default; adsl2 sets its own value.
    expect(d.updated.map((c) => [c.name, c.keys])).toEqual([["adsl1", ["loss_tolerence"]]]);
    expect(d.needsRestart.sort()).toEqual(["cipher", "interface_name", "ip4", "mtu"]);
  });

  test("a password or mode change needs a restart", () => {
    const before = client("", link("adsl1", 5080));
    const after = ini(`[general]\nmode = "client"\npassword = "other"\n${link("adsl1", 5080)}`);
    expect(diffConfig(before, after).needsRestart).toEqual(["password"]);
  });

  test("a key removed from [general] counts as changed", () => {
    const before = client('ip6 = "fd00::2/64"', link("adsl1", 5080));
    const d = diffConfig(before, client("", link("adsl1", 5080)));
    expect(d.needsRestart).toEqual(["ip6"]);
  });

  test("the same links in another order: only the order changes", () => {
    const d = diffConfig(client("", link("adsl1", 5080) + link("adsl2", 5081)), client("", link("adsl2", 5081) + link("adsl1", 5080)));
    expect(d.reordered).toBe(true);
    expect(d.added.length + d.removed.length + d.updated.length + d.rebound.length).toBe(0);
    expect(isEmptyDiff(d)).toBe(false);
  });
});
