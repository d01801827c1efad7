/**
 * The /status document and /metrics: every field of the C MLVPN with its JSON type, real values
 * from a real tunnel core (run on the simulated network), escaping of hostile link names, and the
 * Prometheus exposition validated line by line.
 */
import { describe, expect, test } from "bun:test";
import type { LinkSnapshot, TunnelSnapshot } from "../../src/core/tunnel.ts";
import { DROP_REASONS } from "../../src/core/stats.ts";
import type { StatusDocument } from "../../src/control/contract.ts";
import { buildStatus, statusJson } from "../../src/control/document.ts";
import { buildMetrics, escapeLabel, LINK_STATES } from "../../src/control/metrics.ts";
import { cContractProblems } from "../helpers/c-contract.ts";
import { parsePrometheus, valueOf } from "../helpers/prometheus.ts";
import { CLIENT, FACTS, runningClient, STARTED } from "../helpers/status-fixture.ts";

describe("/status document", () => {
  const snap = runningClient();
  const now = STARTED + 4000;
  const doc: StatusDocument = JSON.parse(statusJson(buildStatus(snap, CLIENT, FACTS, now)));

  test("every C MLVPN field is there with the C JSON type", () => {
    expect(cContractProblems(doc)).toEqual([]);
    expect(doc.tunnels.length).toBe(2);
    // The checker itself catches what a C dashboard would trip over.
    const broken = { ...doc, pid: "4242", tunnels: [{ ...doc.tunnels[0], srtt: 1.5, status: "up" }] };
    expect(cContractProblems(broken)).toEqual(['pid = "4242" is not a JSON integer', "tunnels[0].srtt = 1.5 is not a JSON integer", 'tunnels[0].status = "up" is not a C state text']);
  });

  test("real values: pid, version, times, configured addresses and bandwidth, state texts", () => {
    expect(doc.name).toBe("mlvpn");
    expect(doc.version).toBe("9.8.7");
    expect(doc.pid).toBe(4242);
    expect(doc.uptime).toBe(1_700_000_000);
    expect(doc.last_reload).toBe(1_700_000_060);
    expect(doc.tuntap).toEqual({ type: "tun", name: "mlvpn7" });
    const [a, b] = doc.tunnels as [StatusDocument["tunnels"][0], StatusDocument["tunnels"][0]];
    expect([a.name, a.mode, a.bindaddr, a.bindport, a.destaddr, a.destport]).toEqual(["link0", "client", "192.168.1.2", "", "198.51.100.1", "5080"]);
    expect([b.bindaddr, b.destport, b.timeout, a.timeout]).toEqual(["", "5081", 12, 30]);
    expect(a.bandwidth).toBe(2_500_000);
    expect(b.bandwidth).toBe(0);
    expect(doc.tunnels.map((t) => t.status)).toEqual(["connected", "connected"]);
    expect(doc.tunnel_status).toBe("up");
    expect(doc.instance).toBe("office");
    expect(doc.mode).toBe("client");
    expect(doc.protocol).toBe(2);
    expect(doc.now).toBe((STARTED + 4000) / 1000);
  });

  test("counters, RTT and times come from the core's snapshot", () => {
    doc.tunnels.forEach((t, i) => {
      const s = snap.links[i]!;
      expect([t.sentpackets, t.recvpackets, t.sentbytes, t.recvbytes, t.disconnects]).toEqual([s.sentPackets, s.recvPackets, s.sentBytes, s.recvBytes, s.disconnects]);
      expect(t.sentpackets).toBeGreaterThan(5);
      expect(t.srtt).toBe(Math.trunc(s.srttMs!));
      expect(t.last_packet).toBe(Math.floor((STARTED + s.lastRecvMs!) / 1000));
      expect(t.status_since).toBe(Math.round(STARTED + s.statusSinceMs) / 1000);
      expect(t.capacity_bps).toBe(Math.round(s.capacityBytesPerSec * 8));
      expect(t.peer).toBe(`198.51.100.${i + 1}:${5080 + i}`);
      expect(t.rttvar).not.toBeNull();
      expect(t.min_rtt).not.toBeNull();
    });
    expect(doc.tunnels[0]!.sentpackets + doc.tunnels[1]!.sentpackets).toBeGreaterThan(200);
    // 20 ms and 60 ms round trips on the simulated links.
    expect(doc.tunnels[0]!.srtt).toBeGreaterThanOrEqual(19);
    expect(doc.tunnels[0]!.srtt).toBeLessThan(30);
    expect(doc.tunnels[1]!.srtt).toBeGreaterThanOrEqual(59);
    expect(doc.tunnels[1]!.srtt).toBeLessThan(70);
    expect(doc.reorder).not.toBeNull();
    expect(doc.reorder!.delivered).toBe(snap.reorder!.delivered);
    expect(doc.reorder!.delivered).toBeGreaterThan(150);
  });

  test("drops: every core reason present (0 when none) plus the shell's", () => {
    expect(Object.keys(doc.drops).sort()).toEqual([...DROP_REASONS, "tun-write"].sort());
    expect(doc.drops["tun-write"]).toBe(3);
    expect(Object.values(doc.drops).every((n) => Number.isInteger(n) && n >= 0)).toBe(true);
  });

  test("a link never heard from: last_packet is the start time, RTT fields empty, status since start", () => {
    const quiet = fakeLink({ name: "link0", status: "waiting peer", lastRecvMs: undefined, srttMs: undefined, rttvarMs: undefined, minRttMs: undefined, lossInPercent: undefined, statusSinceMs: 0 });
    const d = buildStatus({ links: [quiet], reorder: undefined, equaliser: NO_EQUALISER, drops: {} }, CLIENT, FACTS, now);
    const t = d.tunnels[0]!;
    expect(t.last_packet).toBe(1_700_000_000);
    expect([t.srtt, t.rttvar, t.min_rtt, t.loss, t.loss_in]).toEqual([0, null, null, 0, null]);
    expect(t.status_since).toBe(STARTED / 1000);
    expect(d.reorder).toBeNull();
    expect(d.tunnel_status).toBe("down");
  });
});

