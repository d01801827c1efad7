/**
 * An idle tunnel (both ends up, no traffic) keeps to its keepalives: per link and second each end
 * sends one keepalive and one acknowledgement of the peer's, and its timer runs for the health
 * tick and those acknowledgements only. The keepalives of one tick reach the links a few ms
 * apart; that must not read as one link gone silent while the peer is heard on another
 * (sendpath.ts isSilent), which used to add a probe, its acknowledgement and a timer per link
 * and second. A cut link is still seen at once when traffic flows (stall.sim.test.ts).
 */
import { describe, expect, test } from "bun:test";
import { HEALTH_TICK_MS } from "../../src/core/constants.ts";
import { SimPair, type Side } from "./simnet.ts";

const SIDES: Side[] = ["client", "server"];

describe("idle tunnel", () => {
  for (const jitterMs of [0, 3]) {
    test(`two links (10 and 30 ms${jitterMs ? `, jitter ${jitterMs} ms` : ""}), 60 s idle: a keepalive and an acknowledgement per link and second, no probe`, () => {
      const path = (delayMs: number) => ({ delayMs, jitterMs });
      const sim = new SimPair({ links: [{ up: path(10), down: path(10) }, { up: path(30), down: path(30) }], reorderBufferSize: 64, seed: 3 });
      sim.run(5000);
      expect(sim.client.links.every((l) => l.isUp) && sim.server.links.every((l) => l.isUp)).toBe(true);
      const timeouts: Record<Side, number> = { client: 0, server: 0 };
      for (const side of SIDES) {
        const t = sim[side];
        const handle = t.handleTimeout.bind(t);
        t.handleTimeout = (now: number) => {
          timeouts[side]++;
          handle(now);
        };
      }
      const from = sim.captured.length;
      const seconds = 60;
      sim.run(sim.now + seconds * 1000);
      const ticks = (seconds * 1000) / HEALTH_TICK_MS;
      const links = sim.links.length;
      for (const side of SIDES) {
        const sent = sim.captured.slice(from).filter((d) => d.from === side);
        // ±1 tick: the window's edges may cut a tick's exchange.
        expect(sent.length).toBeLessThanOrEqual(2 * links * (ticks + 1));
        expect(sent.length).toBeGreaterThanOrEqual(2 * links * (ticks - 1));
        // The health tick, and the acknowledgements' delay on each link.
        expect(timeouts[side]).toBeLessThanOrEqual((1 + links) * (ticks + 1));
        expect(sim[side].links.every((l) => l.isUp && !l.stalled)).toBe(true);
      }
    });
  }
});
