/**
 * `[general] redundant` and `redundant_copies`: INI and TOML, errors at file:line naming the
 * expression and the offending token (as for `[filters]`), copies bounded by the links, and a
 * SIGHUP that replaces the rule atomically: a file with a bad expression keeps the running one.
 */
import { describe, expect, test } from "bun:test";
import { dumpConfig } from "../../src/config/dump.ts";
import type { Config } from "../../src/config/schema.ts";
import { applyReload, reloadFromFile, type ReloadTarget } from "../../src/reload.ts";
import { iniConfig as ini, loadText as load, recordingLog } from "../helpers/config-text.ts";
import { tempDir, writeConfig } from "../helpers/run.ts";
import { numberedPacket, SimPair } from "../sim/simnet.ts";

const GENERAL = `[general]\nmode = "client"\npassword = "p"\n`;
const LINKS = `[link0]\nremotehost = "203.0.113.1"\nremoteport = 5080\n\n[link1]\nremotehost = "203.0.113.1"\nremoteport = 5081\n`;

describe("redundant in the configuration", () => {
  test("INI and TOML: the expression as written, copies 2 by default", () => {
    for (const [name, text] of [
      ["mlvpn.conf", `${GENERAL}redundant = "udp port 5060 or udp portrange 10000-20000"\n${LINKS}`],
      ["mlvpn.toml", `${GENERAL}redundant = "udp port 5060 or udp portrange 10000-20000"\n${LINKS}`],
    ] as const) {
      const { config, diags } = load(text, name);
      expect(diags).toEqual([]);
      expect(config!.general.redundant).toBe("udp port 5060 or udp portrange 10000-20000");
      expect(config!.general.redundant_copies).toBe(2);
    }
    const off = load(`${GENERAL}${LINKS}`);
    expect(off.config!.general.redundant).toBeUndefined();
  });

  test("--check shows the expression and the copies, and neither when redundant is unset", () => {
    const on = load(`${GENERAL}redundant = "udp port 5060"\nredundant_copies = 2\n${LINKS}`).config!;
    expect(dumpConfig(on, "x")).toContain('redundant = "udp port 5060"\nredundant_copies = 2\n');
    expect(dumpConfig(load(`${GENERAL}${LINKS}`).config!, "x")).not.toContain("redundant");
  });

  test("a bad expression: file:line, the expression and the offending token (INI and TOML)", () => {
    expect(load(`${GENERAL}redundant = "udp prot 5060"\n${LINKS}`).diags).toEqual(['4: error: [general] redundant = "udp prot 5060": syntax error at column 5 ("prot")']);
    expect(load(`${GENERAL}redundant = "udp port 99999"\n${LINKS}`, "mlvpn.toml").diags).toEqual([
      '4: error: [general] redundant = "udp port 99999": illegal port number 99999 > 65535 at column 10 ("99999")',
    ]);
    expect(load(`${GENERAL}redundant = "udp or"\n${LINKS}`).config).toBeUndefined();
  });

  test("tun: link-layer primitives are an error, as in [filters]", () => {
    const { diags } = load(`${GENERAL}redundant = "ether host 01:02:03:04:05:06"\n${LINKS}`);
    expect(diags.length).toBe(1);
    expect(diags[0]).toStartWith('4: error: [general] redundant = "ether host 01:02:03:04:05:06": ');
  });

  test("redundant_copies: 2 up to the number of links, a whole number", () => {
    expect(load(`${GENERAL}redundant = "udp"\nredundant_copies = 2\n${LINKS}`).diags).toEqual([]);
    expect(load(`${GENERAL}redundant = "udp"\nredundant_copies = 3\n${LINKS}`).diags).toEqual([
      "5: error: [general] redundant_copies = 3: there are only 2 links; a packet goes at most once on each",
    ]);
    expect(load(`${GENERAL}redundant = "udp"\nredundant_copies = 1\n${LINKS}`).diags).toEqual(["5: error: [general] redundant_copies = 1: must be between 2 and 32"]);
    expect(load(`${GENERAL}redundant = "udp"\nredundant_copies = "two"\n${LINKS}`, "mlvpn.toml").diags[0]).toStartWith("5: error: [general] redundant_copies = two: expected a whole number of links");
    expect(load(`${GENERAL}redundant_copies = 2\n${LINKS}`).diags).toEqual(['4: warning: [general] redundant_copies has no effect without redundant = "<pcap-filter expression>"']);
  });
});

const text = (general: string) => `${GENERAL}${general}\n${LINKS}`;

describe("redundant on SIGHUP", () => {
  test("a new expression applies from the next packet; removing it stops the copies; no restart needed", async () => {
    const sim = new SimPair({ links: [{ name: "link0", up: { delayMs: 5 } }, { name: "link1", up: { delayMs: 30 } }] });
    sim.run(500);
    const target: ReloadTarget = { tunnel: sim.client, now: () => sim.now, openLink: () => Promise.reject(new Error("none")), closeLink: () => false };
    const log = recordingLog();
    const on = await applyReload(ini(text("")), ini(text(`redundant = "udp"`)), target, log);
    expect(on.general.redundant).toBe("udp");
    expect(log.lines).toContain('info/config: redundant: "udp" on 2 links');
    expect(log.lines.filter((l) => l.includes("needs restart"))).toEqual([]);
    sim.client.handleTunPacket(numberedPacket(1, 200), sim.now);
    expect(sim.client.snapshot().redundant?.copiesSent).toBe(2);

    const off = await applyReload(on, ini(text("")), target, log);
    expect(off.general.redundant).toBeUndefined();
    expect(log.lines).toContain("info/config: redundant: off");
    sim.client.handleTunPacket(numberedPacket(2, 200), sim.now);
    expect(sim.client.snapshot().redundant?.copiesSent).toBe(2);
  });

  test("a file with a bad expression is refused whole: the running one stays", async () => {
    const tmp = tempDir();
    try {
      const file = writeConfig(tmp.dir, "mlvpn.conf", text(`redundant = "udp port 5060 and"`));
      const log = recordingLog();
      let reloaded: Config | undefined;
      const ok = await reloadFromFile(file, undefined, { reload: async (c) => void (reloaded = c) }, log);
      expect(ok).toBe(false);
      expect(reloaded).toBeUndefined();
      expect(log.lines).toContain(`error/config: ${file}:4: error: [general] redundant = "udp port 5060 and": syntax error at the end of the expression`);
      expect(log.lines).toContain("error/config: reload rejected, keeping the running configuration");
    } finally {
      tmp.cleanup();
    }
  });
});