function fakeLink(o: Partial<LinkSnapshot>): LinkSnapshot {
  return {
    name: "x",
    status: "connected",
    statusSinceMs: 100,
    lastRecvMs: 200,
    peer: { address: "2001:db8::1", port: 5080 },
    srttMs: 12.7,
    rttvarMs: 1.25,
    minRttMs: 10,
    capacityBytesPerSec: 1_000_000,
    pacingBytesPerSec: 900_000,
    inflightBytes: 3000,
    queuedPackets: 2,
    lossInPercent: 1.56,
    lossOutPercent: 0,
    sentLost: 4,
    stalled: false,
    scheduled: true,
    sentPackets: 10,
    sentBytes: 10_000,
    recvPackets: 9,
    recvBytes: 9000,
    disconnects: 1,
    ...o,
  };
}

const NO_EQUALISER = { equalised: 0, equaliseMs: 0, late: 0 };
const HOSTILE = 'we"ird\\name\nwith ünïcödé ✓ 🚀 </script>';

describe("escaping", () => {
  const snap: TunnelSnapshot = { links: [fakeLink({ name: HOSTILE })], reorder: undefined, equaliser: NO_EQUALISER, drops: { "bad-mac": 2 } };
  const hostileFacts = { ...FACTS, instance: 'in"st\\ance', deviceName: "tun\u0001" };
  const doc = buildStatus(snap, CLIENT, hostileFacts, STARTED);

  test("the JSON is one valid line and gives the names back exactly", () => {
    const text = statusJson(doc);
    expect(text.indexOf("\n")).toBe(text.length - 1);
    const back = JSON.parse(text) as StatusDocument;
    expect(back.tunnels[0]!.name).toBe(HOSTILE);
    expect(back.instance).toBe('in"st\\ance');
    expect(back.tuntap.name).toBe("tun\u0001");
    expect(back.tunnels[0]!.peer).toBe("[2001:db8::1]:5080");
    // A link the configuration does not know: C's fields still there, empty.
    expect(back.tunnels[0]!.destaddr).toBe("");
  });

  test("label values escape backslash, quote and line feed; unicode stays as it is", () => {
    expect(escapeLabel(HOSTILE)).toBe('we\\"ird\\\\name\\nwith ünïcödé ✓ 🚀 </script>');
    const m = parsePrometheus(buildMetrics(doc));
    expect(valueOf(m, "mlvpn_link_sent_packets_total", { link: HOSTILE })).toBe(10);
    expect(m.get("mlvpn_info")!.samples[0]!.labels.instance).toBe('in"st\\ance');
  });
});

