/**
 * An idle tunnel (both ends up, no traffic) keeps to one keepalive exchange per link and tick:
 * the leading end's keepalive, answered at once with the other's and its acknowledgement, and
 * that answer's acknowledgement (health.ts keepaliveDue / keepaliveAnswered). The answering
 * end's timer runs for its health tick only; the leading end's for the tick and the
 * acknowledgements' delay. Keepalives reaching the links at different moments must not read as
 * a link gone silent while the peer is heard on another (sendpath.ts isSilent): that used to add
 * a probe, its acknowledgement and a timer per link and second. A cut link is still seen at once
 * under traffic (stall.sim.test.ts), and when idle by its keepalive going unanswered (below).
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
        // The health tick, and (the leading end) the acknowledgements' delay on each link.
        expect(timeouts[side]).toBeLessThanOrEqual((1 + links) * (ticks + 1));
        expect(sim[side].links.every((l) => l.isUp && !l.stalled)).toBe(true);
      }
      // One end answers: its timer runs for the health tick alone.
      expect(Math.min(timeouts.client, timeouts.server)).toBeLessThanOrEqual(ticks + 1);
    });
  }

  test("idle, a link cut both ways: each end stops using it within two ticks and a stall timeout, and takes it down after `timeout`", () => {
    const sim = new SimPair({ links: [{ up: { delayMs: 10 }, down: { delayMs: 10 }, timeout: 4 }, { up: { delayMs: 30 }, down: { delayMs: 30 }, timeout: 4 }], reorderBufferSize: 64, seed: 5 });
    sim.run(5300);
    expect(sim.client.links.every((l) => l.isUp) && sim.server.links.every((l) => l.isUp)).toBe(true);
    for (const p of [sim.links[1]!.up!, sim.links[1]!.down!]) p.cut = true;
    const cutAt = sim.now;
    const seen: Partial<Record<Side, number>> = {};
    while (sim.now < cutAt + 5000) {
      sim.run(sim.now + 5);
      for (const side of SIDES) if (seen[side] === undefined && sim[side].links[1]!.stalled) seen[side] = sim.now - cutAt;
    }
    for (const side of SIDES) {
      // The end whose keepalive goes unanswered sees it at its next tick plus a stall timeout
      // (≥ 60 ms, here ~4 RTTs); the other once it missed a tick's keepalive and sent its own.
      expect(seen[side] ?? Infinity).toBeLessThanOrEqual(2 * HEALTH_TICK_MS + 300);
      expect(sim[side].links[1]!.isUp).toBe(false); // down after its 4 s timeout
      expect(sim[side].links[0]!.isUp).toBe(true);
    }
  });
});
