/**
 * A reload that gives a link a new socket must let the old link go, with what it holds: its
 * sender's packet store (STORE_SLOTS × the largest packet, ~2.9 MB, src/core/linksender.ts) and
 * its socket's receive slab (src/io/udp.ts). The core kept every removed link in its slot table
 * (src/core/linktable.ts), so each such reload kept ~140 KiB of touched pages more
 * (RELIABILITY.md, config section: 100 reloads, 134.4 → 148.0 MiB).
 *
 * Checked on what a full GC can collect, not on RSS: weak references to the removed links and
 * to the closed sockets, and the process's ArrayBuffer count (a packet store and a slab are one
 * each). A few may survive a collection by chance: the bound allows that (BY_CHANCE), far
 * below the one per reload kept before. And the daemon collects them itself once a burst of such
 * reloads is done (src/daemon/reloading.ts): left to the heap's own pace, an idle daemon kept
 * them, and their touched pages, for tens of seconds (RELIABILITY.md, config section).
 */
import { heapStats } from "bun:jsc";
import { afterAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config/load.ts";
import type { Link } from "../../src/core/link.ts";
import { startDaemon } from "../../src/daemon.ts";
import type { Ports } from "../../src/io/driver.ts";
import type { TunOptions } from "../../src/io/tun.ts";
import { type LinkSocket, openLinkSocket } from "../../src/io/udp.ts";
import { createLogger } from "../../src/log.ts";
import { FakeTun } from "../helpers/fake-tun.ts";
import { tempDir, writeConfig } from "../helpers/run.ts";
import { Signal } from "../helpers/signal.ts";
import { SimPair } from "../sim/simnet.ts";

const RELOADS = 20;
/**
 * Survivors a collection may leave by chance (JSC scans the stack conservatively; 0 to 1 seen in
 * a run, 6 with a single collection): a quarter of the reloads. The leak kept one per reload.
 */
const BY_CHANCE = RELOADS / 4;

const { dir, cleanup } = tempDir("mlvpn-reload-memory-");
afterAll(cleanup);

/**
 * Full collections, each in a later task (a WeakRef's target is kept until the task that made
 * it ends): two, and more while `survivors()` is still over BY_CHANCE, up to MAX_COLLECTIONS.
 * Two were enough on a quiet machine; inside a full `.ci/run` they once left 8 of the 40 links
 * (the stack is scanned conservatively, and what it happens to hold differs from task to task).
 * More rounds cannot hide a leak: a link something still refers to survives every one of them.
 */
const MAX_COLLECTIONS = 8;
async function collect(survivors: () => number = () => 0): Promise<void> {
  for (let k = 0; k < MAX_COLLECTIONS && (k < 2 || survivors() > BY_CHANCE); k++) {
    await new Promise<void>((r) => setImmediate(r));
    Bun.gc(true);
  }
}

const alive = (refs: readonly WeakRef<object>[]): number => refs.filter((r) => r.deref() !== undefined).length;

describe("a reload that gives a link a new socket lets the old one go", () => {
  test("core: a removed link is collectable (its slot keeps only the name)", async () => {
    const sim = new SimPair({ links: [{ name: "wan" }] });
    sim.run(300);
    expect(sim.client.linkAt(0)?.isUp).toBe(true);
    const removed: WeakRef<Link>[] = [];
    await collect();
    const mapsBefore = heapStats().objectTypeCounts.Map ?? 0;
    let index = 0;
    for (let r = 0; r < RELOADS; r++) {
      for (const end of [sim.client, sim.server]) removed.push(new WeakRef(end.linkAt(index)!));
      sim.client.removeLink(index, sim.now, "bindport changed: new socket");
      sim.server.removeLink(index, sim.now, "bindport changed: new socket");
      index = sim.addLink({ name: "wan" });
      sim.run(sim.now + 300);
      expect(sim.client.linkAt(index)?.isUp).toBe(true);
    }
    // Events of a removed link still name it.
    expect(sim.client.nameOf(0)).toBe("wan");
    expect(sim.client.linkAt(0)).toBeUndefined();
    await collect(() => alive(removed));
    expect(alive(removed)).toBeLessThanOrEqual(BY_CHANCE);
    // Nor anything kept per removed link elsewhere: the responder's answered INITs
    // (src/core/cookies.ts AnsweredInits) kept two empty Maps per removed link on each end.
    expect((heapStats().objectTypeCounts.Map ?? 0) - mapsBefore).toBeLessThanOrEqual(BY_CHANCE);
  }, 30_000);

  test("daemon: the closed sockets and the removed links' buffers are collectable", async () => {
    // A new port each time: the old socket's port may still be held a moment after its close
    // (the poll worker may be inside poll() on it), which is not what this test is about.
    const probes = await Promise.all(Array.from({ length: RELOADS + 1 }, () => Bun.udpSocket({ hostname: "127.0.0.1", port: 0 })));
    const ports = probes.map((p) => p.port);
    for (const p of probes) p.close();
    const text = (r: number) => `[general]\nmode = "server"\npassword = "reload memory"\n\n[wan]\nbindhost = "127.0.0.1"\nbindport = ${ports[r]}\n`;
    const file = writeConfig(dir, "server.conf", text(0));
    const load = () => {
      const loaded = loadConfig(file);
      if (!loaded.config) throw new Error(loaded.diagnostics.map((d) => d.message).join("; "));
      return loaded.config;
    };
    const sockets: WeakRef<LinkSocket>[] = [];
    const factories: Partial<Ports> = {
      tun: { open: (o: TunOptions) => new FakeTun(o, new Signal()) },
      sockets: {
        async open(o) {
          const s = await openLinkSocket(o);
          sockets.push(new WeakRef(s));
          return s;
        },
      },
    };
    const status = { ready() {}, changed() {}, stopping() {}, reloading() {}, reloaded() {} };
    const log = createLogger({ verbosity: 0, debugTokens: [], write: () => {}, repeatWindowMs: 0 });
    const daemon = await startDaemon(load(), { name: "reload-memory", user: "nobody", yesRunAsRoot: true, selfCommand: [], service: status, ports: factories }, log);
    try {
      await collect();
      const buffersBefore = heapStats().objectTypeCounts.ArrayBuffer ?? 0;
      for (let r = 1; r <= RELOADS; r++) {
        writeConfig(dir, "server.conf", text(r));
        await daemon.reload(load());
      }
      expect(daemon.status().reloads_applied).toBe(RELOADS);
      expect(sockets.length).toBe(RELOADS + 1);
      // Already collected by the daemon once its reloads were done, not at the heap's own pace
      // (an idle daemon allocates little: they held ~0.6 MB of RSS per reload for tens of seconds).
      expect((heapStats().objectTypeCounts.ArrayBuffer ?? 0) - buffersBefore).toBeLessThanOrEqual(BY_CHANCE);
      await collect(() => alive(sockets.slice(0, -1)));
      // All but the one in use were closed.
      expect(alive(sockets.slice(0, -1))).toBeLessThanOrEqual(BY_CHANCE);
      // Each removed link had a packet store of its own (one ArrayBuffer), each socket a slab.
      expect((heapStats().objectTypeCounts.ArrayBuffer ?? 0) - buffersBefore).toBeLessThanOrEqual(BY_CHANCE);
    } finally {
      await daemon.stop();
    }
  }, 60_000);
});
