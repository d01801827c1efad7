/**
 * What the status interface shows, projected from the core as plain data: numbers and strings
 * only, no references into the core, so that the control layer (src/status, src/control) can
 * format and serve it at its own pace. Formatting (JSON document, table, metrics, page) is
 * theirs; this file only chooses what leaves the core and in which units.
 */
import { type Link, type PeerAddress, STATUS_TEXT } from "./link.ts";
import type { RedundantStats } from "./redundant.ts";
import type { Equaliser } from "./equaliser.ts";
import type { ReorderBuffer, ReorderStats } from "./reorder.ts";
import type { DropCounters, DropReason } from "./stats.ts";

export interface LinkSnapshot {
  name: string;
  /** MLVPN's state text: "disconnected", "waiting peer", "connected", "lossy link", "slow link". */
  status: string;
  statusSinceMs: number;
  /** When the last authenticated packet arrived (core clock); undefined before any. */
  lastRecvMs: number | undefined;
  peer: PeerAddress | undefined;
  srttMs: number | undefined;
  rttvarMs: number | undefined;
  minRttMs: number | undefined;
  /** Estimated capacity for what we send, bytes per second. */
  capacityBytesPerSec: number;
  pacingBytesPerSec: number;
  inflightBytes: number;
  queuedPackets: number;
  /** Loss of what we receive (measured) and of what we send (reported by the peer), percent. */
  lossInPercent: number | undefined;
  lossOutPercent: number | undefined;
  /** Packets we sent that were found lost. */
  sentLost: number;
  /** No acknowledgement for a few RTTs: left out of scheduling and probed. */
  stalled: boolean;
  /** Currently chosen for data (up, healthy, not a resting fallback link). */
  scheduled: boolean;
  sentPackets: number;
  sentBytes: number;
  recvPackets: number;
  recvBytes: number;
  disconnects: number;
}

export interface TunnelSnapshot {
  links: LinkSnapshot[];
  /** With the delay equaliser's counters (equaliser.ts): packets that waited there, and the last wait. */
  reorder: (ReorderStats & { holdMs: number; span: number; equalised: number; equaliseMs: number }) | undefined;
  /** The delay equaliser (equaliser.ts), with or without a reorder buffer behind it. */
  equaliser: { equalised: number; equaliseMs: number; late: number };
  drops: Partial<Record<DropReason, number>>;
  /** Redundant mode's counters (redundant.ts). */
  redundant?: RedundantStats;
}

export function linkSnapshot(l: Link, scheduled: boolean): LinkSnapshot {
  const e = l.sender.estimator;
  return {
    name: l.name,
    status: STATUS_TEXT[l.status],
    statusSinceMs: l.statusSinceMs,
    lastRecvMs: Number.isFinite(l.lastRecvMs) ? l.lastRecvMs : undefined,
    peer: l.peer ? { ...l.peer } : undefined,
    srttMs: l.srttMs,
    rttvarMs: l.rtt.samples > 0 ? l.rtt.variance : undefined,
    minRttMs: Number.isFinite(e.minRttMs) ? e.minRttMs : undefined,
    capacityBytesPerSec: e.bandwidth * 1000,
    pacingBytesPerSec: e.pacingRate() * 1000,
    inflightBytes: l.sender.inflightBytes,
    queuedPackets: l.sender.queueLength,
    lossInPercent: l.loss.percent(),
    lossOutPercent: l.peerLossPercent,
    sentLost: l.sender.lostPackets,
    stalled: l.stalled,
    scheduled,
    ...l.counters,
  };
}

export function tunnelSnapshot(links: readonly Link[], eligible: readonly number[], equaliser: Equaliser, reorder: ReorderBuffer | undefined, drops: DropCounters, redundant: RedundantStats): TunnelSnapshot {
  const eq = equaliser.stats;
  return {
    links: links.map((l) => linkSnapshot(l, eligible.includes(l.index))),
    reorder: reorder ? { ...reorder.stats, holdMs: reorder.holdMs, span: reorder.currentSpan, equalised: eq.held, equaliseMs: eq.lastHoldMs } : undefined,
    equaliser: { equalised: eq.held, equaliseMs: eq.lastHoldMs, late: eq.late },
    drops: drops.snapshot(),
    redundant: { ...redundant },
  };
}
