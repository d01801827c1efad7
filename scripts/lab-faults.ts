/**
 * Faults on one of two uplinks during one TCP transfer, up then down, on the lab (root): what a
 * user's link does that the bench scenarios do not. Two 20 Mbit/s uplinks of 10 and 20 ms, the
 * guide's buffer (or `--reorder N`); prints each transfer's 1 s intervals and, where it says
 * something, both ends' link states.
 *
 *   sudo npx bun scripts/lab-faults.ts [--faults flap,oneway,jump] [--reorder 64]
 *
 * - flap: uplink 2 cut for 0.5 s and back for 0.5 s, eight times;
 * - oneway: uplink 2 dead in one direction only (nftables drop on one end's ingress), each way;
 * - jump: uplink 2's delay 20 → 300 ms each way at 3 s, back at 8 s (test/sim/delayjump.sim.test.ts).
 * Results of Session 19 in docs/scheduler.md, "Faults on one link".
 */
import { fetchStatus } from "../src/control/client.ts";
import { buildBinary } from "../test/lab/mlvpn.ts";
import { iperf, startIperfServer } from "../test/lab/measure.ts";
import { createTopology } from "../test/lab/topology.ts";
import { controlSocketOf, destroyLab, startTunnel } from "../test/lab/tunnel.ts";
import { number, option, readOptions, UsageError } from "./lab-args.ts";

const FAULTS = ["flap", "oneway", "jump"];
const argv = process.argv.slice(2);
const { reorder, which } = readOptions("lab-faults", () => {
  const reorder = number(option(argv, "--reorder") ?? "64", "--reorder");
  const which = (option(argv, "--faults") ?? FAULTS.join(",")).split(",");
  const unknown = which.filter((f) => !FAULTS.includes(f));
  if (unknown.length) throw new UsageError(`unknown fault ${unknown.join(", ")} (faults: ${FAULTS.join(", ")})`);
  return { reorder, which };
});
buildBinary();
const topo = await createTopology({ uplinks: [{ rateMbit: 20, delayMs: 10 }, { rateMbit: 20, delayMs: 20 }] });
const tunnel = await startTunnel(topo, { timeout: 10, reorderBufferSize: reorder, controlSockets: true });
startIperfServer(topo.lab, "inet", topo.internetHost);
const st = async (side: "client" | "server") => (await fetchStatus({ unix: controlSocketOf(tunnel, side) }, 1000)).doc.tunnels.map((t: any) => `${t.name}:${t.status}${t.stalled ? "(stalled)" : ""}`).join(" ");
const nft = (ns: string, args: string[]) => topo.lab.exec(ns, ["nft", ...args], { check: true });
const fmt = (r: any) => `${r.mbps.toFixed(1)} Mbit/s [${r.intervals.map((x: number) => x.toFixed(0)).join(" ")}]${r.ok ? "" : " FAILED " + r.error}`;
try {
  await Bun.sleep(1500);
  for (const dir of [false, true]) {
    const d = dir ? "down" : "up";
    if (which.includes("flap")) {
      const t = iperf(topo.lab, "lan", topo.internetHost, { seconds: 12, reverse: dir });
      await Bun.sleep(2000);
      for (let k = 0; k < 8; k++) { await topo.cut(1); await Bun.sleep(500); await topo.restore(1); await Bun.sleep(500); }
      console.log(`${d} flap uplink 2 (0.5 s cut / 0.5 s up × 8 from 2 s): ${fmt(await t)}  | ${await st("client")} | ${await st("server")}`);
      await Bun.sleep(3000);
    }
    if (which.includes("oneway")) {
      const u = topo.uplinks[1]!;
      for (const side of ["client", "server"] as const) {
        const t = iperf(topo.lab, "lan", topo.internetHost, { seconds: 10, reverse: dir });
        await Bun.sleep(2000);
        const dev = side === "client" ? u.clientIf : u.serverIf;
        await nft(side, ["add", "table", "inet", "oneway"]);
        await nft(side, ["add", "chain", "inet", "oneway", "pre", "{ type filter hook prerouting priority -300; }"]);
        await nft(side, ["add", "rule", "inet", "oneway", "pre", "iifname", dev, "drop"]);
        await Bun.sleep(5000);
        const s1 = `${await st("client")} | ${await st("server")}`;
        await nft(side, ["delete", "table", "inet", "oneway"]);
        console.log(`${d} uplink 2 dead only towards the ${side} (2-7 s): ${fmt(await t)}  | at 7 s: ${s1}`);
        await Bun.sleep(3000);
      }
    }
    if (which.includes("jump")) {
      const t = iperf(topo.lab, "lan", topo.internetHost, { seconds: 12, reverse: dir });
      await Bun.sleep(3000);
      await topo.shape(1, { delayMs: 300 });
      await Bun.sleep(5000);
      await topo.shape(1, { delayMs: 20 });
      console.log(`${d} uplink 2 delay 20 → 300 ms at 3 s, back at 8 s: ${fmt(await t)}`);
      await Bun.sleep(2000);
    }
  }
} finally {
  await destroyLab(topo, tunnel);
}
