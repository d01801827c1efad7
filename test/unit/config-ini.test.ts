import { describe, expect, test } from "bun:test";
import { Diagnostics } from "../../src/config/diagnostics.ts";
import { parseIni } from "../../src/config/ini.ts";

function read(text: string) {
  const diags = new Diagnostics("t.conf");
  const doc = parseIni(text, diags);
  const values = (section: string) => Object.fromEntries(doc.sections.find((s) => s.name === section)?.entries.map((e) => [e.key, e.value]) ?? []);
  return { doc, diags: diags.list, values };
}

describe("MLVPN INI reader", () => {
  test("quoted and unquoted values, inline comments, blank lines", () => {
    const r = read('[general]\n\nmode = "client"   # a comment\npassword = "a # is kept in quotes"\ntimeout=30\n');
    expect(r.values("general")).toEqual({ mode: "client", password: "a # is kept in quotes", timeout: "30" });
    expect(r.diags).toEqual([]);
  });

  test("CRLF files read like LF files, without warnings", () => {
    const crlf = read('[general]\r\nmode = "server"\r\npassword = "x"\r\n');
    expect(crlf.values("general")).toEqual({ mode: "server", password: "x" });
    expect(crlf.diags).toEqual([]);
  });

  test("'=' inside quotes is part of the value; quotes toggle anywhere like C", () => {
    const r = read('[general]\npassword = "a=b"\nip4 = 10."0.0".1\n');
    expect(r.values("general")).toEqual({ password: "a=b", ip4: "10.0.0.1" });
  });

  test("line numbers follow the file, including comment and blank lines", () => {
    const r = read("# header\n\n[general]\n# x\nmode = client\n");
    expect(r.doc.sections[0]!.line).toBe(3);
    expect(r.doc.sections[0]!.entries[0]!.line).toBe(5);
  });

  test("empty value is kept as empty (the schema treats it as unset)", () => {
    const r = read('[general]\nip4 =\nip6 = ""\n');
    expect(r.values("general")).toEqual({ ip4: "", ip6: "" });
  });

  test("a section split over the file is merged, with a warning", () => {
    const r = read("[a]\nx = 1\n[b]\ny = 2\n[a]\nz = 3\n");
    expect(r.values("a")).toEqual({ x: "1", z: "3" });
    expect(r.diags.map((d) => d.line)).toEqual([5]);
  });

  test("a UTF-8 byte order mark is ignored", () => {
    expect(read("\uFEFF[general]\nmode = client\n").values("general")).toEqual({ mode: "client" });
  });

  test("spaces in a key are joined like C, with a warning", () => {
    const r = read("[a]\nbind host = x\n");
    expect(r.values("a")).toEqual({ bindhost: "x" });
    expect(r.diags[0]!.message).toContain('read as "bindhost"');
  });
});
