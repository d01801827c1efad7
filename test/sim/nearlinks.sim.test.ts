/**
 * Issue 11, a nearby server: two 20 Mbit/s links with a one-way delay of 1 ms (or 0.2 ms), one
 * TCP stream (BBR, the lab kernel's default, and CUBIC) through the real tunnels, upload. The
 * bottlenecks have the lab's htb bucket (test/lab/topology.ts htbBurstBytes: 10 ms of tokens),
 * which at a 2 ms RTT passes bursts of several RTTs at line rate: the links' capacity estimates
 * come out at 2–3 times the real 20 Mbit/s. Plain earliest-arrival then gave the first link
 * everything (its pacer always had tokens), TCP's probes queued in that link's bottleneck, and the
 * stream stayed at one link's rate: 18.7 Mbit/s here, with the reorder buffer on or off (the lab's
 * r1d2 and r1d1 cells, docs/scheduler.md "Nearby servers"). Counted as the sweep counts
 * (scripts/bench-sweep.ts): the worst 5 s after 2 s of start, against the sum of the rates times
 * the TCP payload share of a full tunnelled datagram (the simulated bottleneck counts datagrams).
 */
import { describe, expect, test } from "bun:test";
import { TUNNEL_OVERHEAD } from "../../src/wire/layout.ts";
import { type PathSpec, SimPair } from "./simnet.ts";
import { TcpFlow } from "./tcpflow.ts";
import type { CongestionControl } from "./tcpmodel.ts";

const TUN_MTU = 1432;
const PAYLOAD_SHARE = (TUN_MTU - 52) / (TUN_MTU + TUNNEL_OVERHEAD);
/** test/lab/topology.ts htbBurstBytes(20): one 1514-byte frame plus 10 ms at 20 Mbit/s. */
const HTB_BURST_20 = 1514 + 25_000;
const FLOW_MS = 8000;

function nearby(delayMs: number, reorderBufferSize: number, cc: CongestionControl): { worst: number; sum: number } {
  const path: PathSpec = { delayMs, rateMbit: 20, queueMs: 60, burstBytes: HTB_BURST_20 };
  const sim = new SimPair({ links: [{ up: { ...path }, down: { ...path } }, { up: { ...path }, down: { ...path } }], reorderBufferSize });
  sim.run(1000); // handshakes, first RTTs
  const flow = new TcpFlow(sim, "client", FLOW_MS, cc);
  sim.run(sim.now + FLOW_MS);
  return { worst: flow.worst(2000, FLOW_MS), sum: 40 * PAYLOAD_SHARE };
}

describe("a nearby server: two equal links of 1 ms or less aggregate", () => {
  test.each([
    [1, 64, "bbr"],
    [0.2, 64, "bbr"],
    [1, 0, "bbr"],
    [1, 64, "cubic"],
  ] as const)("one-way %p ms, reorder_buffer_size %p, %s: the worst 5 s carry ≥ 85 percent of both links", (delayMs, reorder, cc) => {
    const { worst, sum } = nearby(delayMs, reorder, cc);
    expect(worst).toBeGreaterThanOrEqual(0.85 * sum);
  }, 120_000);
});
