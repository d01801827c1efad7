/**
 * Value types of the configuration, as valibot schemas from a raw value (an INI string, or a TOML
 * string/number/boolean/array) to a typed value.
 *
 * Messages say what was expected and, where the C MLVPN would silently have read something else
 * (`atoi("30s")` = 30, `"yes"` = 0, any mode but "server" = client), what it would have read, so
 * that a user moving a config over understands why we refuse it.
 */
import * as v from "valibot";
import type { RawValue } from "./raw.ts";

type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(message: string): Parsed<T> => ({ ok: false, message });

/** Wraps a parse function as a valibot schema whose only issue message is ours. */
function field<T>(parse: (raw: RawValue) => Parsed<T>) {
  return v.pipe(
    v.custom<RawValue>(() => true),
    v.rawTransform<RawValue, T>(({ dataset, addIssue, NEVER }) => {
      const r = parse(dataset.value);
      if (r.ok) return r.value;
      addIssue({ message: r.message });
      return NEVER;
    }),
  );
}

// Control characters would end up in argv/environment of the status script or in logs.
const CONTROL = /[\x00-\x1f\x7f]/;

/** C `atoi`: what the C MLVPN stores for a number it cannot read. */
function atoi(s: string): number {
  const m = /^\s*([+-]?\d+)/.exec(s);
  if (!m) return 0;
  const n = Number.parseInt(m[1]!, 10);
  return n < 0 ? (n + 2 ** 32) % 2 ** 32 : n;
}

export interface UintOptions {
  min?: number;
  max?: number;
  /** Unit appended to "a whole number", e.g. "of seconds". */
  unit?: string;
}

function parseUint(raw: RawValue, o: UintOptions): Parsed<number> {
  const what = `a whole number${o.unit ? ` ${o.unit}` : ""}`;
  let n: number;
  if (typeof raw === "number") {
    if (!Number.isInteger(raw)) return fail(`expected ${what}, not ${raw}`);
    n = raw;
  } else if (typeof raw === "string") {
    const s = raw.trim();
    if (!/^[+]?\d+$/.test(s)) {
      const c = atoi(s);
      const lead = /^\s*\+?(\d+)/.exec(s);
      const fix = lead ? `; write ${lead[1]}` : "";
      return fail(`expected ${what} (the C MLVPN would silently read ${c})${fix}`);
    }
    n = Number.parseInt(s, 10);
  } else {
    return fail(`expected ${what}, not a ${Array.isArray(raw) ? "list" : typeof raw}`);
  }
  const min = o.min ?? 0;
  const max = o.max ?? Number.MAX_SAFE_INTEGER;
  if (n < min || n > max) return fail(`must be between ${min} and ${max}`);
  return ok(n);
}

export const uint = (o: UintOptions = {}) => field((raw) => parseUint(raw, o));

/** 0/1 flags (C reads them with atoi, so "yes" or "true" silently mean 0 there). */
export const flag = () =>
  field<boolean>((raw) => {
    if (typeof raw === "boolean") return ok(raw);
    if (raw === 0 || raw === 1) return ok(raw === 1);
    if (typeof raw === "string" && /^\s*[01]\s*$/.test(raw)) return ok(raw.trim() === "1");
    const c = typeof raw === "string" ? atoi(raw) : undefined;
    const note = c === undefined ? "" : ` (the C MLVPN would read ${c !== 0 ? "1 (on)" : "0 (off)"})`;
    return fail(`expected 0 or 1${note}`);
  });

/**
 * One of a fixed set of words. `cReads` says what the C MLVPN makes of any other word
 * (e.g. mode: anything but "server" is a client).
 */
