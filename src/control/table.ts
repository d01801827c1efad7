/**
 * The human view of a status document, as `mlvpn status` prints it: a header line, one row per
 * link (state, RTT, loss both ways, capacity, send rate, bytes), then the reorder buffer and any
 * non-zero drop counters.
 */
import type { StatusDocument, StatusTunnel } from "./contract.ts";

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, "0")}h`;
}

/** Decimal units: 1 kbit/s = 1000 bit/s, as link speeds are sold. */
function scaled(value: number, unit: string): string {
  const steps = ["", "k", "M", "G", "T"];
  let v = value;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < steps.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? String(Math.round(v)) : v.toFixed(v < 10 ? 2 : 1)} ${steps[i]}${unit}`;
}

export const formatRate = (bitsPerSec: number): string => scaled(bitsPerSec, "bit/s");
export const formatBytes = (bytes: number): string => scaled(bytes, "B");

const percent = (p: number | null): string => (p === null ? "-" : `${p.toFixed(1)}%`);

function rtt(t: StatusTunnel): string {
  if (t.rttvar === null) return "-";
  return `${t.srtt} ms ±${Math.round(t.rttvar)}`;
}

function state(t: StatusTunnel): string {
  const marks = [t.stalled ? "stalled" : "", t.scheduled || !isUp(t.status) ? "" : "idle"].filter(Boolean);
  return marks.length > 0 ? `${t.status} (${marks.join(", ")})` : t.status;
}

const isUp = (s: string): boolean => s === "connected" || s === "lossy link" || s === "slow link";

/** Width in terminal columns, close enough: code points (names are mostly ASCII). */
const width = (s: string): number => [...s].length;

function table(header: string[], rows: string[][], rightAligned: Set<number>): string {
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i]!))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => {
        const pad = " ".repeat(widths[i]! - width(c));
        return rightAligned.has(i) ? pad + c : i === cells.length - 1 ? c : c + pad;
      })
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** Control characters in names would garble the terminal: shown escaped. */
function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

export function formatStatus(doc: StatusDocument): string {
  const out: string[] = [];
  const up = formatDuration(doc.now - doc.uptime);
  out.push(`mlvpn ${doc.version} ${doc.mode} "${printable(doc.instance)}", pid ${doc.pid}, up ${up}, ${doc.tuntap.type} ${printable(doc.tuntap.name)}: tunnel ${doc.tunnel_status}`);
  out.push("");
  const header = ["LINK", "STATE", "FOR", "SRTT", "LOSS IN", "LOSS OUT", "CAPACITY", "SEND RATE", "SENT", "RECEIVED"];
  const rows = doc.tunnels.map((t) => [
    printable(t.name),
    state(t),
    formatDuration(doc.now - t.status_since),
    rtt(t),
    percent(t.loss_in),
    percent(t.loss_out),
    formatRate(t.capacity_bps),
    formatRate(t.send_rate_bps),
    formatBytes(t.sentbytes),
    formatBytes(t.recvbytes),
  ]);
  out.push(table(header, rows, new Set([2, 3, 4, 5, 6, 7, 8, 9])));
  out.push("");
  const r = doc.reorder;
  const eq = doc.equaliser;
  out.push(r ? `reorder: hold ${r.hold_ms} ms, span ${r.span}, ${r.held} held, ${r.delivered} delivered, ${r.reordered} reordered, ${r.late} late, ${r.holes_skipped} holes skipped, ${eq.equalised} equalised (last ${eq.equalise_ms} ms)` : `reorder: off; ${eq.equalised} equalised (last ${eq.equalise_ms} ms), ${eq.late} late`);
  const drops = Object.entries(doc.drops).filter(([, n]) => n > 0);
  const red = doc.redundant;
  if (red.packets + red.delivered > 0) out.push(`redundant: ${red.packets} packets sent as ${red.redundant_sent} copies, ${red.over_share} over the share; ${red.delivered} delivered, ${red.duplicates_dropped} duplicates dropped`);
  out.push(`drops: ${drops.length > 0 ? drops.map(([k, n]) => `${k} ${n}`).join(", ") : "none"}`);
  return `${out.join("\n")}\n`;
}
