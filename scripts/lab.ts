/**
 * The lab topology (test/lab/topology.ts) from the command line; needs root.
 *
 *   bun scripts/lab.ts up [--uplinks "20/10,20/30"] [--seed N]
 *       one uplink per comma: rate Mbit/s / one-way delay ms / jitter ms / loss % / queue packets;
 *       trailing fields may be left out, "-" = unlimited rate (e.g. "-/25//1")
 *   bun scripts/lab.ts shape <uplink> [rate=M|-] [delay=MS] [jitter=MS] [loss=PCT] [queue=N]
 *   bun scripts/lab.ts cut|restore <uplink>
 *   bun scripts/lab.ts link <uplink> down|up            the client-side interface
 *   bun scripts/lab.ts status
 *   bun scripts/lab.ts down [--prefix P | --all]        default: every lab made by `up`
 *
 * Uplinks are numbered from 0. `up` returns with the lab running (delay lines detached, state in
 * /run/mlvpn-lab/<prefix>/); the other commands act on it, or on --prefix P when several are up.
 */
import { cleanupByPrefix, isRoot, labSkipReason } from "../test/lab/netns.ts";
import { attachTopology, createTopology, listTopologies, NAMESPACES, type Topology, type UplinkShape } from "../test/lab/topology.ts";
import { number, option, parseUplink, UsageError } from "./lab-args.ts";

const USAGE = `usage: bun scripts/lab.ts <command>
  up [--uplinks "20/10,20/30"] [--seed N]   rate/delay/jitter/loss%/queue per uplink, "-" = unlimited rate
  shape <uplink> [rate=M|-] [delay=MS] [jitter=MS] [loss=PCT] [queue=N]
  cut <uplink> | restore <uplink> | link <uplink> down|up
  status [--prefix P]
  down [--prefix P | --all]
Uplinks are numbered from 0; other commands need --prefix P when several labs are up.`;

function parseShapeArgs(args: string[]): Partial<UplinkShape> {
  const s: Partial<UplinkShape> = {};
  const keys: Record<string, Exclude<keyof UplinkShape, "trace">> = { rate: "rateMbit", delay: "delayMs", jitter: "jitterMs", loss: "lossPct", queue: "queuePackets" };
  for (const a of args) {
    const m = /^(\w+)=(.*)$/.exec(a);
    // trace=NAME (bench/traces/NAME.up and .down) or trace=- (none)
    if (m?.[1] === "trace") {
      s.trace = m[2] === "-" ? undefined : m[2];
      continue;
    }
    const key = m && keys[m[1]!];
    if (!m || !key) throw new UsageError(`unknown shape setting "${a}" (rate=, delay=, jitter=, loss=, queue=, trace=)`);
    s[key] = key === "rateMbit" && m[2] === "-" ? undefined : number(m[2]!, m[1]!);
  }
  if (Object.keys(s).length === 0) throw new UsageError("shape: nothing to change");
  return s;
}

/** The lab a command acts on: --prefix, or the only one that is up. */
function pick(prefix: string | undefined): Topology {
  if (prefix) return attachTopology(prefix);
  const labs = listTopologies();
  if (labs.length === 0) throw new Error("no lab is up: start one with `bun scripts/lab.ts up`");
  if (labs.length > 1) throw new Error(`several labs are up (${labs.map((l) => l.prefix).join(", ")}): choose one with --prefix`);
  return attachTopology(labs[0]!.prefix);
}

function uplinkArg(topo: Topology, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || !topo.uplinks[n]) {
    throw new Error(`unknown uplink ${JSON.stringify(v ?? "")}: this lab has uplinks 0…${topo.uplinks.length - 1}`);
  }
  return n;
}

const fmtShape = (s: UplinkShape) =>
  [
    s.trace ? `trace ${s.trace}, queue ${s.queuePackets ?? 100} pkts` : s.rateMbit === undefined ? "rate unlimited" : `rate ${s.rateMbit} Mbit/s, queue ${s.queuePackets ?? 100} pkts`,
    `delay ${s.delayMs ?? 0} ms`,
    `jitter ${s.jitterMs ?? 0} ms`,
    `loss ${s.lossPct ?? 0} %`,
  ].join(", ");

