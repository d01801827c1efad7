/**
 * `/metrics`: the status document in the Prometheus text exposition format 0.0.4. Built from the
 * same StatusDocument as `/status`, so the two never disagree.
 *
 * Conventions: every name starts with `mlvpn_`; per-link series carry a `link` label; counters end
 * in `_total`; base units (seconds, bytes, ratios 0–1). A link's state is a one-hot gauge
 * `mlvpn_link_status{link,status}` over MLVPN's five state texts (exactly one is 1), like C's
 * per-state lines. Values unknown so far (RTT before the first sample, loss not yet measured)
 * are left out rather than written as NaN.
 */
import type { LinkStatusText, StatusDocument, StatusTunnel } from "./contract.ts";
import { isUpStatus } from "./document.ts";

export const LINK_STATES: readonly LinkStatusText[] = ["disconnected", "waiting peer", "connected", "lossy link", "slow link"];

type Kind = "gauge" | "counter";
type Labels = Record<string, string>;
type Sample = [labels: Labels, value: number | null];

/** Label values: backslash, double quote and line feed are escaped (the format's only escapes). */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}

class Exposition {
  private readonly lines: string[] = [];

  family(name: string, kind: Kind, help: string, samples: Sample[]): void {
    const present = samples.filter((s): s is [Labels, number] => s[1] !== null);
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${kind}`);
    for (const [labels, value] of present) {
      const l = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
      this.lines.push(`${name}${l.length > 0 ? `{${l.join(",")}}` : ""} ${formatValue(value)}`);
    }
  }

  perLink(doc: StatusDocument, name: string, kind: Kind, help: string, value: (t: StatusTunnel) => number | null): void {
    this.family(
      name,
      kind,
      help,
      doc.tunnels.map((t) => [{ link: t.name }, value(t)]),
    );
  }

  text(): string {
    return `${this.lines.join("\n")}\n`;
  }
}

const flag = (b: boolean): number => (b ? 1 : 0);
const ms = (x: number | null): number | null => (x === null ? null : x / 1000);
const ratio = (percent: number | null): number | null => (percent === null ? null : percent / 100);

export function buildMetrics(doc: StatusDocument): string {
  const e = new Exposition();
  e.family("mlvpn_info", "gauge", "Constant 1; the labels describe this instance.", [
    [{ version: doc.version, instance: doc.instance, mode: doc.mode, protocol: String(doc.protocol), tuntap: doc.tuntap.type, device: doc.tuntap.name }, 1],
  ]);
  e.family("mlvpn_start_time_seconds", "gauge", "Unix time the process started (C MLVPN's `uptime`).", [[{}, doc.uptime]]);
  e.family("mlvpn_last_reload_time_seconds", "gauge", "Unix time of the start or of the last successful reload.", [[{}, doc.last_reload]]);
  e.family("mlvpn_tunnel_up", "gauge", "1 when at least one link is up.", [[{}, flag(doc.tunnel_status === "up")]]);
  e.family(
    "mlvpn_dropped_packets_total",
    "counter",
    "Packets dropped on the data path, by reason.",
    Object.entries(doc.drops).map(([reason, n]) => [{ reason }, n]),
  );
  e.family(
    "mlvpn_control_rejected_total",
    "counter",
    "Control clients refused or cut off, by reason.",
    Object.entries(doc.control_rejected).map(([reason, n]) => [{ reason }, n]),
  );
  e.family("mlvpn_reloads_refused_total", "counter", "SIGHUP reloads refused (a file with errors) or failed.", [[{}, doc.reloads_refused]]);
  e.family("mlvpn_reloads_applied_total", "counter", "SIGHUP reloads applied.", [[{}, doc.reloads_applied]]);

  const red = doc.redundant;
  e.family("mlvpn_redundant_packets_total", "counter", "Redundant mode: packets sent as copies, copies sent, matching packets sent once (over the share), first copies delivered, later copies dropped.", [
    [{ event: "packets" }, red.packets],
    [{ event: "copies_sent" }, red.redundant_sent],
    [{ event: "over_share" }, red.over_share],
    [{ event: "delivered" }, red.delivered],
    [{ event: "duplicates_dropped" }, red.duplicates_dropped],
  ]);

  const r = doc.reorder;
  if (r) {
    e.family("mlvpn_reorder_hold_seconds", "gauge", "How long the reorder buffer holds a packet waiting for a hole.", [[{}, r.hold_ms / 1000]]);
    e.family("mlvpn_reorder_held_packets", "gauge", "Packets in the reorder buffer now.", [[{}, r.held]]);
    e.family("mlvpn_reorder_delivered_packets_total", "counter", "Packets delivered by the reorder buffer.", [[{}, r.delivered]]);
    e.family("mlvpn_reorder_reordered_packets_total", "counter", "Packets delivered after being held for a hole.", [[{}, r.reordered]]);
    e.family("mlvpn_reorder_holes_skipped_total", "counter", "Holes given up on.", [[{}, r.holes_skipped]]);
    e.family("mlvpn_reorder_late_packets_total", "counter", "Packets delivered out of order, after their hole was given up.", [[{}, r.late]]);
    e.family("mlvpn_reorder_duplicate_packets_total", "counter", "Duplicate packets dropped by the reorder buffer.", [[{}, r.duplicates]]);
    e.family("mlvpn_reorder_stale_packets_total", "counter", "Packets dropped as too old by the reorder buffer.", [[{}, r.stale]]);
  }
  // The equaliser works with or without the reorder buffer (the names keep their first prefix).
  e.family("mlvpn_reorder_equalised_packets_total", "counter", "Packets that waited in the delay equaliser (they came over a faster link).", [[{}, doc.equaliser.equalised]]);
  e.family("mlvpn_reorder_equalise_seconds", "gauge", "The last wait in the delay equaliser.", [[{}, doc.equaliser.equalise_ms / 1000]]);
  e.family("mlvpn_equaliser_late_packets_total", "counter", "Without a reorder buffer: packets that came after later-numbered ones had gone on.", [[{}, doc.equaliser.late]]);

  e.family(
    "mlvpn_link_status",
    "gauge",
    "Link state, one-hot: 1 for the current state text, 0 for the others.",
    doc.tunnels.flatMap((t) => LINK_STATES.map((s): Sample => [{ link: t.name, status: s }, flag(t.status === s)])),
  );
  e.perLink(doc, "mlvpn_link_up", "gauge", "1 when the link is up (connected, lossy or slow).", (t) => flag(isUpStatus(t.status)));
  e.perLink(doc, "mlvpn_link_status_since_seconds", "gauge", "Unix time since which the link has its current state.", (t) => t.status_since);
  e.perLink(doc, "mlvpn_link_last_packet_time_seconds", "gauge", "Unix time of the last packet received on the link.", (t) => t.last_packet);
  e.perLink(doc, "mlvpn_link_sent_packets_total", "counter", "Datagrams sent on the link.", (t) => t.sentpackets);
  e.perLink(doc, "mlvpn_link_received_packets_total", "counter", "Authenticated datagrams received on the link.", (t) => t.recvpackets);
  e.perLink(doc, "mlvpn_link_sent_bytes_total", "counter", "Bytes sent on the link (UDP payload).", (t) => t.sentbytes);
  e.perLink(doc, "mlvpn_link_received_bytes_total", "counter", "Bytes received on the link (UDP payload).", (t) => t.recvbytes);
  e.perLink(doc, "mlvpn_link_disconnects_total", "counter", "Times the link went down.", (t) => t.disconnects);
  e.perLink(doc, "mlvpn_link_lost_packets_total", "counter", "Packets sent on the link that were found lost (and sent again elsewhere).", (t) => t.lost_packets);
  e.perLink(doc, "mlvpn_link_bandwidth_bytes_per_second", "gauge", "Configured bandwidth_upload (0: not set).", (t) => t.bandwidth);
  e.perLink(doc, "mlvpn_link_capacity_bytes_per_second", "gauge", "Estimated capacity of the path we send on.", (t) => t.capacity_bps / 8);
  e.perLink(doc, "mlvpn_link_send_rate_bytes_per_second", "gauge", "Rate the sender paces at now.", (t) => t.send_rate_bps / 8);
  e.perLink(doc, "mlvpn_link_inflight_bytes", "gauge", "Bytes sent and not yet acknowledged.", (t) => t.inflight_bytes);
  e.perLink(doc, "mlvpn_link_queued_packets", "gauge", "Packets waiting for the link's pacer.", (t) => t.queued_packets);
  e.perLink(doc, "mlvpn_link_srtt_seconds", "gauge", "Smoothed round-trip time.", (t) => (t.rttvar === null ? null : ms(t.srtt)));
  e.perLink(doc, "mlvpn_link_rttvar_seconds", "gauge", "Round-trip time variation.", (t) => ms(t.rttvar));
  e.perLink(doc, "mlvpn_link_min_rtt_seconds", "gauge", "Smallest recent round-trip time.", (t) => ms(t.min_rtt));
  e.perLink(doc, "mlvpn_link_receive_loss_ratio", "gauge", "Loss of what we receive on the link (0-1).", (t) => ratio(t.loss_in));
  e.perLink(doc, "mlvpn_link_send_loss_ratio", "gauge", "Loss of what we send on the link, as the peer reports it (0-1).", (t) => ratio(t.loss_out));
  e.perLink(doc, "mlvpn_link_stalled", "gauge", "1 while the link gets no acknowledgement and is left out of scheduling.", (t) => flag(t.stalled));
  e.perLink(doc, "mlvpn_link_scheduled", "gauge", "1 when the link is currently chosen for data.", (t) => flag(t.scheduled));
  e.perLink(doc, "mlvpn_link_timeout_seconds", "gauge", "Silence after which the link is declared down.", (t) => t.timeout);
  return e.text();
}
