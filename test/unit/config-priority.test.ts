/** `priority` in a link section: 0 by default, 0–255, changed in place on reload. */
import { describe, expect, test } from "bun:test";
import { diffConfig } from "../../src/config/diff.ts";
import { Diagnostics, formatDiagnostic } from "../../src/config/diagnostics.ts";
import { parseIni } from "../../src/config/ini.ts";
import { toConfig } from "../../src/config/schema.ts";

const text = (p: string) => `[general]\nmode = "client"\npassword = "p"\n[fibre]\nremotehost = "203.0.113.1"\nremoteport = 5080\n[lte]\nremotehost = "203.0.113.1"\nremoteport = 5081\n${p}\n`;

function load(t: string) {
  const diags = new Diagnostics("c.conf");
  const config = toConfig(parseIni(t, diags), "c.conf", "ini", diags);
  return { config, diags: diags.list.map(formatDiagnostic) };
}

describe("priority", () => {
  test("0 by default; set per link", () => {
    const { config } = load(text("priority = 1"));
    expect(config!.links.map((l) => [l.name, l.priority])).toEqual([
      ["fibre", 0],
      ["lte", 1],
    ]);
  });

  test("out of range or not a number: file:line errors", () => {
    expect(load(text("priority = 256")).diags[0]).toContain("c.conf:10: error: [lte] priority = 256");
    expect(load(text("priority = high")).diags[0]).toContain("c.conf:10: error: [lte] priority = high");
  });

  test("a reload changes it in place (no new socket)", () => {
    const d = diffConfig(load(text("")).config!, load(text("priority = 2")).config!);
    expect(d.updated.map((c) => [c.name, c.keys])).toEqual([["lte", ["priority"]]]);
    expect(d.rebound).toEqual([]);
  });
});
