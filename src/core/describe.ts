/**
 * The core's log lines that take more than a phrase to build: kept here so that the protocol
 * code says what happened and this file says how it reads (the text the daemon logs).
 */
import type { Link, PeerAddress } from "./link.ts";

/** An address and port as people write them (IPv6 in brackets). */
export function fmt(p: PeerAddress): string {
  return p.address.includes(":") ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`;
}

/** One line on a link's sending state, for `-D wrr` (the C MLVPN's scheduler debug token). */
export function describeSender(l: Link): string {
  const s = l.sender;
  const e = s.estimator;
  const mbit = (bytesPerMs: number) => ((bytesPerMs * 8) / 1000).toFixed(1);
  return `[${l.name}] estimate ${mbit(e.bandwidth)} Mbit/s, pacing ${mbit(e.pacingRate())}${e.inStartup ? " (startup)" : ""}, min RTT ${e.minRttMs.toFixed(1)} ms, srtt ${l.rtt.smoothed.toFixed(1)} ms, in flight ${s.inflightBytes}/${Math.round(e.inflightCap())} B, queued ${s.queueLength}, sent ${s.sentPackets}, lost ${s.lostPackets}${l.stalled ? ", STALLED" : ""}`;
}

export function describeStall(l: Link): string {
  return `[${l.name}] ${l.stalled ? "no acknowledgement: traffic moved to the other links" : "answers again"}`;
}

export function describeSilence(l: Link, silentMs: number): string {
  return `no packet for ${Math.round(silentMs / 1000)} s (timeout ${l.settings.timeoutMs / 1000} s)`;
}

export function describeLegacyPeer(l: Link, from: PeerAddress): string {
  return `[${l.name}] ${fmt(from)} speaks the C MLVPN protocol: mlvpn needs mlvpn on both ends`;
}

export function describeRoam(l: Link, from: PeerAddress, to: PeerAddress): string {
  return `[${l.name}] peer moved from ${fmt(from)} to ${fmt(to)}`;
}