async function status(topo: Topology): Promise<void> {
  const p = topo.lab.prefix;
  console.log(`lab ${p}: namespaces ${NAMESPACES.map((n) => topo.lab.ns(n)).join(" ")}`);
  console.log(`  lan ${topo.lanHost} → gateway ${topo.lanGateway} (client) | server ${topo.serverPublic} | inet ${topo.internetHost}`);
  console.log(`  enter one with: ip netns exec ${topo.lab.ns("client")} bash`);
  for (const u of topo.uplinks) {
    const st = topo.state(u.index);
    const flags = [st.cut ? "CUT" : "", st.down ? "DOWN" : ""].filter(Boolean).join(" ");
    console.log(`  uplink ${u.index}: client ${u.clientIf} ${u.clientAddr} ↔ server ${u.serverIf} ${u.serverAddr}${flags ? `  [${flags}]` : ""}`);
    console.log(`    ${fmtShape(st.shape)}`);
    try {
      const c = await topo.counters(u.index);
      const d = await topo.delayLine(u.index);
      console.log(`    client tx ${c.clientTxPackets} pkts / ${c.clientTxBytes} B, rx ${c.clientRxPackets} pkts / ${c.clientRxBytes} B`);
      for (const [dir, name] of [["ab", "up  "], ["ba", "down"]] as const) {
        const k = d.counters[dir];
        console.log(`    delay line ${name}: in ${k.rxFrames}, out ${k.txFrames}, lost ${k.lost}, cut ${k.cutDrops}, overflow ${k.overflowDrops}, refused ${k.writeDrops}, queued ${k.queued}`);
      }
    } catch (e) {
      console.log(`    (no counters: ${e instanceof Error ? e.message : String(e)})`);
    }
  }
}

async function main(argv: string[]): Promise<void> {
  const args = [...argv];
  const cmd = args.shift();
  if (!cmd || cmd === "help" || cmd === "--help" || cmd === "-h") return void console.log(USAGE);
  if (!isRoot()) throw new Error("scripts/lab.ts needs root (it creates network namespaces, TAP devices and qdiscs): run it with sudo");
  const skip = labSkipReason();
  if (skip) throw new Error(`scripts/lab.ts: ${skip}`);
  const prefix = option(args, "--prefix");

  switch (cmd) {
    case "up": {
      const uplinks = (option(args, "--uplinks") ?? "20/10,20/30").split(",").map(parseUplink);
      const seed = option(args, "--seed");
      const topo = await createTopology({ uplinks, seed: seed === undefined ? undefined : number(seed, "--seed"), persistent: true });
      console.log(`lab ${topo.lab.prefix} is up; remove it with: bun scripts/lab.ts down --prefix ${topo.lab.prefix}`);
      await status(topo);
      return;
    }
    case "down": {
      const all = args.includes("--all");
      const victims = prefix ? [prefix] : listTopologies().filter((l) => all || l.owner === "cli").map((l) => l.prefix);
      if (victims.length === 0) console.log("no lab to remove");
      for (const p of victims) {
        await cleanupByPrefix(p);
        console.log(`lab ${p} removed`);
      }
      return;
    }
    case "status": {
      const labs = prefix ? [{ prefix }] : listTopologies();
      if (labs.length === 0) console.log("no lab is up");
      for (const l of labs) await status(attachTopology(l.prefix));
      return;
    }
    case "shape": {
      const topo = pick(prefix);
      const i = uplinkArg(topo, args.shift());
      await topo.shape(i, parseShapeArgs(args));
      console.log(`uplink ${i}: ${fmtShape(topo.state(i).shape)}`);
      return;
    }
    case "cut":
    case "restore": {
      const topo = pick(prefix);
      const i = uplinkArg(topo, args.shift());
      await (cmd === "cut" ? topo.cut(i) : topo.restore(i));
      console.log(`uplink ${i} ${cmd === "cut" ? "cut (blackholed both ways)" : "restored"}`);
      return;
    }
    case "link": {
      const topo = pick(prefix);
      const i = uplinkArg(topo, args.shift());
      const state = args.shift();
      if (state !== "down" && state !== "up") throw new UsageError("link <uplink> down|up");
      await topo.setLinkDown(i, state === "down");
      console.log(`uplink ${i}: client interface ${state}`);
      return;
    }
    default:
      throw new UsageError(`unknown command "${cmd}"`);
  }
}

try {
  await main(process.argv.slice(2));
  process.exit(0); // the lab's processes are not ours to wait for
} catch (e) {
  console.error(e instanceof Error ? e.message : String(e));
  if (e instanceof UsageError) console.error(USAGE);
  process.exit(e instanceof UsageError ? 2 : 1);
}
