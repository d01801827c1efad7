/** The README's config examples parse, and its generated config reference is up to date. */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { GENERAL_KEYS, LINK_KEYS } from "../../src/config/schema.ts";
import { GENERAL_DOCS, LINK_DOCS } from "../../src/config/reference.ts";
import { withReference } from "../../scripts/gen-config-doc.ts";
import { runMain, tempDir, writeConfig } from "../helpers/run.ts";

const README = await Bun.file(join(import.meta.dir, "..", "..", "README.md")).text();
const { dir, cleanup } = tempDir();
afterAll(cleanup);

const blocks = [...README.matchAll(/```(ini|toml)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, text: m[2]! }));

describe("README", () => {
  test("has config examples in both formats", () => {
    expect(blocks.filter((b) => b.lang === "ini").length).toBeGreaterThanOrEqual(2);
    expect(blocks.filter((b) => b.lang === "toml").length).toBeGreaterThanOrEqual(1);
  });

  blocks.forEach((b, i) => {
    test(`example ${i + 1} (${b.lang}) is a valid configuration without warnings`, async () => {
      const file = writeConfig(dir, `readme${i}.${b.lang === "toml" ? "toml" : "conf"}`, b.text.replace("/etc/mlvpn/mlvpn0_updown.sh", "/bin/true"));
      const r = await runMain(["-t", "-c", file]);
      expect(r.stderr.split("\n").filter((l) => l.includes("error") || (l.includes("warning") && !l.includes("statuscommand")))).toEqual([]);
      expect(r.code).toBe(0);
    });
  });

  test("the config reference documents exactly the schema's keys", () => {
    expect(GENERAL_DOCS.map((d) => d.key).sort()).toEqual([...GENERAL_KEYS].sort());
    expect(LINK_DOCS.map((d) => d.key).sort()).toEqual([...LINK_KEYS].sort());
  });

  test("the generated reference in README.md is current (bun scripts/gen-config-doc.ts)", () => {
    expect(withReference(README)).toBe(README);
  });
});
