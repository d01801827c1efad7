/** Configuration text for tests: loaded from a file (diagnostics without the file name), parsed as INI, and a logger that records. */
import { expect } from "bun:test";
import { Diagnostics, formatDiagnostic } from "../../src/config/diagnostics.ts";
import { parseIni } from "../../src/config/ini.ts";
import { loadConfig } from "../../src/config/load.ts";
import { type Config, toConfig } from "../../src/config/schema.ts";
import type { Logger } from "../../src/log.ts";
import { tempDir, writeConfig } from "./run.ts";

/** `text` written to a temporary `name` and loaded: the config (undefined on errors) and each diagnostic as "LINE: …". */
export function loadText(text: string, name = "mlvpn.conf") {
  const tmp = tempDir();
  try {
    const file = writeConfig(tmp.dir, name, text);
    const r = loadConfig(file);
    return { config: r.config, diags: r.diagnostics.map((d) => formatDiagnostic(d).replace(`${file}:`, "")) };
  } finally {
    tmp.cleanup();
  }
}

/** INI text that must have no error, as a Config. */
export function iniConfig(t: string): Config {
  const diags = new Diagnostics("test.conf");
  const config = toConfig(parseIni(t, diags), "test.conf", "ini", diags);
  expect(diags.list.filter((d) => d.severity === "error")).toEqual([]);
  return config!;
}

export function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (token: string, message: string) => void lines.push(`${level}/${token}: ${message}`);
  return { lines, error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug") };
}
