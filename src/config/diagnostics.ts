/**
 * Config diagnostics: every problem found while reading a configuration file, with the place
 * (file:line), the section and key, what was read and what to write instead.
 *
 * Errors stop the program from starting; warnings are printed and the program goes on. The
 * password (and any other secret key) is never echoed: `shown()` redacts it.
 */

export type Severity = "error" | "warning";

export interface Diagnostic {
  severity: Severity;
  file: string;
  /** 1-based line, absent when the problem concerns the whole file. */
  line?: number;
  /** Section the key belongs to, without brackets. */
  section?: string;
  key?: string;
  message: string;
}

/** Keys whose values must never appear in any output. */
export const SECRET_KEYS: ReadonlySet<string> = new Set(["password"]);

export const REDACTED = "<redacted>";

/** The value as it may be shown to a user: secrets redacted, strings quoted unless plain words. */
export function shown(key: string, value: unknown): string {
  if (SECRET_KEYS.has(key)) return REDACTED;
  if (typeof value === "string") return /^[A-Za-z0-9._:/+-]+$/.test(value) ? value : JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => shown(key, v)).join(", ")}]`;
  return String(value);
}

/**
 * `file:line: severity: [section] key: message`, parts omitted when unknown; the key is not
 * repeated when the message already starts with it (`timeout = "abc": expected …`).
 */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line === undefined ? d.file : `${d.file}:${d.line}`;
  const section = d.section === undefined ? "" : `[${d.section}] `;
  const key = d.key === undefined || d.message.startsWith(d.key) ? "" : `${d.key}: `;
  return `${where}: ${d.severity}: ${section}${key}${d.message}`;
}

/** Collects diagnostics for one file. */
export class Diagnostics {
  readonly list: Diagnostic[] = [];
  constructor(readonly file: string) {}

  error(line: number | undefined, section: string | undefined, key: string | undefined, message: string): void {
    this.add("error", line, section, key, message);
  }

  warn(line: number | undefined, section: string | undefined, key: string | undefined, message: string): void {
    this.add("warning", line, section, key, message);
  }

  get hasErrors(): boolean {
    return this.list.some((d) => d.severity === "error");
  }

  private add(severity: Severity, line: number | undefined, section: string | undefined, key: string | undefined, message: string): void {
    const d: Diagnostic = { severity, file: this.file, message };
    if (line !== undefined) d.line = line;
    if (section !== undefined) d.section = section;
    if (key !== undefined) d.key = key;
    this.list.push(d);
  }
}
