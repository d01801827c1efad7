/**
 * An idle tunnel (both ends up, no traffic) keeps to one request and one answer per link and
 * tick: the client's keepalive and the server's immediate acknowledgement (health.ts
 * keepaliveAtMs). The server's keepalive waits as long as the client's keep coming; it answers
 * nothing with a keepalive, so that the two ends' keepalives never cross and are never
 * acknowledged apart (which made four datagrams per link and tick), and its health tick runs
 * when the client's keepalives arrive (one wake-up per tick). The server still measures
 * its RTT (the client's next keepalive echoes its acknowledgement's clock). Keepalives reaching
 * the links at different moments must not read as a link gone silent while the peer is heard
 * on another (sendpath.ts isSilent). A cut is found from both ends: the client's keepalive goes
 * unacknowledged; the server stalls the link once the client's keepalive is overdue (health.ts
 * leaderSilentAtMs), and, for a cut of its direction alone, when the client's probes say the
 * client has the link stalled (keepalive flag 4).
 */
import { describe, expect, test } from "bun:test";
import { HEALTH_TICK_MS } from "../../src/core/constants.ts";
import { keepaliveSlackMs } from "../../src/core/health.ts";
import { KEEPALIVE_FLAGS_OFF, KEEPALIVE_SIZE, newKeepalive, writeKeepalive } from "../../src/wire/inner.ts";
import { TAG_SIZE, TRANSPORT_HEADER_SIZE } from "../../src/wire/layout.ts";
import { stallTimeoutMs } from "../../src/core/sendpath.ts";
import { SimPair, type Side } from "./simnet.ts";

const SIDES: Side[] = ["client", "server"];

