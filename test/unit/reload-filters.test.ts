/**
 * `[filters]` on SIGHUP: a valid file replaces the whole set at once (logged), the same set
 * changes nothing, and a file with one bad filter is refused as a whole: the running set stays.
 */
import { describe, expect, test } from "bun:test";
import type { Config } from "../../src/config/schema.ts";
import { iniConfig as ini, recordingLog } from "../helpers/config-text.ts";
import { compileFilterRules } from "../../src/core/filters.ts";
import { applyReload, reloadFromFile, type ReloadTarget } from "../../src/reload.ts";
import { ipv4, udp } from "../helpers/packets.ts";
import { tempDir, writeConfig } from "../helpers/run.ts";
import { SimPair } from "../sim/simnet.ts";

const LINKS = `[link0]\nremotehost = "203.0.113.1"\nremoteport = 5080\n[link1]\nremotehost = "203.0.113.1"\nremoteport = 5081\n`;
const text = (filters: string) => `[general]\nmode = "client"\npassword = "p"\n[filters]\n${filters}\n${LINKS}`;

function setup() {
  const sim = new SimPair({ links: [{ name: "link0", up: { delayMs: 5 } }, { name: "link1", up: { delayMs: 30 } }] });
  sim.run(300);
  const target: ReloadTarget = {
    tunnel: sim.client,
    now: () => sim.now,
    openLink: () => Promise.reject(new Error("no new links in this test")),
    closeLink: () => false,
  };
  return { sim, target };
}

const SIP = Uint8Array.from(ipv4("10.0.0.2", "10.0.1.1", 17, udp(5060, 5060, 900)));

describe("[filters] reload", () => {
  test("a new set replaces the old one at once; the same set again changes nothing", async () => {
    const { sim, target } = setup();
    const running = ini(text(`link1 = "udp port 5060"`));
    sim.client.setFilters(compileFilterRules([], "tun"));
    const log = recordingLog();
    const next = ini(text(`link0 = "udp port 5060"\nlink1 = "icmp"\nlink1 = "tcp port 22"`));
    const now = await applyReload(running, next, target, log);
    expect(now.filters.map((f) => [f.link, f.expression])).toEqual([
      ["link0", "udp port 5060"],
      ["link1", "icmp"],
      ["link1", "tcp port 22"],
    ]);
    expect(log.lines).toContain("info/config: [filters] replaced: 3 entries (was 1)");
    expect(sim.client.filterMatches).toEqual([0, 0, 0]);
    sim.client.handleTunPacket(SIP, sim.now);
    expect(sim.client.filterMatches).toEqual([1, 0, 0]);

    const again = recordingLog();
    expect((await applyReload(now, ini(text(`link0 = "udp port 5060"\nlink1 = "icmp"\nlink1 = "tcp port 22"`)), target, again)).filters).toBe(now.filters);
    expect(again.lines.filter((l) => l.includes("[filters]"))).toEqual([]);
  });

  test("a file with one bad filter is refused whole: nothing is applied", async () => {
    const tmp = tempDir();
    try {
      const file = writeConfig(tmp.dir, "mlvpn.conf", text(`link0 = "udp port 5060"\nlink1 = "tcp port 22 or"`));
      const log = recordingLog();
      let reloaded: Config | undefined;
      const ok = await reloadFromFile(file, undefined, { reload: async (c) => void (reloaded = c) }, log);
      expect(ok).toBe(false);
      expect(reloaded).toBeUndefined();
      expect(log.lines).toContain(`error/config: ${file}:6: error: [filters] link1: "tcp port 22 or": syntax error at the end of the expression`);
      expect(log.lines).toContain("error/config: reload rejected, keeping the running configuration");
    } finally {
      tmp.cleanup();
    }
  });
});
