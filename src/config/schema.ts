/**
 * The typed configuration and the conversion from a RawDocument (either reader) to it.
 *
 * Sections: `[general]`, `[filters]` (any section whose name starts with "filters", as in C),
 * and every other section is a link. Keys and defaults are those of the C MLVPN 2.3.5
 * (reference tables 1.3 and 1.4); see reference.ts for the documentation of each key.
 */
import * as v from "valibot";
import { compileFilter, FilterError } from "../filter/index.ts";
import { type Diagnostics, shown } from "./diagnostics.ts";
import { checkRedundant } from "./redundant.ts";
import type { RawDocument, RawEntry, RawSection, RawValue } from "./raw.ts";
import { flag, host, interfaceName, oneOf, path, port, routes, secret, text, uint } from "./values.ts";

export const CIPHERS = ["aes-256-gcm", "chacha20poly1305"] as const;
export const MAX_LINKS = 32;
/** MTU handed to the status script when `mtu` is not set (C MLVPN default). */
export const DEFAULT_SCRIPT_MTU = 1432;

/** Keys a link inherits from [general] when it does not set them itself. */
const INHERITED = ["timeout", "loss_tolerence", "latency_tolerence"] as const;

const TIMEOUT = uint({ unit: "of seconds" });
const LOSS_TOLERENCE = uint({ unit: "(percent)" });
const LATENCY_TOLERENCE = uint({ unit: "of milliseconds" });

export const GeneralSchema = v.object({
  mode: oneOf(["client", "server"], (s) => (s === "server" ? "a server" : "a client")),
  password: secret(),
  statuscommand: v.optional(path()),
  interface_name: v.optional(interfaceName(), "mlvpn0"),
  tuntap: v.optional(oneOf(["tun", "tap"], () => "tap"), "tun"),
  control_unix_path: v.optional(path()),
  control_bind_host: v.optional(host()),
  control_bind_port: v.optional(port()),
  cleartext_data: v.optional(flag(), false),
  timeout: v.optional(TIMEOUT, 60),
  reorder_buffer_size: v.optional(uint({ max: 65536, unit: "of packets" }), 0),
  loss_tolerence: v.optional(LOSS_TOLERENCE, 100),
  latency_tolerence: v.optional(LATENCY_TOLERENCE, 1000),
  ip4: v.optional(text()),
  ip6: v.optional(text()),
  ip4_gateway: v.optional(text()),
  ip6_gateway: v.optional(text()),
  ip4_routes: v.optional(routes()),
  ip6_routes: v.optional(routes()),
  mtu: v.optional(uint({ min: 68, max: 9000, unit: "of bytes" })),
  cipher: v.optional(oneOf(CIPHERS), "aes-256-gcm"),
  redundant: v.optional(text()),
  redundant_copies: v.optional(uint({ min: 2, max: MAX_LINKS, unit: "of links" }), 2),
  // mlvpn only; left unset, the protocol's 120 s (src/core/constants.ts REKEY_AFTER_MS).
  rekey_interval: v.optional(uint({ min: 10, max: 120, unit: "of seconds" })),
});

export const LinkSchema = v.object({
  bindhost: v.optional(host()),
  bindinterface: v.optional(interfaceName()),
  socket_buffer: v.optional(uint({ min: 4096, max: 64 * 1024 * 1024, unit: "of bytes" })),
  bindport: v.optional(port(0)),
  bindfib: v.optional(uint(), 0),
  remotehost: v.optional(host()),
  remoteport: v.optional(port()),
  bandwidth_upload: v.optional(uint({ unit: "of bytes per second" }), 0),
  timeout: TIMEOUT,
  loss_tolerence: LOSS_TOLERENCE,
  latency_tolerence: LATENCY_TOLERENCE,
  fallback_only: v.optional(flag(), false),
  priority: v.optional(uint({ max: 255, unit: "(0 is the most preferred)" }), 0),
});

export type GeneralConfig = v.InferOutput<typeof GeneralSchema>;
export type LinkConfig = v.InferOutput<typeof LinkSchema> & { name: string };
/** One `[filters]` entry: packets read from the tun that match `expression` go on `link`. */
export interface FilterConfig {
  link: string;
  /** The pcap-filter expression as written. */
  expression: string;
  /** As parsed, implicit qualifiers written out (what `--check` prints). */
  normalized: string;
  line: number;
}

