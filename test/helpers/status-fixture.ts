/**
 * Inputs for status-document tests: a client configuration with two links, process facts on a
 * fixed clock, and the snapshot of a real client core after traffic on the simulated network.
 */
import { Diagnostics } from "../../src/config/diagnostics.ts";
import { parseIni } from "../../src/config/ini.ts";
import { type Config, toConfig } from "../../src/config/schema.ts";
import type { TunnelSnapshot } from "../../src/core/tunnel.ts";
import type { ProcessFacts } from "../../src/control/document.ts";
import { SimPair } from "../sim/simnet.ts";

export function configFromIni(text: string): Config {
  const diags = new Diagnostics("test.conf");
  const config = toConfig(parseIni(text, diags), "test.conf", "ini", diags);
  if (!config) throw new Error(`bad test configuration: ${JSON.stringify(diags)}`);
  return config;
}

export const CLIENT = configFromIni(`[general]
mode = "client"
password = "unit test"
interface_name = "mlvpn7"
reorder_buffer_size = 64
timeout = 30

[link0]
bindhost = "192.168.1.2"
remotehost = "198.51.100.1"
remoteport = 5080
bandwidth_upload = 2500000

[link1]
remotehost = "198.51.100.2"
remoteport = 5081
timeout = 12
`);

export const STARTED = 1_700_000_000_123;
export const FACTS: ProcessFacts = {
  instance: "office",
  version: "9.8.7",
  pid: 4242,
  startedEpochMs: STARTED,
  lastReloadEpochMs: STARTED + 60_000,
  deviceName: "mlvpn7",
  // The simulation's clock starts at 0 when the process "started".
  coreToEpochMs: STARTED,
  shellDrops: { "tun-write": 3 },
};

/** A client core after 3 s of traffic both ways on two links (20 ms and 60 ms round trips). */
export function runningClient(): TunnelSnapshot {
  const sim = new SimPair({
    links: [
      { name: "link0", up: { delayMs: 10 }, down: { delayMs: 10 }, bandwidth_upload: 2_500_000 },
      { name: "link1", up: { delayMs: 30 }, down: { delayMs: 30 }, timeout: 12 },
    ],
    reorderBufferSize: 64,
  });
  sim.run(200);
  sim.sendStream("client", 200, 5);
  sim.sendStream("server", 200, 5);
  sim.run(sim.now + 1000);
  return sim.client.snapshot();
}
