/**
 * Reader for the TOML form of the configuration: the same structure as the INI file, with
 * `[general]`, `[filters]` and one top-level table per link (`[adsl1]`), and the same keys.
 * A configuration written in the MLVPN guide's style (quoted strings, bare numbers) is valid
 * TOML as it is.
 *
 * smol-toml does not report where keys are; `locate()` scans the text for table headers and
 * `key =` lines so that diagnostics can name file:line like the INI reader does.
 */
import { parse, TomlError } from "smol-toml";
import type { Diagnostics } from "./diagnostics.ts";
import { type RawDocument, type RawValue, sectionFor } from "./raw.ts";

const HEADER = /^\s*\[\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_.\- ]+?))\s*\]/;
const KEY = /^\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*=/;

interface Locations {
  sections: Map<string, number>;
  keys: Map<string, number>;
}

const keyId = (section: string, key: string): string => `${section}\u0000${key}`;

function locate(text: string): Locations {
  const loc: Locations = { sections: new Map(), keys: new Map() };
  let section = "";
  text.split("\n").forEach((line, i) => {
    const h = HEADER.exec(line);
    if (h) {
      section = h[1] ?? h[2] ?? h[3] ?? "";
      if (!loc.sections.has(section)) loc.sections.set(section, i + 1);
      return;
    }
    const k = KEY.exec(line);
    if (k) {
      const id = keyId(section, k[1] ?? k[2] ?? k[3] ?? "");
      if (!loc.keys.has(id)) loc.keys.set(id, i + 1);
    }
  });
  return loc;
}

// smol-toml builds tables without a prototype; dates are TomlDate objects.
const isTable = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** Returns undefined when the text is not valid TOML (the error is in `diags`). */
export function parseToml(text: string, diags: Diagnostics): RawDocument | undefined {
  const doc: RawDocument = { sections: [] };
  let data: Record<string, unknown>;
  try {
    data = parse(text);
  } catch (e) {
    if (e instanceof TomlError) {
      const message = e.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
      diags.error(e.line, undefined, undefined, `invalid TOML: ${message}`);
      return undefined;
    }
    throw e;
  }
  const loc = locate(text);
  for (const [name, table] of Object.entries(data)) {
    if (!isTable(table)) {
      diags.error(loc.keys.get(keyId("", name)), undefined, name, "key outside any table; put it under [general] or a link table");
      continue;
    }
    const sectionLine = loc.sections.get(name);
    const entries = Object.entries(table);
    // A table holding only sub-tables ([links.adsl1]) was never written as [links] itself.
    const section = sectionLine !== undefined || entries.length === 0 ? sectionFor(doc, name, sectionLine ?? 1).section : undefined;
    for (const [key, value] of entries) {
      const line = loc.keys.get(keyId(name, key)) ?? loc.sections.get(`${name}.${key}`) ?? sectionLine ?? 1;
      const raw = toRawValue(value);
      if (raw === undefined) {
        const what = isTable(value) ? `the nested table [${name}.${key}] is not allowed; links are top-level tables like [${key}]` : "this kind of TOML value is not allowed here";
        diags.error(line, name, key, `${what} (values are strings, whole numbers, booleans or lists of strings)`);
        continue;
      }
      (section ?? sectionFor(doc, name, line).section).entries.push({ key, value: raw, line });
    }
  }
  return doc;
}

function toRawValue(value: unknown): RawValue | undefined {
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return value;
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value as string[];
  return undefined;
}
