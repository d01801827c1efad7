/**
 * mlvpn in the lab: writes the guide-shaped client and server configurations (INI, with a status
 * script that configures the tun and logs every event) and starts dist/mlvpn in the client and
 * server namespaces. Shared by the end-to-end tests and the benchmarks.
 */
import { chmodSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { type Lab, waitFor } from "./netns.ts";

export const ROOT = join(import.meta.dir, "..", "..");
export const BIN = join(ROOT, "dist", "mlvpn");
export const CLIENT_TUN = "10.66.0.2";
export const SERVER_TUN = "10.66.0.1";

export type Side = "client" | "server";

export interface Uplink {
  /** The client's address on this uplink (its bindhost), e.g. 192.168.101.2; "" for none. */
  client: string;
  /** The server address the client sends to over this uplink (its remotehost). */
  server: string;
  port: number;
}

export interface EndsOptions {
  dir: string;
  uplinks: Uplink[];
  timeout?: number;
  reorderBufferSize?: number;
  /** Extra [general] lines, e.g. "cleartext_data = 1"; a function gives each side its own (dir: the lab files). */
  general?: string | ((side: Side, dir: string) => string);
  /** Extra lines for every link section, e.g. "bandwidth_upload = 2500000" (side: which end's file). */
  link?: (i: number, side: Side) => string;
  /** Routes the status script adds through the tunnel on each end (IP4_ROUTES). */
  clientRoutes?: string;
  serverRoutes?: string;
}

/** Builds `dist/mlvpn` (about a second); throws with the build's output on failure. */
export function buildBinary(): void {
  const b = Bun.spawnSync([process.execPath, join(ROOT, "scripts", "build.ts")], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (b.exitCode !== 0) throw new Error(`build failed: ${b.stderr}${b.stdout}`);
}

export function writeEndConfigs(o: EndsOptions): void {
  for (const side of ["client", "server"] as const) {
    const script = join(o.dir, `${side}-updown.sh`);
    writeFileSync(
      script,
      `#!/bin/sh
# statuscommand: $1 = device, $2 = event, $3 = link
case "$2" in
  tuntap_up)
    ip link set dev "$DEVICE" mtu "$MTU" up && ip addr add "$IP4" dev "$DEVICE"
    for r in $IP4_ROUTES; do ip route replace "$r" dev "$DEVICE"; done ;;
  tuntap_down) ip link set dev "$DEVICE" down ;;
esac
# Logged once done: tests wait for these lines, so tuntap_up means the tun is configured.
echo "$2 $3" >> ${o.dir}/${side}-events.log
echo "$2 $3 uid=$(id -u)" >> ${o.dir}/${side}-uids.log
exit 0
`,
    );
    chmodSync(script, 0o700);
    let text = `[general]
statuscommand = "${script}"
tuntap = "tun"
mode = "${side}"
interface_name = "mlvpn0"
ip4 = "${side === "client" ? CLIENT_TUN : SERVER_TUN}/24"
timeout = ${o.timeout ?? 5}
password = "lab password, not a real one"
reorder_buffer_size = ${o.reorderBufferSize ?? 64}
loss_tolerence = 50
${(side === "client" ? o.clientRoutes : o.serverRoutes) ? `ip4_routes = "${side === "client" ? o.clientRoutes : o.serverRoutes}"` : ""}
${(typeof o.general === "function" ? o.general(side, o.dir) : o.general) ?? ""}
`;
    o.uplinks.forEach((u, i) => {
      text +=
        side === "client"
          ? `\n[adsl${i + 1}]\n${u.client ? `bindhost = "${u.client}"\n` : ""}remotehost = "${u.server}"\nremoteport = ${u.port}\n`
          : `\n[adsl${i + 1}]\nbindport = ${u.port}\n`;
      text += o.link ? `${o.link(i, side)}\n` : "";
    });
    const conf = join(o.dir, `${side}.conf`);
    writeFileSync(conf, text);
    chmodSync(conf, 0o600);
  }
}

export interface StartOptions {
  /** Drop root to this user (--user); without it the end keeps root (--yes-run-as-root). */
  user?: string;
  /** Run src/mlvpn.ts with Bun instead of dist/mlvpn. */
  fromSource?: boolean;
  /** Another mlvpn binary than dist/mlvpn (a baseline build, for side-by-side benchmarks). */
  bin?: string;
  /** With fromSource: another checkout to run src/mlvpn.ts from (a baseline commit). */
  sourceRoot?: string;
  /** With fromSource: flags for Bun before the script (e.g. --cpu-prof). */
  runtimeArgs?: string[];
  /** The command that runs mlvpn instead of dist/mlvpn (e.g. the arm64 build under qemu). */
  program?: string[];
}

/** Starts one end; its stdout and stderr go to DIR/SIDE.log. */
export function startEnd(lab: Lab, dir: string, side: Side, o: StartOptions = {}): Subprocess {
  const log = join(dir, `${side}.log`);
  const program = o.program ?? (o.fromSource ? [process.execPath, ...(o.runtimeArgs ?? []), join(o.sourceRoot ?? ROOT, "src", "mlvpn.ts")] : [o.bin ?? BIN]);
  const privileges = o.user ? ["--user", o.user] : ["--yes-run-as-root"];
  return lab.spawn(side, [...program, "-c", join(dir, `${side}.conf`), ...privileges, "--debug", ...(process.env.MLVPN_LAB_DEBUG ? ["-D", process.env.MLVPN_LAB_DEBUG] : [])], { stdout: log, stderr: log });
}

/** The usual lab tunnel's configurations: the LAN routed through it (as tunnel.ts does), timeout 10 s unless given. */
export function writeLanTunnelConfigs(o: Omit<EndsOptions, "clientRoutes" | "serverRoutes">): void {
  writeEndConfigs({ timeout: 10, ...o, clientRoutes: "0.0.0.0/1 128.0.0.0/1", serverRoutes: "10.10.0.0/24" });
}

/** Starts the server, then the client, and waits until every link and the tunnel are up on both ends. */
export async function startEnds(lab: Lab, dir: string, links: number, client: StartOptions = {}): Promise<Record<Side, Subprocess>> {
  const server = startEnd(lab, dir, "server");
  const c = startEnd(lab, dir, "client", client);
  await waitFor(() => allUp(dir, "client", links) && allUp(dir, "server", links), { timeoutMs: 20_000, what: "the tunnel up on both ends" });
  return { server, client: c };
}

/** Test teardown: the lab goes, and the tunnel's files unless MLVPN_KEEP_E2E is set. */
export async function removeLab(lab: { destroy(): Promise<void> } | undefined, dir: string | undefined): Promise<void> {
  await lab?.destroy();
  if (dir && !process.env.MLVPN_KEEP_E2E) rmSync(dir, { recursive: true, force: true });
}

/** The status-script events of one end, in order ("rtun_up adsl1", "tuntap_up", …). */
export function eventsOf(dir: string, side: Side): string[] {
  try {
    return readFileSync(join(dir, `${side}-events.log`), "utf8")
      .split("\n")
      .map((l) => l.trimEnd())
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** True once every link and the tunnel are up on this end. */
export function allUp(dir: string, side: Side, links: number): boolean {
  const ev = eventsOf(dir, side);
  return ev.includes("tuntap_up") && Array.from({ length: links }, (_, i) => `rtun_up adsl${i + 1}`).every((e) => ev.includes(e));
}

/** A counter of an interface inside a namespace (/sys/class/net/IF/statistics/NAME). */
export async function ifaceStat(lab: Lab, ns: string, ifname: string, name: string): Promise<number> {
  const r = await lab.exec(ns, ["cat", `/sys/class/net/${ifname}/statistics/${name}`], { check: true });
  return Number(r.stdout.trim());
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  // utime and stime are fields 14 and 15 of stat(5); after "pid (comm) " they are 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Packets through a namespace's mlvpn0 so far: read from it (tx) plus written to it (rx). */
export async function tunPackets(lab: Lab, ns: string): Promise<number> {
  const r = await lab.exec(ns, ["cat", "/sys/class/net/mlvpn0/statistics/rx_packets", "/sys/class/net/mlvpn0/statistics/tx_packets"], { check: true });
  return r.stdout.trim().split("\n").map(Number).reduce((a, b) => a + b, 0);
}

/**
 * CPU cost per forwarded packet of each mlvpn process: starts counting now; the returned
 * function gives, for each end, its user + system CPU µs since then ÷ the packets through its
 * tun since then.
 */
export async function cpuPerPacket(lab: Lab, ends: ReadonlyArray<{ pid: number; ns: string }>): Promise<() => Promise<number[]>> {
  const cpu0 = ends.map((e) => cpuSeconds(e.pid));
  const pk0 = await Promise.all(ends.map((e) => tunPackets(lab, e.ns)));
  return async () => {
    const cpu = ends.map((e, i) => cpuSeconds(e.pid) - cpu0[i]!);
    const pk = await Promise.all(ends.map((e, i) => tunPackets(lab, e.ns).then((n) => n - pk0[i]!)));
    return cpu.map((c, i) => (c * 1e6) / Math.max(1, pk[i]!));
  };
}
