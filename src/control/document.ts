/**
 * Builds the `/status` document (contract.ts) from the tunnel's snapshot, the configuration and
 * facts about the process. Pure: every clock reading comes in as an argument, so the same inputs
 * give the same document.
 *
 * Times: the core counts milliseconds on its own clock (performance.now() in the daemon);
 * `coreToEpochMs` is what to add to such a time to get Unix epoch milliseconds
 * (performance.timeOrigin). The conversion happens here, never in the core.
 */
import type { Config } from "../config/schema.ts";
import type { LinkSnapshot, TunnelSnapshot } from "../core/tunnel.ts";
import { DROP_REASONS } from "../core/stats.ts";
import { PROTOCOL_VERSION } from "../wire/layout.ts";
import type { LinkStatusText, StatusDocument, StatusRedundant, StatusReorder, StatusTunnel } from "./contract.ts";

export interface ProcessFacts {
  /** `--name` of this instance. */
  instance: string;
  version: string;
  pid: number;
  startedEpochMs: number;
  /** Start, or the last successful reload. */
  lastReloadEpochMs: number;
  /** The tun/tap device's actual name. */
  deviceName: string;
  /** Added to a core time to get epoch milliseconds. */
  coreToEpochMs: number;
  /** Drops counted by the I/O shell rather than the core (e.g. "tun-write"). */
  shellDrops?: Record<string, number>;
  /** Control clients refused or cut off, by reason. */
  controlRejected?: Readonly<Record<string, number>>;
  /** SIGHUP reloads refused or failed. */
  reloadsRefused?: number;
  /** SIGHUP reloads applied. */
  reloadsApplied?: number;
}

const UP_STATES: ReadonlySet<string> = new Set<LinkStatusText>(["connected", "lossy link", "slow link"]);

export function isUpStatus(status: string): boolean {
  return UP_STATES.has(status);
}

const seconds = (epochMs: number): number => Math.floor(epochMs / 1000);
/** Fractional epoch seconds, millisecond precision. */
const preciseSeconds = (epochMs: number): number => Math.round(epochMs) / 1000;
const bits = (bytesPerSec: number): number => Math.round(bytesPerSec * 8);
const tenth = (x: number | undefined): number | null => (x === undefined ? null : Math.round(x * 10) / 10);

function formatPeer(p: LinkSnapshot["peer"]): string {
  if (!p) return "";
  return p.address.includes(":") ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`;
}

function tunnelEntry(s: LinkSnapshot, config: Config, facts: ProcessFacts): StatusTunnel {
  const l = config.links.find((c) => c.name === s.name);
  const epoch = (coreMs: number) => coreMs + facts.coreToEpochMs;
  return {
    name: s.name,
    mode: config.general.mode,
    bindaddr: l?.bindhost ?? "",
    bindport: l?.bindport === undefined ? "" : String(l.bindport),
    destaddr: l?.remotehost ?? "",
    destport: l?.remoteport === undefined ? "" : String(l.remoteport),
    status: s.status as LinkStatusText,
    sentpackets: s.sentPackets,
    recvpackets: s.recvPackets,
    sentbytes: s.sentBytes,
    recvbytes: s.recvBytes,
    bandwidth: l?.bandwidth_upload ?? 0,
    srtt: s.srttMs === undefined ? 0 : Math.trunc(s.srttMs),
    loss: Math.round(s.lossInPercent ?? 0),
    disconnects: s.disconnects,
    last_packet: seconds(s.lastRecvMs === undefined ? facts.startedEpochMs : epoch(s.lastRecvMs)),
    timeout: l?.timeout ?? 0,

    status_since: preciseSeconds(Math.max(facts.startedEpochMs, epoch(s.statusSinceMs))),
    rttvar: tenth(s.rttvarMs),
    min_rtt: tenth(s.minRttMs),
    capacity_bps: bits(s.capacityBytesPerSec),
    send_rate_bps: bits(s.pacingBytesPerSec),
    inflight_bytes: s.inflightBytes,
    queued_packets: s.queuedPackets,
    loss_in: tenth(s.lossInPercent),
    loss_out: tenth(s.lossOutPercent),
    lost_packets: s.sentLost,
    stalled: s.stalled,
    scheduled: s.scheduled,
    peer: formatPeer(s.peer),
  };
}

function reorderEntry(r: TunnelSnapshot["reorder"]): StatusReorder | null {
  if (!r) return null;
  return {
    hold_ms: r.holdMs,
    span: r.span,
    delivered: r.delivered,
    reordered: r.reordered,
    holes_skipped: r.holesSkipped,
    late: r.late,
    duplicates: r.duplicates,
    stale: r.stale,
    held: r.held,
    equalised: r.equalised,
    equalise_ms: Math.round(r.equaliseMs * 10) / 10,
  };
}

function redundantEntry(r: TunnelSnapshot["redundant"]): StatusRedundant {
  return { packets: r?.packets ?? 0, redundant_sent: r?.copiesSent ?? 0, over_share: r?.overShare ?? 0, delivered: r?.delivered ?? 0, duplicates_dropped: r?.duplicatesDropped ?? 0 };
}

/** Every drop reason is present (0 when none), so dashboards see a stable set of keys. */
function dropEntry(snapshot: TunnelSnapshot, facts: ProcessFacts): Record<string, number> {
  const drops: Record<string, number> = {};
  for (const reason of DROP_REASONS) drops[reason] = snapshot.drops[reason] ?? 0;
  for (const [reason, n] of Object.entries(facts.shellDrops ?? {})) drops[reason] = n;
  return drops;
}

export function buildStatus(snapshot: TunnelSnapshot, config: Config, facts: ProcessFacts, nowEpochMs: number): StatusDocument {
  const tunnels = snapshot.links.map((s) => tunnelEntry(s, config, facts));
  return {
    name: "mlvpn",
    version: facts.version,
    uptime: seconds(facts.startedEpochMs),
    last_reload: seconds(facts.lastReloadEpochMs),
    pid: facts.pid,
    tuntap: { type: config.general.tuntap, name: facts.deviceName },
    tunnels,
    instance: facts.instance,
    mode: config.general.mode,
    protocol: PROTOCOL_VERSION,
    now: preciseSeconds(nowEpochMs),
    tunnel_status: tunnels.some((t) => isUpStatus(t.status)) ? "up" : "down",
    reorder: reorderEntry(snapshot.reorder),
    equaliser: { equalised: snapshot.equaliser.equalised, equalise_ms: Math.round(snapshot.equaliser.equaliseMs * 10) / 10, late: snapshot.equaliser.late },
    drops: dropEntry(snapshot, facts),
    redundant: redundantEntry(snapshot.redundant),
    control_rejected: { ...facts.controlRejected },
    reloads_refused: facts.reloadsRefused ?? 0,
    reloads_applied: facts.reloadsApplied ?? 0,
  };
}

/** The document as served: one line of JSON (JSON.stringify escapes every string properly). */
export function statusJson(doc: StatusDocument): string {
  return `${JSON.stringify(doc)}\n`;
}
