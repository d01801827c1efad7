/**
 * applyReload against a real core (the client end of a simulated pair) and a recording stand-in
 * for the daemon's sockets: what is opened, closed, changed in place, logged, and which
 * configuration is in effect afterwards.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Diagnostics } from "../../src/config/diagnostics.ts";
import { parseIni } from "../../src/config/ini.ts";
import { type Config, toConfig } from "../../src/config/schema.ts";
import type { Logger } from "../../src/log.ts";
import { applyReload, reloadFromFile, type ReloadTarget } from "../../src/reload.ts";
import { tempDir, writeConfig } from "../helpers/run.ts";
import { serverAddr, SimPair } from "../sim/simnet.ts";

function ini(text: string): Config {
  const diags = new Diagnostics("test.conf");
  const config = toConfig(parseIni(text, diags), "test.conf", "ini", diags);
  expect(diags.list.filter((d) => d.severity === "error")).toEqual([]);
  return config!;
}

const section = (name: string, port: number, extra = "") => `[${name}]\nremotehost = "203.0.113.1"\nremoteport = ${port}\n${extra}\n`;
// The first value of a key wins: `general` can override the password.
const conf = (general: string, ...links: string[]) => ini(`[general]\nmode = "client"\n${general}\npassword = "first"\n${links.join("")}`);

function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (token: string, message: string) => void lines.push(`${level}/${token}: ${message}`);
  return { lines, error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug") };
}

/** Two links up (link0, link1) on a simulated pair; opening `refuse` fails like a bind error. */
function setup(refuse?: string) {
  const sim = new SimPair({ links: [{ name: "link0" }, { name: "link1" }] });
  sim.run(200);
  const opened: string[] = [];
  const closed: number[] = [];
  const target: ReloadTarget = {
    tunnel: sim.client,
    now: () => sim.now,
    async openLink(l) {
      if (l.name === refuse) throw new Error(`[${l.name}] cannot bind 0.0.0.0:80: port 80 is below 1024`);
      sim.links.push({ name: l.name });
      const i = sim.client.addLink(l, sim.now);
      sim.client.setPeer(i, serverAddr(i), sim.now);
      opened.push(l.name);
      return i;
    },
    closeLink(i, reason) {
      closed.push(i);
      return sim.client.removeLink(i, sim.now, reason);
    },
  };
  return { sim, target, opened, closed };
}