export interface Config {
  /** The file it was read from, as given. */
  file: string;
  format: "ini" | "toml";
  general: GeneralConfig;
  /** In file order (INI: every entry, duplicate keys too; TOML: a key's list in order). */
  filters: FilterConfig[];
  /** In file order. */
  links: LinkConfig[];
}

export const GENERAL_KEYS: readonly string[] = Object.keys(GeneralSchema.entries);
export const LINK_KEYS: readonly string[] = Object.keys(LinkSchema.entries);

/** Correct English spellings people write; MLVPN spells them with "-ence". */
const ALIASES: Record<string, string> = {
  loss_tolerance: "loss_tolerence",
  latency_tolerance: "latency_tolerence",
};

/** What to tell a user whose mandatory key is absent or empty. */
const NEEDED: Record<string, string> = {
  mode: 'add mode = "client" or mode = "server" to [general]',
  password: 'add password = "…" to [general] (the same on client and server)',
  remotehost: 'a client link needs the server address, e.g. remotehost = "203.0.113.1"',
  remoteport: "a client link needs the server port, e.g. remoteport = 5080",
  bindport: "a server link needs the UDP port it listens on, e.g. bindport = 5080",
};
const missing = (key: string): string => `${key} is missing${NEEDED[key] ? `: ${NEEDED[key]}` : ""}`;

/** C-compatible corrections: applied with a warning instead of refusing the value. */
const CLAMPS: Record<string, { min?: number; max?: number; why: string }> = {
  timeout: { min: 2, why: "the shortest timeout is 2 seconds" },
  loss_tolerence: { max: 100, why: "it is a percentage" },
  latency_tolerence: { max: 1000, why: "1000 ms is the largest value and turns the check off" },
};

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

function suggest(key: string, known: readonly string[]): string {
  const best = known
    .map((k) => ({ k, d: k.toLowerCase() === key.toLowerCase() ? 0 : levenshtein(key.toLowerCase(), k) }))
    .sort((x, y) => x.d - y.d)[0];
  return best && best.d <= 3 ? `; did you mean ${best.k}?` : "";
}

/**
 * First-wins map of a section's entries (the C lookup rule), with duplicate, alias,
 * misplaced and unknown keys reported. Empty values mean "unset", as in C.
 */
function collect(section: RawSection, known: readonly string[], other: readonly string[], otherWhere: string, diags: Diagnostics): Map<string, RawEntry> {
  const out = new Map<string, RawEntry>();
  for (const entry of section.entries) {
    let key = entry.key;
    const alias = ALIASES[key];
    if (alias) {
      diags.warn(entry.line, section.name, key, `read as ${alias} (MLVPN's spelling); the C MLVPN ignores ${key}`);
      key = alias;
    }
    if (!known.includes(key)) {
      if (other.includes(key)) diags.warn(entry.line, section.name, key, `has no effect here: it belongs in ${otherWhere}`);
      else diags.warn(entry.line, section.name, key, `unknown key, ignored${suggest(key, known)}`);
      continue;
    }
    const first = out.get(key);
    if (first) {
      diags.warn(entry.line, section.name, key, `duplicate key ignored: the first value (line ${first.line}) wins, as in the C MLVPN`);
      continue;
    }
    out.set(key, { ...entry, key });
  }
  return out;
}

const isEmpty = (value: RawValue): boolean => typeof value === "string" && value.trim() === "";

/** Parses one section's entries with a schema; issues become diagnostics at the key's line. */
function parseSection<S extends v.GenericSchema>(
  schema: S,
  section: RawSection,
  entries: Map<string, RawEntry>,
  extra: Record<string, unknown>,
  diags: Diagnostics,
): v.InferOutput<S> | undefined {
  const input: Record<string, unknown> = { ...extra };
  const empty = new Map<string, RawEntry>();
  for (const [key, e] of entries) {
    if (isEmpty(e.value)) empty.set(key, e);
    else input[key] = e.value;
  }
  const result = v.safeParse(schema, input);
  if (result.success) return result.output;
  for (const issue of result.issues) {
    const key = String(issue.path?.[0]?.key ?? "");
    const entry = entries.get(key);
    if (entry && !isEmpty(entry.value)) {
      diags.error(entry.line, section.name, key, `${key} = ${shown(key, entry.value)}: ${issue.message}`);
    } else if (empty.has(key)) {
      diags.error(empty.get(key)!.line, section.name, key, `${key} is empty: ${NEEDED[key] ?? "give it a value"}`);
    } else {
      diags.error(section.line, section.name, key, missing(key));
    }
  }
  return undefined;
}

