/**
 * The deadline table (src/core/deadlines.ts): nextTimeout() is a pure minimum. Asking it more
 * often, or not at all between inputs, changes nothing the tunnel does: the same datagrams,
 * byte for byte, at the same times, and the same state.
 */
import { describe, expect, test } from "bun:test";
import { SimPair } from "./simnet.ts";

function run(extraCalls: number): { wire: string[]; state: string } {
  const sim = new SimPair({
    links: [
      { up: { delayMs: 10, rateMbit: 20 }, down: { delayMs: 10 } },
      { up: { delayMs: 30, rateMbit: 5, loss: 0.02 }, down: { delayMs: 30 } },
    ],
    reorderBufferSize: 256,
    seed: 11,
  });
  for (const t of [sim.client, sim.server]) {
    const pure = t.nextTimeout.bind(t);
    t.nextTimeout = () => {
      for (let i = 0; i < extraCalls; i++) pure();
      return pure();
    };
  }
  sim.run(200);
  sim.sendStream("client", 400, 0.4, 1200);
  sim.run(sim.now + 3000);
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
  return {
    wire: sim.captured.map((d) => `${d.from}${d.link}@${d.atMs}:${hex(d.bytes)}`),
    state: JSON.stringify([sim.client.snapshot(), sim.server.snapshot()]),
  };
}

describe("deadline table", () => {
  test("asking nextTimeout() five times more per step changes no byte on the wire and no state", () => {
    const once = run(0);
    const often = run(5);
    // The transfer's 400 packets and what answers them (450 datagrams here).
    expect(once.wire.length).toBeGreaterThan(400);
    expect(often.wire.length).toBe(once.wire.length);
    expect(often.wire).toEqual(once.wire);
    expect(often.state).toBe(once.state);
  });

  test("reading it twice gives the same answer", () => {
    const sim = new SimPair({ links: [{ up: { delayMs: 10 }, down: { delayMs: 10 } }] });
    sim.run(100);
    sim.sendStream("client", 50, 1, 1000);
    for (const t of [sim.client, sim.server]) expect(t.nextTimeout()).toBe(t.nextTimeout());
  });
});