describe("/metrics", () => {
  const snap = runningClient();
  const doc = buildStatus(snap, CLIENT, FACTS, STARTED + 4000);
  const text = buildMetrics(doc);
  const m = parsePrometheus(text);

  test("valid exposition: every family has HELP and TYPE, mlvpn_ prefix, counters end in _total", () => {
    expect(m.size).toBeGreaterThan(30);
    for (const [name, f] of m) {
      expect(name.startsWith("mlvpn_")).toBe(true);
      expect(f.help).toBeTruthy();
      expect(["gauge", "counter"]).toContain(f.type!);
      expect(name.endsWith("_total")).toBe(f.type === "counter");
    }
    for (const [name, f] of m) if (name.startsWith("mlvpn_link_")) for (const s of f.samples) expect(["link0", "link1"]).toContain(s.labels.link!);
  });

  test("values match the document", () => {
    const [a, b] = doc.tunnels as [StatusDocument["tunnels"][0], StatusDocument["tunnels"][0]];
    expect(valueOf(m, "mlvpn_start_time_seconds")).toBe(doc.uptime);
    expect(valueOf(m, "mlvpn_last_reload_time_seconds")).toBe(doc.last_reload);
    expect(valueOf(m, "mlvpn_tunnel_up")).toBe(1);
    expect(valueOf(m, "mlvpn_info", { version: "9.8.7", mode: "client", protocol: "2", device: "mlvpn7" })).toBe(1);
    expect(valueOf(m, "mlvpn_link_sent_packets_total", { link: "link0" })).toBe(a.sentpackets);
    expect(valueOf(m, "mlvpn_link_received_bytes_total", { link: "link1" })).toBe(b.recvbytes);
    expect(valueOf(m, "mlvpn_link_bandwidth_bytes_per_second", { link: "link0" })).toBe(2_500_000);
    expect(valueOf(m, "mlvpn_link_srtt_seconds", { link: "link1" })).toBe(b.srtt / 1000);
    expect(valueOf(m, "mlvpn_link_capacity_bytes_per_second", { link: "link0" })).toBe(a.capacity_bps / 8);
    expect(valueOf(m, "mlvpn_link_last_packet_time_seconds", { link: "link0" })).toBe(a.last_packet);
    expect(valueOf(m, "mlvpn_dropped_packets_total", { reason: "tun-write" })).toBe(3);
    expect(valueOf(m, "mlvpn_dropped_packets_total", { reason: "bad-mac" })).toBe(0);
    expect(valueOf(m, "mlvpn_reorder_delivered_packets_total")).toBe(doc.reorder!.delivered);
  });

  test("state is one-hot over the five C state texts", () => {
    for (const link of ["link0", "link1"]) {
      const states = LINK_STATES.map((status) => valueOf(m, "mlvpn_link_status", { link, status }));
      expect(states).toEqual([0, 0, 1, 0, 0]);
    }
  });

  test("unknown values are left out, not NaN; no reorder family when reordering is off", () => {
    const quiet = fakeLink({ name: "q", srttMs: undefined, rttvarMs: undefined, minRttMs: undefined, lossInPercent: undefined, lossOutPercent: undefined });
    const q = parsePrometheus(buildMetrics(buildStatus({ links: [quiet], reorder: undefined, equaliser: NO_EQUALISER, drops: {} }, CLIENT, FACTS, STARTED)));
    for (const name of ["mlvpn_link_srtt_seconds", "mlvpn_link_rttvar_seconds", "mlvpn_link_min_rtt_seconds", "mlvpn_link_receive_loss_ratio", "mlvpn_link_send_loss_ratio"]) {
      expect(q.get(name)!.samples).toEqual([]);
    }
    expect(q.has("mlvpn_reorder_delivered_packets_total")).toBe(false);
    // The equaliser works with or without the reorder buffer: its families are always there.
    expect(q.get("mlvpn_reorder_equalised_packets_total")!.samples.length).toBe(1);
    expect(q.get("mlvpn_equaliser_late_packets_total")!.samples.length).toBe(1);
    expect(buildMetrics(buildStatus({ links: [quiet], reorder: undefined, equaliser: NO_EQUALISER, drops: {} }, CLIENT, FACTS, STARTED))).not.toContain("NaN");
  });

  test("the test parser rejects what the format forbids", () => {
    expect(() => parsePrometheus("a 1\na 2\n")).toThrow("duplicate series");
    expect(() => parsePrometheus("a 1\n# TYPE a gauge\n")).toThrow("after its samples");
    expect(() => parsePrometheus('a{l="x\\t"} 1\n')).toThrow("bad escape");
    expect(() => parsePrometheus("a 1\nb 1\na{x=\"1\"} 1\n")).toThrow("not contiguous");
    expect(() => parsePrometheus("a one\n")).toThrow("bad value");
    expect(() => parsePrometheus("a 1")).toThrow("line feed");
  });
});
