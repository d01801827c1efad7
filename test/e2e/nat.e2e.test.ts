/**
 * A client behind a NAT that rebinds its port (common on LTE): the client router masquerades
 * uplink 0 with nftables (`masquerade random`: every new mapping takes a new source port), and
 * its conntrack table is flushed in the middle of a transfer, so the server suddenly sees the
 * link's packets come from another port. The server follows authenticated packets only (as it
 * always does): the transfer arrives intact, the link never goes down, and the server logs
 * the move within 3 s. The server's links are bound to its public address (bindhost), so that its
 * answers leave from the address the NAT mapping expects.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBinary, removeLab, startEnds, writeLanTunnelConfigs } from "../lab/mlvpn.ts";
import { labSkipReason, waitFor } from "../lab/netns.ts";
import { createTopology, type Topology } from "../lab/topology.ts";
import { transfer } from "../lab/transfer.ts";

const skip =
  labSkipReason() ?? (Bun.which("nft") ? null : "needs nft (Debian: nftables)") ?? (Bun.which("conntrack") ? null : "needs conntrack to flush the NAT's mappings (Debian: conntrack)");
if (skip) console.log(`skipping the NAT rebinding e2e test: ${skip}`);

let topo: Topology;
let dir: string;

describe.skipIf(skip !== null)("a client behind a NAT whose mapping is flushed mid-transfer", () => {
  beforeAll(async () => {
    buildBinary();
    topo = await createTopology({ uplinks: [{ rateMbit: 8, delayMs: 5 }, { rateMbit: 8, delayMs: 5 }] });
    const nat = `table ip labnat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "${topo.uplinks[0]!.clientIf}" masquerade random
  }
}
`;
    const r = Bun.spawnSync(["ip", "netns", "exec", topo.lab.ns("client"), "nft", "-f", "-"], { stdin: new TextEncoder().encode(nat), stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`nft: ${r.stderr}`);
    dir = mkdtempSync(join(tmpdir(), "mlvpn-nat-"));
    writeLanTunnelConfigs({
      dir,
      uplinks: topo.uplinks.map((u, i) => ({ client: u.clientAddr, server: topo.serverPublic, port: 5080 + i })),
      link: (_i, side) => (side === "server" ? `bindhost = "${topo.serverPublic}"` : ""),
    });
    await startEnds(topo.lab, dir, 2);
  }, 60_000);

  afterAll(() => removeLab(topo, dir), 30_000);

  const serverLog = () => readFileSync(join(dir, "server.log"), "utf8");

  test("conntrack -F mid-transfer: the server follows the new port; the transfer arrives intact", async () => {
    const moves = () => serverLog().match(/\[adsl1\] peer moved from 192\.168\.101\.2:\d+ to 192\.168\.101\.2:\d+/g)?.length ?? 0;
    const before = moves();
    const { sent, received } = await transfer(topo, dir, 12, 0, async () => {
      await Bun.sleep(2000);
      const f = await topo.lab.exec("client", ["conntrack", "-F"]);
      expect(f.code).toBe(0);
      await waitFor(() => moves() > before, { timeoutMs: 3_000, what: "the server following adsl1's new port" });
    });
    expect(received.sha256).toBe(sent.sha256);
    expect(received.bytes).toBe(12 * 1024 * 1024);
    // The link never went down: the move was followed at once.
    const events = readFileSync(join(dir, "client-events.log"), "utf8");
    expect(events).toContain("rtun_up adsl1");
    expect(events).not.toContain("rtun_down adsl1");
  }, 120_000);
});