function applyClamps(values: Record<string, unknown>, section: RawSection, entries: Map<string, RawEntry>, diags: Diagnostics): void {
  for (const [key, rule] of Object.entries(CLAMPS)) {
    const n = values[key];
    const entry = entries.get(key);
    if (typeof n !== "number" || !entry) continue;
    let fixed = n;
    if (rule.min !== undefined && fixed < rule.min) fixed = rule.min;
    if (rule.max !== undefined && fixed > rule.max) fixed = rule.max;
    if (fixed !== n) {
      diags.warn(entry.line, section.name, key, `${key} = ${n} is read as ${fixed} (${rule.why}), as the C MLVPN does; write ${key} = ${fixed}`);
      values[key] = fixed;
    }
  }
}

/** Builds the typed Config, or returns undefined when any error was reported. */
export function toConfig(doc: RawDocument, file: string, format: "ini" | "toml", diags: Diagnostics): Config | undefined {
  // [General] and [Filters…] are errors below, but are read as what they were meant to be so
  // that the rest of the file is still checked.
  const generalSection = doc.sections.find((s) => s.name.toLowerCase() === "general");
  const filterSections = doc.sections.filter((s) => s.name.toLowerCase().startsWith("filters"));
  const linkSections = doc.sections.filter((s) => s !== generalSection && !filterSections.includes(s));

  for (const s of doc.sections) {
    const lower = s.name.toLowerCase();
    if (s.name !== lower && (lower === "general" || lower.startsWith("filters"))) {
      diags.error(s.line, s.name, undefined, `section names are case-sensitive: write [${lower}] (the C MLVPN would take [${s.name}] as a link)`);
    }
  }
  for (const s of filterSections) {
    if (s.name !== "filters") diags.warn(s.line, s.name, undefined, `read as [filters] (any section starting with "filters" is, as in the C MLVPN); write [filters]`);
  }

  let general: GeneralConfig | undefined;
  let generalEntries = new Map<string, RawEntry>();
  if (!generalSection) {
    diags.error(undefined, "general", undefined, 'no [general] section: it must set at least mode = "client"|"server" and password = "…"');
  } else {
    const firstLink = linkSections.find((s) => s.line < generalSection.line && s.entries.length > 0);
    if (firstLink) {
      diags.warn(generalSection.line, "general", undefined, `this section comes after the link [${firstLink.name}] (line ${firstLink.line}); mlvpn applies it to every link, the C MLVPN would give that link client mode and default timeout/tolerances (move [general] to the top)`);
    }
    generalEntries = collect(generalSection, GENERAL_KEYS, LINK_KEYS, "a link section", diags);
    general = parseSection(GeneralSchema, generalSection, generalEntries, {}, diags);
    if (general) applyClamps(general, generalSection, generalEntries, diags);
  }

  const links: LinkConfig[] = [];
  for (const s of linkSections) {
    if (s.entries.length === 0) {
      diags.warn(s.line, s.name, undefined, "section has no keys, so no link is created (as in the C MLVPN)");
      continue;
    }
    const entries = collect(s, LINK_KEYS, GENERAL_KEYS, "[general]", diags);
    const inherited: Record<string, unknown> = {};
    for (const k of INHERITED) inherited[k] = general?.[k] ?? GeneralSchema.entries[k].default;
    const link = parseSection(LinkSchema, s, entries, inherited, diags);
    if (!link) continue;
    applyClamps(link, s, entries, diags);
    links.push({ name: s.name, ...link });
    if (general) checkLinkForMode(link, general.mode, s, entries, diags);
  }

  if (general && links.length === 0 && linkSections.length === 0) {
    diags.error(undefined, undefined, undefined, "no link section: add at least one, e.g. [adsl1] with remotehost/remoteport (client) or bindport (server)");
  }
  if (links.length > MAX_LINKS) {
    diags.error(linkSections[MAX_LINKS]?.line, linkSections[MAX_LINKS]?.name, undefined, `too many links: ${links.length} (at most ${MAX_LINKS})`);
  }
  if (general) checkDuplicateEndpoints(links, linkSections, general.mode, diags);
  if (general) checkRedundant(general, generalEntries, links.length, diags);
  if (general?.control_bind_host !== undefined && general.control_bind_port === undefined) {
    diags.warn(generalSection!.line, "general", "control_bind_port", "control_bind_host is set without control_bind_port: the HTTP control interface stays off");
  }
  if (general?.control_bind_port !== undefined && general.control_bind_host === undefined) {
    diags.warn(generalSection!.line, "general", "control_bind_host", 'control_bind_port is set without control_bind_host: the HTTP control interface stays off (add control_bind_host = "127.0.0.1")');
  }

  const filters = readFilters(filterSections, linkSections, general?.tuntap ?? "tun", diags);

  if (diags.hasErrors || !general) return undefined;
  return { file, format, general, filters, links };
}

