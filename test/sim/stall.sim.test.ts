/**
 * A link cut during a transfer is reported stalled (`stalled` in the snapshot behind `/status`)
 * within 0.5 s on both ends, the sending end and the receiving end, while MLVPN's state stays
 * "connected" until `timeout` (issue 11 §3). Deterministic: virtual clock, the lab demo's links
 * (20 Mbit/s, 10 and 30 ms one-way).
 */
import { describe, expect, test } from "bun:test";
import { numberedPacket, SimPair, type Side } from "./simnet.ts";

const VISIBLE_WITHIN_MS = 500;
const path = (delayMs: number) => ({ delayMs, rateMbit: 20 });

describe("a cut link shows as stalled within 0.5 s", () => {
  // Two phases of the cut, half a second apart: the ends' keepalives go out once a second, so a
  // receiving end that only noticed the cut with its next keepalive would miss 0.5 s in one of them.
  for (const [cut, from, phaseMs] of [[0, "client", 100], [0, "client", 600], [1, "server", 100], [1, "server", 600]] as const) {
    test(`link ${cut} (${cut === 0 ? 10 : 30} ms) cut ${phaseMs} ms into a second while the ${from} sends 16 Mbit/s: stalled on both ends`, () => {
      const sim = new SimPair({ links: [{ up: path(10), down: path(10), timeout: 10 }, { up: path(30), down: path(30), timeout: 10 }], reorderBufferSize: 64 });
      sim.run(1000); // both links up
      let id = 0;
      /** Two 1000-byte packets per ms (16 Mbit/s, 40 % of the sum) for `ms`; calls `each` every ms. */
      const stream = (ms: number, each?: () => void) => {
        for (let k = 0; k < ms; k++) {
          const t = from === "client" ? sim.client : sim.server;
          for (let n = 0; n < 2; n++) t.handleTunPacket(numberedPacket(id++, 1000), sim.now);
          sim.run(sim.now + 1);
          each?.();
        }
      };
      stream(1000 + phaseMs);
      const ends: Side[] = ["client", "server"];
      const snap = (side: Side) => (side === "client" ? sim.client : sim.server).snapshot().links[cut]!;
      for (const side of ends) expect(snap(side).stalled).toBe(false);
      for (const p of [sim.links[cut]!.up!, sim.links[cut]!.down!]) p.cut = true;
      const cutAt = sim.now;
      const seen: Partial<Record<Side, number>> = {};
      stream(1000, () => {
        for (const side of ends) if (seen[side] === undefined && snap(side).stalled) seen[side] = sim.now - cutAt;
      });
      for (const side of ends) {
        expect(seen[side] ?? Infinity).toBeLessThanOrEqual(VISIBLE_WITHIN_MS);
        expect(snap(side).stalled).toBe(true); // and it stays so while cut
        expect(snap(side).status).toBe("connected");
      }
      console.log(`  [stall] link ${cut} cut, ${from} sending: stalled after client ${seen.client} ms, server ${seen.server} ms (virtual)`);
    }, 30_000);
  }
});
