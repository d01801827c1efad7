/**
 * `[general] redundant` and `redundant_copies` (README "Redundant mode"): the expression is
 * compiled as `[filters]` entries are, for the tun's packets (raw IP) or the tap's (Ethernet), and
 * an error names the expression and the offending token at the key's line; `redundant_copies`
 * may not exceed the number of links the file configures.
 */
import { compileFilter, FilterError } from "../filter/index.ts";
import type { Diagnostics } from "./diagnostics.ts";
import type { RawEntry } from "./raw.ts";
import type { GeneralConfig } from "./schema.ts";

export function checkRedundant(general: GeneralConfig, entries: Map<string, RawEntry>, links: number, diags: Diagnostics): void {
  const expression = general.redundant;
  const at = entries.get("redundant");
  if (expression !== undefined && at) {
    try {
      compileFilter(expression, general.tuntap === "tap" ? "ether" : "raw");
    } catch (err) {
      if (!(err instanceof FilterError)) throw err;
      diags.error(at.line, "general", "redundant", `redundant = ${JSON.stringify(expression)}: ${err.describe()}`);
    }
  }
  const copies = entries.get("redundant_copies");
  if (copies && links > 0 && general.redundant_copies > links) {
    diags.error(copies.line, "general", "redundant_copies", `redundant_copies = ${general.redundant_copies}: there ${links === 1 ? "is only 1 link" : `are only ${links} links`}; a packet goes at most once on each`);
  }
  if (copies && expression === undefined) diags.warn(copies.line, "general", "redundant_copies", 'redundant_copies has no effect without redundant = "<pcap-filter expression>"');
}