function checkLinkForMode(link: v.InferOutput<typeof LinkSchema>, mode: string, s: RawSection, entries: Map<string, RawEntry>, diags: Diagnostics): void {
  const need = mode === "client" ? (["remotehost", "remoteport"] as const) : (["bindport"] as const);
  for (const key of need) {
    if (link[key] === undefined) diags.error(entries.get(key)?.line ?? s.line, s.name, key, missing(key));
  }
  if (mode === "server" && link.bindport === 0) {
    diags.error(entries.get("bindport")!.line, s.name, "bindport", "bindport = 0: a server link needs a fixed port the clients can reach");
  }
  if (mode === "client" && link.bindport !== undefined && link.bindport !== 0 && link.bindhost === undefined) {
    diags.warn(entries.get("bindport")!.line, s.name, "bindport", "bindport without bindhost: mlvpn binds this port on all addresses, the C MLVPN ignores it");
  }
  if (link.bindfib > 0) {
    diags.warn(entries.get("bindfib")!.line, s.name, "bindfib", "bindfib is a FreeBSD/OpenBSD setting and has no effect on Linux");
  }
}

function checkDuplicateEndpoints(links: LinkConfig[], sections: RawSection[], mode: string, diags: Diagnostics): void {
  const seen = new Map<string, string>();
  for (const l of links) {
    // Two server links on one address:port cannot both bind; two client links with the same
    // fixed source port neither.
    if (l.bindport === undefined || l.bindport === 0) continue;
    const id = `${l.bindhost ?? "*"}:${l.bindport}`;
    const other = seen.get(id);
    const line = sections.find((s) => s.name === l.name)?.line;
    if (other) diags.error(line, l.name, "bindport", `${mode} links [${other}] and [${l.name}] both bind ${id}`);
    else seen.set(id, l.name);
  }
}

/**
 * `[filters]`: `LINK = "expression"`, any number per link (the INI reader keeps duplicate keys
 * here, in file order; TOML gives a string or a list of strings). Every expression is compiled
 * for the tun's packets (raw IP) or the tap's (Ethernet); an error names the expression and the
 * offending token. Unlike the C MLVPN, which warned and dropped the entry, a bad entry or an
 * unknown link is an error: traffic the user pinned would otherwise silently go anywhere.
 */
function readFilters(sections: RawSection[], links: RawSection[], tuntap: "tun" | "tap", diags: Diagnostics): FilterConfig[] {
  const filters: FilterConfig[] = [];
  for (const s of sections) {
    for (const e of s.entries) {
      const expressions = Array.isArray(e.value) ? e.value : [e.value];
      if (expressions.length === 0 || expressions.some((x) => typeof x !== "string" || x.trim() === "")) {
        diags.error(e.line, s.name, e.key, `${e.key} = ${shown(e.key, e.value)}: expected a pcap filter expression in quotes, e.g. ${e.key} = "udp port 5060"`);
        continue;
      }
      if (!links.some((l) => l.name === e.key)) {
        const names = links.map((l) => l.name);
        diags.error(e.line, s.name, e.key, `filter for an unknown link "${e.key}"${names.length > 0 ? ` (the links are ${names.join(", ")})` : ""}`);
        continue;
      }
      for (const expression of expressions as string[]) {
        try {
          const f = compileFilter(expression, tuntap === "tap" ? "ether" : "raw");
          filters.push({ link: e.key, expression, normalized: f.normalized, line: e.line });
        } catch (err) {
          if (!(err instanceof FilterError)) throw err;
          diags.error(e.line, s.name, e.key, `${JSON.stringify(expression)}: ${err.describe()}`);
        }
      }
    }
  }
  return filters;
}
