/**
 * A VoIP-like stream measured with irtt (Debian `irtt`): the client sends a fixed-size UDP
 * packet every interval, the server echoes it, and each round trip records whether it was lost
 * on the way up or down and its one-way delays (both ends run on this machine: one clock, so the
 * one-way delays are exact). Every command is bounded in time.
 */
import type { Subprocess } from "bun";
import { iperf } from "./measure.ts";
import { type Lab, waitFor } from "./netns.ts";
import type { Topology } from "./topology.ts";

export const IRTT_PORT = 2112;
/** irtt's headers and the UDP/IPv4 ones: `-l` counts the UDP payload, the stream's packets are 28 bytes larger. */
const UDP_IPV4_HEADERS = 28;

export interface IrttOptions {
  seconds: number;
  intervalMs: number;
  /** IP packet size, bytes. */
  packetBytes: number;
}

export interface IrttResult {
  sent: number;
  /** Lost client → server, server → client, and lost with the direction unknown. */
  lostUp: number;
  lostDown: number;
  lostUnknown: number;
  /** Largest one-way delay of the packets that arrived, ms, each direction. */
  maxUpMs: number;
  maxDownMs: number;
  /** Every one-way delay measured, ms, in order: client → server, server → client. */
  upMs: number[];
  downMs: number[];
  /** When each of those packets was sent, ms from the stream's start (its index × the interval). */
  upSentAtMs: number[];
  downSentAtMs: number[];
  ok: boolean;
  error?: string;
}

export const irttLost = (r: IrttResult): number => r.lostUp + r.lostDown + r.lostUnknown;

/**
 * `-i 0`: no minimum interval between a client's packets. irtt's default (10 ms, bursts of 5)
 * drops requests that arrive bunched, as they do after a stall of a busy machine: the tunnel
 * would be blamed for the echo server's own drops ("lost up").
 */
export function startIrttServer(lab: Lab, ns: string, bind: string): Subprocess {
  return lab.spawn(ns, ["irtt", "server", "-b", `${bind}:${IRTT_PORT}`, "-i", "0"], { stdout: "ignore", stderr: "ignore" });
}

/** Resolves once the irtt server in `ns` has bound its UDP port (a readiness signal, not a fixed wait). */
export async function irttServerReady(lab: Lab, ns: string): Promise<void> {
  await waitFor(async () => (await lab.exec(ns, ["ss", "-Hlun", `sport = :${IRTT_PORT}`])).stdout.trim() !== "", { timeoutMs: 5000, what: `irtt server on port ${IRTT_PORT} in ${ns}` });
}

interface RoundTrip {
  lost: "false" | "true" | "true_up" | "true_down";
  delay?: { send?: number; receive?: number };
}

/** Runs the stream from `ns` to the irtt server at `target`; waits up to 1 s for the last replies. */
export async function irtt(lab: Lab, ns: string, target: string, o: IrttOptions): Promise<IrttResult> {
  const args = ["irtt", "client", "-i", `${o.intervalMs}ms`, "-l", String(o.packetBytes - UDP_IPV4_HEADERS), "-d", `${o.seconds}s`, "--wait=1s", "--fill=rand", "-Q", "-o", "-", `${target}:${IRTT_PORT}`];
  const r = await lab.exec(ns, args, { timeoutMs: (o.seconds + 15) * 1000 });
  const fail = (error: string): IrttResult => ({ sent: 0, lostUp: 0, lostDown: 0, lostUnknown: 0, maxUpMs: 0, maxDownMs: 0, upMs: [], downMs: [], upSentAtMs: [], downSentAtMs: [], ok: false, error });
  if (r.code !== 0) return fail(`irtt exited ${r.code}: ${r.stderr.trim().slice(0, 300)}`);
  let trips: RoundTrip[];
  try {
    trips = (JSON.parse(r.stdout) as { round_trips: RoundTrip[] }).round_trips;
  } catch (e) {
    return fail(`irtt output: ${(e as Error).message}`);
  }
  const ms = (ns?: number) => (ns ?? 0) / 1e6;
  const out: IrttResult = { sent: trips.length, lostUp: 0, lostDown: 0, lostUnknown: 0, maxUpMs: 0, maxDownMs: 0, upMs: [], downMs: [], upSentAtMs: [], downSentAtMs: [], ok: true };
  for (const [k, t] of trips.entries()) {
    if (t.lost === "true_up") out.lostUp++;
    else if (t.lost === "true_down") out.lostDown++;
    else if (t.lost === "true") out.lostUnknown++;
    if ((t.lost === "false" || t.lost === "true_down") && t.delay?.send !== undefined) {
      out.upMs.push(ms(t.delay.send));
      out.upSentAtMs.push(k * o.intervalMs);
    }
    if (t.lost === "false" && t.delay?.receive !== undefined) {
      out.downMs.push(ms(t.delay.receive));
      out.downSentAtMs.push(k * o.intervalMs);
    }
  }
  out.maxUpMs = Math.max(0, ...out.upMs);
  out.maxDownMs = Math.max(0, ...out.downMs);
  return out;
}

export interface CutOptions extends IrttOptions {
  /** Uplink blackholed (both ways) from cutAtS to cutAtS + cutForS seconds into the stream. */
  cutLink: number;
  cutAtS: number;
  cutForS: number;
  /** A bulk TCP transfer both ways (iperf3 --bidir to the internet host's iperf3 server) beside the stream. */
  bulk?: boolean;
}

/** The stream from the LAN host to the internet host's irtt server through the tunnel, with one uplink cut for a while. */
export async function streamThroughCut(topo: Topology, o: CutOptions): Promise<{ stream: IrttResult; bulkMbps: number | undefined }> {
  const stream = irtt(topo.lab, "lan", topo.internetHost, o);
  const bulk = o.bulk ? iperf(topo.lab, "lan", topo.internetHost, { seconds: o.seconds, bidir: true }) : undefined;
  try {
    await Bun.sleep(o.cutAtS * 1000);
    await topo.cut(o.cutLink);
    await Bun.sleep(o.cutForS * 1000);
  } finally {
    await topo.restore(o.cutLink);
  }
  const r = await stream;
  const b = await bulk;
  return { stream: r, bulkMbps: b ? b.mbps + (b.reverseMbps ?? 0) : undefined };
}
