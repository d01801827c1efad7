/**
 * The layering of src/ (the graph and its reasons: test/helpers/layering.ts; the map: README.md
 * "Development"): main → daemon → {control, io} → core → {config, wire, crypto, filter}, checked
 * over every file of every folder, every kind of reference (type-only imports, re-exports,
 * import(), modules started by path), transitively for the purity of core and wire, with no
 * cycle between layers. The fixtures under test/fixtures/layering/ prove the check can fail.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { checkLayering, edgeName, layerOf } from "../helpers/layering.ts";

const SRC = join(import.meta.dir, "..", "..", "src");
const FIXTURES = join(import.meta.dir, "..", "fixtures", "layering");

/**
 * Known violations tolerated edge by edge, each with its reason. Empty since #12 §2/§3 landed;
 * an entry that no longer occurs fails the test, so none can outlive its violation.
 */
const TEMPORARY_EXCEPTIONS: string[] = [];

describe("src/", () => {
  const report = checkLayering(SRC, TEMPORARY_EXCEPTIONS);

  test("every source file is in a layer, and there are many to check", () => {
    expect(report.files.length).toBeGreaterThan(60);
    expect(report.files.filter((f) => !layerOf(f))).toEqual([]);
    // The checker sees what it must: multi-line imports, type-only ones, paths started by URL.
    expect(report.edges.some((e) => e.from === "core/handshake.ts" && e.to === "wire/layout.ts")).toBe(true);
    expect(report.edges.some((e) => e.kind === "import type")).toBe(true);
    expect(report.edges.some((e) => e.from === "io/tun-reader.ts" && e.to === "io/tun-poll-worker.ts" && e.kind === "new URL(…, import.meta.url)")).toBe(true);
  });

  test("follows the layer graph (minus the temporary exceptions above)", () => {
    expect(report.violations).toEqual([]);
  });
});

/** Each fixture tree and what the checker must say about it: the file and the edge, at least. */
const REJECTED: [string, string[]][] = [
  ["core-fs", ["core/clock.ts:2: import core/clock.ts → node:fs: core may not use node:fs"]],
  ["wire-core", ["wire/codec.ts:2: import wire/codec.ts → core/state.ts: wire may not depend on core"]],
  [
    "io-control-cycle",
    [
      "io/server.ts:2: import type io/server.ts → control/status.ts: io may not depend on control",
      "cycle between control and io: control/status.ts:1 import io/server.ts; io/server.ts:2 import type control/status.ts",
    ],
  ],
  ["reexport-leak", ["core/index.ts:2: export … from core/index.ts → io/socket.ts: core may not depend on io"]],
  ["dynamic-import-leak", ["core/lazy.ts:3: import() core/lazy.ts → io/tun.ts: core may not depend on io"]],
  [
    "clock-call",
    [
      "core/timer.ts:2: core code may not call Date.now",
      "core/timer.ts:2: core code may not call Math.random",
    ],
  ],
  [
    "transitive-io",
    [
      "crypto/seed.ts:2: import crypto/seed.ts → node:net: crypto may not use node:net",
      "core/keys.ts reaches node:net through core/keys.ts → crypto/seed.ts → node:net: core must stay free of I/O",
    ],
  ],
];

describe("fixtures the check must reject", () => {
  test.each(REJECTED)("%s", (name, expected) => {
    const { violations } = checkLayering(join(FIXTURES, name));
    // Each expected message is there (a message may go on with the layer's allowed list), and
    // nothing else: each fixture holds exactly the faults listed.
    expect(violations.map((v) => expected.find((e) => v.startsWith(e)) ?? v).sort()).toEqual([...expected].sort());
  });

  test("a fixture that follows the graph passes, whatever its comments and strings say", () => {
    const report = checkLayering(join(FIXTURES, "clean"));
    expect(report.violations).toEqual([]);
    expect(report.edges.map(edgeName).sort()).toEqual([
      "control/page.ts → core/tunnel.ts",
      "control/page.ts → io/server.ts",
      "core/tunnel.ts → crypto/hash.ts",
      "core/tunnel.ts → wire/layout.ts",
      "crypto/hash.ts → node:crypto",
      "io/server.ts → bun",
      "io/server.ts → core/tunnel.ts",
    ]);
  });

  test("an exception that no longer occurs is reported, so the list only shrinks", () => {
    const { violations } = checkLayering(join(FIXTURES, "clean"), ["core/tunnel.ts → io/server.ts"]);
    expect(violations).toEqual(["exception core/tunnel.ts → io/server.ts no longer occurs: remove it from the list"]);
  });

  test("an exception tolerates its edge and the cycle it closes, nothing more", () => {
    const { violations } = checkLayering(join(FIXTURES, "io-control-cycle"), ["io/server.ts → control/status.ts"]);
    expect(violations).toEqual([]);
  });
});