export const oneOf = <const T extends string>(values: readonly T[], cReads?: (s: string) => string) =>
  field<T>((raw) => {
    if (typeof raw !== "string") return fail(`expected one of ${values.map((x) => `"${x}"`).join(", ")}`);
    const s = raw.trim();
    if ((values as readonly string[]).includes(s)) return ok(s as T);
    const near = values.find((x) => x.toLowerCase() === s.toLowerCase());
    const note = cReads ? ` (the C MLVPN would run this as ${cReads(s)})` : "";
    const hint = near ? `; write "${near}" (values are case-sensitive)` : "";
    return fail(`expected ${values.map((x) => `"${x}"`).join(" or ")}${note}${hint}`);
  });

function asText(raw: RawValue): Parsed<string> {
  if (typeof raw !== "string") return fail(`expected a string in quotes, not ${Array.isArray(raw) ? "a list" : String(raw)}`);
  if (CONTROL.test(raw)) return fail("control characters (tab, newline…) are not allowed");
  return ok(raw);
}

/** Free text handed to the status script (ip4, ip6, gateways). */
export const text = () => field(asText);

export const secret = () =>
  field<string>((raw) => {
    if (typeof raw !== "string") return fail("expected a string in quotes");
    if (raw === "") return fail("is empty");
    return ok(raw);
  });

/** Route lists: a space-separated string, or in TOML also a list of strings. */
export const routes = () =>
  field<string>((raw) => {
    const parts = Array.isArray(raw) ? raw : typeof raw === "string" ? [raw] : undefined;
    if (!parts) return fail("expected a quoted, space-separated list of routes");
    for (const p of parts) if (CONTROL.test(p)) return fail("control characters (tab, newline…) are not allowed");
    return ok(parts.join(" ").trim().split(/ +/).join(" "));
  });

export const path = () =>
  field<string>((raw) => {
    const r = asText(raw);
    if (!r.ok) return r;
    if (r.value.trim() === "") return fail("is empty");
    return r;
  });

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOSTNAME = /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export function isIPv4(s: string): boolean {
  return IPV4.test(s);
}

export function isIPv6(s: string): boolean {
  if (!/^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$/.test(s) || !s.includes(":")) return false;
  const addr = s.split("%")[0]!;
  const halves = addr.split("::");
  if (halves.length > 2) return false;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const all = halves.flatMap(groups);
  let count = all.length;
  const last = all[all.length - 1];
  if (last !== undefined && last.includes(".")) {
    if (!isIPv4(last)) return false;
    count += 1; // an embedded IPv4 takes two groups
    all.pop();
  }
  if (!all.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  return halves.length === 2 ? count <= 7 : count === 8;
}

/** A host name, IPv4 or IPv6 address (no brackets, no port). */
export const host = () =>
  field<string>((raw) => {
    if (typeof raw !== "string") return fail("expected a host name or IP address in quotes");
    const s = raw.trim();
    if (/^\[.*\]$/.test(s)) return fail(`write the address without brackets: "${s.slice(1, -1)}"`);
    const withPort = /^([^:]+):\d+$/.exec(s);
    if (withPort && (isIPv4(withPort[1]!) || HOSTNAME.test(withPort[1]!))) {
      return fail("write the port in its own key (bindport/remoteport), not after the address");
    }
    if (isIPv4(s) || isIPv6(s) || HOSTNAME.test(s)) return ok(s);
    return fail("expected a host name or an IPv4/IPv6 address");
  });

/** A UDP/TCP port number (service names are not supported). */
export const port = (min = 1) =>
  field<number>((raw) => {
    const r = parseUint(raw, { min, max: 65535 });
    if (r.ok) return r;
    return fail(`expected a port number ${min}–65535`);
  });

/** Linux interface names: at most 15 bytes, no blanks, '/' or ':'; '%d' lets the kernel number it. */
export const interfaceName = () =>
  field<string>((raw) => {
    const r = asText(raw);
    if (!r.ok) return r;
    const s = r.value;
    if (s === "" || s.length > 15) return fail("must be 1 to 15 characters long (Linux limit)");
    if (/[\s/:]/.test(s) || s === "." || s === "..") return fail("must not contain blanks, '/' or ':'");
    return ok(s);
  });
