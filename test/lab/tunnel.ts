/**
 * mlvpn on the lab topology: the client router and the server run dist/mlvpn with the guide's
 * configuration (one link per uplink, the client bound to each uplink address and sending to the
 * server's one public address), and status scripts that route the LAN through the tunnel.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { allUp, eventsOf, type Side, type StartOptions, startEnd, writeEndConfigs } from "./mlvpn.ts";
import { waitFor } from "./netns.ts";
import type { Topology } from "./topology.ts";

export interface TunnelOptions {
  reorderBufferSize?: number;
  timeout?: number;
  /** Each end gets a control socket (`control_unix_path`), at controlSocketOf(tunnel, side). */
  controlSockets?: boolean;
  general?: string | ((side: Side, dir: string) => string);
  link?: (i: number) => string;
  /** How to start each end: another binary, from source, with profiling flags… */
  start?: (side: Side) => StartOptions;
  /** The command that runs the client end instead of dist/mlvpn (startEnd's `program`). */
  clientProgram?: string[];
  /** How long both ends may take to come up (default 20 s; more under emulation). */
  upTimeoutMs?: number;
}

export interface LabTunnel {
  dir: string;
  client: Subprocess;
  server: Subprocess;
  /** Status-script events of one end. */
  events(side: "client" | "server"): string[];
  /** SIGTERM both ends, wait for them, remove the files. */
  stop(): Promise<void>;
}

export async function startTunnel(topo: Topology, o: TunnelOptions = {}): Promise<LabTunnel> {
  const dir = mkdtempSync(join(tmpdir(), "mlvpn-lab-"));
  writeEndConfigs({
    dir,
    uplinks: topo.uplinks.map((u, i) => ({ client: u.clientAddr, server: topo.serverPublic, port: 5080 + i })),
    timeout: o.timeout ?? 10,
    reorderBufferSize: o.reorderBufferSize ?? 64,
    general: (side, d) => {
      const extra = typeof o.general === "function" ? o.general(side, d) : (o.general ?? "");
      return o.controlSockets ? `control_unix_path = "${join(d, `${side}.sock`)}"\n${extra}` : extra;
    },
    link: o.link,
    // Two halves of the address space: everything from the LAN goes through the tunnel, while
    // mlvpn's own packets (bound to the uplink addresses) follow the per-uplink tables.
    clientRoutes: "0.0.0.0/1 128.0.0.0/1",
    serverRoutes: "10.10.0.0/24",
  });
  const server = startEnd(topo.lab, dir, "server", o.start?.("server"));
  const client = startEnd(topo.lab, dir, "client", { ...o.start?.("client"), ...(o.clientProgram ? { program: o.clientProgram } : {}) });
  const n = topo.uplinks.length;
  await waitFor(() => allUp(dir, "client", n) && allUp(dir, "server", n), { timeoutMs: o.upTimeoutMs ?? 20_000, what: "the tunnel up on both ends" });
  return {
    dir,
    client,
    server,
    events: (side) => eventsOf(dir, side),
    async stop() {
      client.kill("SIGTERM");
      server.kill("SIGTERM");
      await Promise.race([Promise.all([client.exited, server.exited]), Bun.sleep(10_000)]);
      if (!process.env.MLVPN_KEEP_E2E) rmSync(dir, { recursive: true, force: true });
      else console.error(`lab: tunnel files kept in ${dir}`);
    },
  };
}

/** The control socket of one end of a tunnel started with `controlSockets`. */
export const controlSocketOf = (t: LabTunnel, side: Side): string => join(t.dir, `${side}.sock`);

/** Test teardown: the topology goes, and the tunnel's files unless MLVPN_KEEP_E2E is set. */
export async function destroyLab(topo: Topology | undefined, tunnel: LabTunnel | undefined): Promise<void> {
  await topo?.destroy();
  if (tunnel && !process.env.MLVPN_KEEP_E2E) rmSync(tunnel.dir, { recursive: true, force: true });
  else if (tunnel) console.log(`e2e files kept in ${tunnel.dir}`);
}