describe("applyReload", () => {
  const running = conf("", section("link0", 5080), section("link1", 5081));

  test("removed, changed in place, new address, added: each applied and logged once", async () => {
    const { sim, target, opened, closed } = setup();
    const log = recordingLog();
    const next = conf('password = "second"', section("link1", 5081, "loss_tolerence = 20"), section("link2", 5082), section("link0", 6000));
    const now = await applyReload(running, next, target, log);

    // link0's port changed: its old slot closed, a new one opened; link2 is new.
    expect(closed).toEqual([0]);
    expect(opened).toEqual(["link0", "link2"]);
    expect(sim.rec.client.events.find((e) => e.type === "link-down")).toEqual({ type: "link-down", link: 0, reason: "remoteport changed: new socket" });
    expect(sim.client.links.map((l) => [l.name, l.index])).toEqual([
      ["link1", 1],
      ["link2", 3],
      ["link0", 2],
    ]);
    expect(sim.client.linkAt(1)!.config.loss_tolerence).toBe(20);
    expect(log.lines.filter((l) => l.startsWith("warn/config"))).toEqual(["warn/config: needs restart: password (changed in the file, not applied until mlvpn restarts)"]);
    expect(log.lines).toContain("info/config: [link1] loss_tolerence 100 → 20 (applied, the link stays up)");
    expect(log.lines).toContain("info/config: [link0] remoteport 5080 → 6000: new socket, new handshake");
    expect(log.lines).toContain("info/config: [link2] added");
    expect(log.lines.at(-1)).toBe("info/config: reloaded: 1 added, 0 removed, 1 changed in place, 1 with a new socket");
    // The password is never shown, and the one in effect is still the old one.
    expect(log.lines.join("\n")).not.toContain("second");
    expect(now.general.password).toBe("first");
    expect(now.links.map((l) => l.name)).toEqual(["link1", "link2", "link0"]);
    // link1 was not bounced.
    expect(sim.rec.client.events.filter((e) => e.type === "link-down").length).toBe(1);
  });

  test("a link that cannot be bound is left out, with the reason; the next reload tries it again", async () => {
    const { sim, target } = setup("link2");
    const log = recordingLog();
    const next = conf("", section("link0", 5080), section("link1", 5081), section("link2", 5082));
    const now = await applyReload(running, next, target, log);
    expect(log.lines).toContain("error/config: [link2] not started: [link2] cannot bind 0.0.0.0:80: port 80 is below 1024; fix the configuration and reload again");
    expect(log.lines.at(-1)).toBe("info/config: reloaded: 1 added, 0 removed, 0 changed in place, 0 with a new socket, 1 failed");
    expect(now.links.map((l) => l.name)).toEqual(["link0", "link1"]);
    expect(sim.client.links.map((l) => l.name)).toEqual(["link0", "link1"]);
  });

  test("the same file again changes nothing", async () => {
    const { sim, target, opened, closed } = setup();
    const log = recordingLog();
    await applyReload(running, conf("", section("link0", 5080), section("link1", 5081)), target, log);
    expect([opened, closed]).toEqual([[], []]);
    expect(log.lines).toEqual(["info/config: reloaded: no link changed"]);
    expect(sim.rec.client.events.filter((e) => e.type === "link-down")).toEqual([]);
  });

  test("a new socket on the old one's local port waits until the old link is gone; on another port it does not", async () => {
    const bound = conf("", section("link0", 5080, "bindport = 6000"), section("link1", 5081, "bindport = 6001"));
    const { target, opened, closed } = setup();
    const steps: string[] = [];
    const waits = new Map<number, () => void>();
    target.gone = (i) => {
      steps.push(`wait ${i}`);
      return new Promise<void>((r) => waits.set(i, r));
    };
    const open = target.openLink.bind(target);
    target.openLink = (l) => (steps.push(`open ${l.name}`), open(l));
    // link0: another remote port, the same bindport (waits); link1: another bindport (does not).
    const reload = applyReload(bound, conf("", section("link0", 5090, "bindport = 6000"), section("link1", 5081, "bindport = 6011")), target, recordingLog());
    await Bun.sleep(0);
    expect(steps).toEqual(["wait 0"]);
    expect(opened).toEqual([]);
    waits.get(0)!();
    await reload;
    expect(closed).toEqual([0, 1]);
    expect(steps).toEqual(["wait 0", "open link0", "open link1"]);
  });

  test("a changed mode needs a restart, and nothing else is applied", async () => {
    const { target, opened, closed } = setup();
    const log = recordingLog();
    const next = ini(`[general]\nmode = "server"\npassword = "first"\n[link0]\nbindport = 5080\n[link9]\nbindport = 5089\n`);
    const now = await applyReload(running, next, target, log);
    expect(now).toBe(running);
    expect([opened, closed]).toEqual([[], []]);
    expect(log.lines).toEqual([
      "warn/config: needs restart: mode (changed in the file, not applied until mlvpn restarts)",
      "warn/config: the mode changed: no link change is applied until mlvpn restarts",
    ]);
  });
});

test("reloadFromFile: a file with errors is refused, counted once, and never reaches the daemon", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = writeConfig(dir, "bad.conf", `[general]\nmode = "client"\npassword = "x"\ntimeout = soon\n`);
    let refused = 0;
    let reloaded = 0;
    const log = recordingLog();
    const daemon = { reload: async () => void reloaded++, refused: () => void refused++ };
    expect(await reloadFromFile(file, undefined, daemon, log)).toBe(false);
    expect(await reloadFromFile(join(dir, "missing.conf"), undefined, daemon, log)).toBe(false);
    expect({ refused, reloaded }).toEqual({ refused: 2, reloaded: 0 });
    expect(log.lines.some((l) => l.includes("bad.conf:4"))).toBe(true);
  } finally {
    cleanup();
  }
});
