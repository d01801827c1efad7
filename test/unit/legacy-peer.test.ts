/**
 * A C MLVPN 2.3.5 peer (a real capture, test/vectors/mlvpn-legacy-capture.json) talking to
 * mlvpn: every datagram is dropped as "legacy-peer", one clear rate-limited log line, no state.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { SimPair } from "../sim/simnet.ts";

const capture = (await Bun.file(join(import.meta.dir, "..", "vectors", "mlvpn-legacy-capture.json")).json()) as {
  datagrams: Array<{ from: "client" | "server"; udp_payload_hex: string }>;
};

test("C MLVPN datagrams are recognised, refused and reported once", () => {
  const sim = new SimPair({ links: [{}] });
  sim.run(3000); // the mlvpn ends are up with each other
  const stateBefore = sim.server.links.map((l) => [l.status, l.peer, l.current?.localIndex]);
  for (const d of capture.datagrams) {
    const bytes = Uint8Array.from(Buffer.from(d.udp_payload_hex, "hex"));
    sim.inject(d.from === "client" ? "server" : "client", 0, bytes, { address: "192.0.2.50", port: 5080 });
  }
  const n = capture.datagrams.length;
  expect(n).toBeGreaterThan(10);
  expect(sim.server.drops.get("legacy-peer") + sim.client.drops.get("legacy-peer")).toBe(n);
  const lines = [...sim.rec.server.logs, ...sim.rec.client.logs].filter((l) => l.includes("C MLVPN protocol"));
  expect(lines.length).toBe(2); // one per side, not one per datagram
  expect(lines[0]).toContain("speaks the C MLVPN protocol: mlvpn needs mlvpn on both ends");
  expect(sim.server.links.map((l) => [l.status, l.peer, l.current?.localIndex])).toEqual(stateBefore);
});
