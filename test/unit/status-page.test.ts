/**
 * The status page module: one self-contained, small HTML document whose script compiles, inserts
 * no markup built from data, and reads only fields that the /status document has. (The page's
 * behaviour in a browser is tested in test/e2e/statuspage.e2e.test.ts.)
 */
import { describe, expect, test } from "bun:test";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { StatusDocument, StatusTunnel } from "../../src/control/contract.ts";
import { buildStatus, statusJson } from "../../src/control/document.ts";
import { statusPageHtml } from "../../src/control/page.ts";
import { tempDir } from "../helpers/run.ts";
import { CLIENT, FACTS, runningClient, STARTED } from "../helpers/status-fixture.ts";

const ROOT = join(import.meta.dir, "..", "..");
const CONTROL = join(ROOT, "src", "control");
const tsc = (project: string) => {
  const r = Bun.spawnSync([join(ROOT, "node_modules", ".bin", "tsc"), "-p", project], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, output: `${r.stdout}${r.stderr}` };
};

const html = statusPageHtml();
const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
const script = scripts[0]?.[2] ?? "";

// The document the control server really builds, from a client core after traffic on the
// simulated network (JSON round trip: what the page receives).
const doc: StatusDocument = JSON.parse(statusJson(buildStatus(runningClient(), CLIENT, FACTS, STARTED + 5000)));
const link = doc.tunnels[0]!;
const reorder = doc.reorder!;

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

  test("its script is src/control/page-script.js, as it is", () => {
    expect(script).toBe(readFileSync(join(CONTROL, "page-script.js"), "utf8"));
    expect(script).not.toMatch(/<\/script|<!--/i); // nothing that would end the inline script early
  });

  test("its script type-checks against the DOM, and a misspelled DOM call fails the check", () => {
    expect(tsc(join(CONTROL, "page-script.tsconfig.json"))).toEqual({ code: 0, output: "" });
    const { dir, cleanup } = tempDir("mlvpn-page-");
    try {
      copyFileSync(join(CONTROL, "page-script.tsconfig.json"), join(dir, "page-script.tsconfig.json"));
      expect(script).toContain("document.getElementById(");
      writeFileSync(join(dir, "page-script.js"), script.replace("document.getElementById(", "document.getElementByID("));
      const broken = tsc(join(dir, "page-script.tsconfig.json"));
      expect(broken.code).not.toBe(0);
      expect(broken.output).toContain("Property 'getElementByID' does not exist");
    } finally {
      cleanup();
    }
  }, 60_000);

  test("its script compiles", () => {
    expect(script.length).toBeGreaterThan(1000);
    // Compiles without running: a syntax error throws here.
    expect(() => new Function(script)).not.toThrow();
  });

  test("reads only fields that the /status document has", () => {
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