describe("idle tunnel", () => {
  for (const jitterMs of [0, 3]) {
    test(`two links (10 and 30 ms${jitterMs ? `, jitter ${jitterMs} ms` : ""}), 60 s idle: a keepalive and its acknowledgement per link and second, no probe`, () => {
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
      const samples = sim.server.links.map((l) => l.rtt.samples);
      const from = sim.captured.length;
      const seconds = 60;
      sim.run(sim.now + seconds * 1000);
      const ticks = (seconds * 1000) / HEALTH_TICK_MS;
      const links = sim.links.length;
      for (let link = 0; link < links; link++) {
        const sent = sim.captured.slice(from).filter((d) => d.link === link);
        // ±1 tick: the window's edges may cut a tick's exchange. At most 2 per tick in all.
        expect(sent.length).toBeLessThanOrEqual(2 * (ticks + 1));
        for (const side of SIDES) {
          const n = sent.filter((d) => d.from === side).length;
          expect(n).toBeGreaterThanOrEqual(ticks - 1);
          expect(n).toBeLessThanOrEqual(ticks + 1);
        }
      }
      for (const side of SIDES) expect(sim[side].links.every((l) => l.isUp && !l.stalled)).toBe(true);
      // The client's timer: one health tick per second (its keepalives all go in it), nothing else.
      expect(timeouts.client).toBeLessThanOrEqual(ticks + 1);
      // The server's tick runs with the client's keepalives (deadlines.ts followKeepalive): its timer never fires.
      expect(timeouts.server).toBeLessThanOrEqual(1);
      // The server, which only answers, still takes an RTT sample per exchange.
      sim.server.links.forEach((l, i) => expect(l.rtt.samples - samples[i]!).toBeGreaterThanOrEqual(ticks - 1));
      const srtt = sim.server.links[1]!.srttMs!;
      expect(Math.abs(srtt - 60)).toBeLessThanOrEqual(2 * jitterMs + 1);
    });
  }

  /**
   * Cuts at 20 moments spread over a tick. The bounds are the design's: the client's next
   * keepalive (within a tick) plus a stall timeout; the server stalls the link a tick and the
   * slack after the client's last packet (health.ts leaderSilentAtMs), or, for a cut of its
   * direction alone, when the client's probe says the client has it stalled (the client's
   * stall, then its probe's way). No stall timeout of the server's own: with it (the keepalive
   * change alone) the server took 220–1169 ms for a cut both ways. Before
   * (each end answering the other's keepalive with its own, c7f5998) the end that answered saw
   * a cut only at its next tick after a tick had passed: up to two ticks plus a stall timeout
   * (this test gave 110–2030 ms, mean 1458, on the server for a cut both ways).
   */
  for (const cut of ["both ways", "client to server", "server to client"] as const) {
    test(`idle, a link cut ${cut} at 20 moments of a tick: each end whose direction is cut stops using it within the bound, and \`timeout\` takes it down`, () => {
      const worst: Record<Side, number> = { client: 0, server: 0 };
      for (let k = 0; k < 20; k++) {
        const sim = new SimPair({ links: [{ up: { delayMs: 10 }, down: { delayMs: 10 }, timeout: 4 }, { up: { delayMs: 30 }, down: { delayMs: 30 }, timeout: 4 }], reorderBufferSize: 64, seed: 5 + k });
        sim.run(15_300 + k * 50);
        expect(sim.client.links.every((l) => l.isUp) && sim.server.links.every((l) => l.isUp)).toBe(true);
        const [c, s] = [sim.client.links[1]!, sim.server.links[1]!];
        // The client's last keepalive or probe may still be on its way when the path is cut.
        const owd = 30;
        const bound: Record<Side, number> = {
          client: HEALTH_TICK_MS + stallTimeoutMs(c) + 2,
          server: HEALTH_TICK_MS + owd + (cut === "server to client" ? stallTimeoutMs(c) : keepaliveSlackMs(s)) + 2,
        };
        // Both ends measured their RTT: the stall timeouts are the path's, not a first guess.
        for (const l of [c, s]) expect(stallTimeoutMs(l)).toBeLessThan(140);
        if (cut !== "server to client") sim.links[1]!.up!.cut = true;
        if (cut !== "client to server") sim.links[1]!.down!.cut = true;
        const cutAt = sim.now;
        const seen: Partial<Record<Side, number>> = {};
        while (sim.now < cutAt + 6000) {
          sim.run(sim.now + 1);
          for (const side of SIDES) if (seen[side] === undefined && sim[side].links[1]!.stalled) seen[side] = sim.now - cutAt;
        }
        for (const side of SIDES) {
          // A round trip needs both directions: each end stalls the link, whichever is cut.
          expect(seen[side] ?? Infinity).toBeLessThanOrEqual(bound[side]);
          worst[side] = Math.max(worst[side], seen[side]!);
          expect(sim[side].links[0]!.isUp).toBe(true);
        }
        // Down after its 4 s timeout at the end that no longer hears the other.
        if (cut !== "server to client") expect(s.isUp).toBe(false);
        if (cut !== "client to server") expect(c.isUp).toBe(false);
      }
      // Below two ticks at both ends, where the end that answered used to reach two ticks and a stall timeout.
      for (const side of SIDES) expect(worst[side]).toBeLessThan(2 * HEALTH_TICK_MS);
    });
  }

  test("idle, one keepalive in eight lost on the way up: the server reports the loss it sees, the client judges the link by it", () => {
    const sim = new SimPair({ links: [{ up: { delayMs: 10, loss: 0.125 }, down: { delayMs: 10 } }], reorderBufferSize: 64, seed: 9 });
    sim.run(5000);
    const from = sim.captured.length;
    sim.run(sim.now + 30_000);
    const [c, s] = [sim.client.links[0]!, sim.server.links[0]!];
    expect(s.loss.percent() ?? 0).toBeGreaterThan(0);
    // The client's own receive loss is nil; what it knows of its direction's loss came from the server's reports.
    expect(c.loss.percent() ?? 0).toBe(0);
    expect(c.peerLossPercent ?? 0).toBeGreaterThan(0);
    expect(c.lossPercent()).toBeCloseTo(s.loss.percent()!, -1);
    // The reports cost a few keepalives, not one a tick: the server sent fewer than the client.
    const sent = (side: Side) => sim.captured.slice(from).filter((d) => d.from === side).length;
    expect(sent("server")).toBeLessThan(sent("client") + 30);
  });

  test("a keepalive whose flags are not ours (an unknown bit; the FEEDBACK echo flag without an echo) is dropped and counted, nothing thrown", () => {
    const sim = new SimPair({ links: [{}], seed: 5 });
    sim.run(3000);
    const session = sim.server.links[0]!.current!;
    const k = newKeepalive();
    k.clock = sim.now;
    const cases: [number, number | undefined][] = [[8, 7], [0x80, 7], [2, undefined], [3, undefined]];
    for (const [flags, echo] of cases) {
      k.echo = echo;
      const out = new Uint8Array(TRANSPORT_HEADER_SIZE + KEEPALIVE_SIZE + TAG_SIZE);
      writeKeepalive(out, TRANSPORT_HEADER_SIZE, k);
      out[TRANSPORT_HEADER_SIZE + KEEPALIVE_FLAGS_OFF] = flags;
      const n = session.sealInPlace(out, KEEPALIVE_SIZE, false);
      sim.inject("client", 0, out.subarray(0, n), { address: "198.51.100.1", port: 5080 });
    }
    expect(sim.client.drops.get("bad-flags")).toBe(cases.length);
    sim.run(sim.now + 3000);
    expect(sim.client.links[0]!.isUp && sim.server.links[0]!.isUp).toBe(true);
  });
});
