/**
 * The status page module: one self-contained, small HTML document whose script compiles, inserts
 * no markup built from data, and reads only fields that the /status contract has. (The page's
 * behaviour in a browser is tested in test/e2e/statuspage.e2e.test.ts.)
 */
import { describe, expect, test } from "bun:test";
import type { StatusDocument, StatusReorder, StatusTunnel } from "../../src/status/contract.ts";
import { statusPageHtml } from "../../src/status/page.ts";

const html = statusPageHtml();
const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
const script = scripts[0]?.[2] ?? "";

// Typed against the contract, so that a field added there must be added here too.
const reorder: StatusReorder = { hold_ms: 40, delivered: 1, reordered: 0, holes_skipped: 0, late: 0, duplicates: 0, stale: 0, held: 0 };
const link: StatusTunnel = {
  name: "adsl1", mode: "client", bindaddr: "", bindport: "", destaddr: "192.0.2.1", destport: "5080", status: "connected",
  sentpackets: 1, recvpackets: 1, sentbytes: 1, recvbytes: 1, bandwidth: 0, srtt: 20, loss: 0, disconnects: 0, last_packet: 0,
  timeout: 10, status_since: 0, rttvar: 2, min_rtt: 19, capacity_bps: 1, send_rate_bps: 1, inflight_bytes: 0, queued_packets: 0,
  loss_in: 0, loss_out: 0, lost_packets: 0, stalled: false, scheduled: true, peer: "",
};
const doc: StatusDocument = {
  name: "mlvpn", version: "0.1.0", uptime: 0, last_reload: 0, pid: 1, tuntap: { type: "tun", name: "mlvpn0" }, tunnels: [link],
  instance: "x", mode: "client", protocol: 1, now: 1, tunnel_status: "up", reorder, drops: {},
};

/** Property names the script reads from a variable (`doc.now` → "now"). */
const readsOf = (variable: string) => new Set([...script.matchAll(new RegExp(`\\b${variable}\\.([a-z_]+)`, "g"))].map((m) => m[1]!));

describe("status page", () => {
  test("is one HTML document with one inline script and one inline style", () => {
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(scripts.length).toBe(1);
    expect(scripts[0]![1]).toBe(""); // no src, type or other attribute
    expect(html.match(/<style>/g)?.length).toBe(1);
    expect(html).toContain('<meta name="viewport"');
    expect(html).toContain('<meta charset="utf-8">');
  });

  test("is self-contained: it requests nothing but the status JSON", () => {
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/@import|url\(|@font-face/i);
    expect(html).not.toMatch(/<(img|iframe|object|embed|video|audio|source)\b/i);
    // The only <link> is an empty data: icon, which stops the browser from asking for /favicon.ico.
    expect([...html.matchAll(/<link\b[^>]*>/gi)].map((m) => m[0])).toEqual(['<link rel="icon" href="data:,">']);
    expect([...html.matchAll(/\b(?:src|href)\s*=\s*"([^"]*)"/gi)].map((m) => m[1])).toEqual(["data:,"]);
    expect([...script.matchAll(/\bfetch\(([^,)]*)/g)].map((m) => m[1])).toEqual(['"status"']);
  });

  test("is small enough for a router (under 30 KB)", () => {
    const bytes = new TextEncoder().encode(html).length;
    expect(bytes).toBeLessThan(30 * 1024);
  });

  test("never inserts markup: text goes in with textContent only", () => {
    expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(\s*["']on/);
    expect(script).toContain("textContent");
  });

  test("its script compiles", () => {
    expect(script.length).toBeGreaterThan(1000);
    // Compiles without running: a syntax error throws here.
    expect(() => new Function(script)).not.toThrow();
  });

  test("reads only fields that the /status contract defines", () => {
    const top = readsOf("doc");
    const perLink = readsOf("l");
    const reorderFields = readsOf("r");
    expect(top.size).toBeGreaterThan(10);
    expect(perLink.size).toBeGreaterThan(15);
    expect(reorderFields.size).toBeGreaterThan(5);
    for (const f of top) expect(Object.keys(doc)).toContain(f);
    for (const f of perLink) expect(Object.keys(link)).toContain(f);
    for (const f of reorderFields) expect(Object.keys(reorder)).toContain(f);
  });

  test("shows every link state of the contract with its own colour class", () => {
    const states: StatusTunnel["status"][] = ["disconnected", "waiting peer", "connected", "lossy link", "slow link"];
    for (const s of states) expect(script).toMatch(new RegExp(`"${s}": "(ok|warn|bad|wait)"`));
  });
});
