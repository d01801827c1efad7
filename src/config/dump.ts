/**
 * The normalized configuration printed by `--check`: every key with its effective value
 * (defaults filled in, links' inherited values resolved), in the input's format, with the
 * password redacted. Unset optional keys are left out.
 */
import { REDACTED, SECRET_KEYS } from "./diagnostics.ts";
import { type Config, GENERAL_KEYS, LINK_KEYS } from "./schema.ts";

function value(v: unknown, format: "ini" | "toml"): string {
  if (typeof v === "boolean") return format === "toml" ? String(v) : v ? "1" : "0";
  if (typeof v === "number") return String(v);
  return JSON.stringify(String(v));
}

function lines(obj: Record<string, unknown>, keys: readonly string[], format: "ini" | "toml"): string[] {
  const out: string[] = [];
  for (const key of keys) {
    const v = obj[key];
    if (v === undefined) continue;
    out.push(`${key} = ${SECRET_KEYS.has(key) ? REDACTED : value(v, format)}`);
  }
  return out;
}

const sectionName = (name: string, format: "ini" | "toml"): string =>
  format === "toml" && !/^[A-Za-z0-9_-]+$/.test(name) ? JSON.stringify(name) : name;

export function dumpConfig(config: Config, header: string): string {
  const f = config.format;
  // redundant_copies means nothing without redundant: not shown then.
  const general = config.general.redundant === undefined ? { ...config.general, redundant_copies: undefined } : config.general;
  const out: string[] = [`# ${header}`, "", "[general]", ...lines(general, GENERAL_KEYS, f)];
  if (config.filters.length > 0) {
    out.push("", "[filters]");
    if (f === "ini") {
      for (const flt of config.filters) out.push(`${sectionName(flt.link, f)} = ${JSON.stringify(flt.normalized)}`);
    } else {
      // TOML has one key per link: its list keeps the order (the file could not interleave links).
      const byLink = new Map<string, string[]>();
      for (const flt of config.filters) byLink.set(flt.link, [...(byLink.get(flt.link) ?? []), flt.normalized]);
      for (const [link, list] of byLink) out.push(`${sectionName(link, f)} = ${list.length === 1 ? JSON.stringify(list[0]) : `[${list.map((x) => JSON.stringify(x)).join(", ")}]`}`);
    }
  }
  for (const link of config.links) {
    out.push("", `[${sectionName(link.name, f)}]`, ...lines(link, LINK_KEYS, f));
  }
  return `${out.join("\n")}\n`;
}
