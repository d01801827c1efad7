/**
 * Reader for MLVPN's INI dialect.
 *
 * Every file the C MLVPN 2.3.5 accepts means the same here, except where the C parser silently
 * changes what the user wrote (README.md, "Where mlvpn reads a file differently from the C
 * MLVPN"). There we do the sane thing and warn, naming the line and what the C program would
 * have read:
 *   - unquoted spaces inside a value are kept (C deletes them: `a b` → `ab`);
 *   - a tab next to a key is whitespace (C keeps it in the key, which then never matches);
 *   - `key = [::1]` is a key/value line (C takes any line with `[`…`]` as a section header);
 *   - the last line is read even without a final newline (C drops it);
 *   - a second unquoted `=` stays in the value (C drops the line).
 * `#` starts a comment outside double quotes; `"` toggles quoting anywhere and is removed.
 */
import type { Diagnostics } from "./diagnostics.ts";
import { shown } from "./diagnostics.ts";
import { type RawDocument, type RawSection, sectionFor } from "./raw.ts";

const isBlank = (c: string | undefined): boolean => c === " " || c === "\t";

/** One character of a value with whether it stood inside quotes. */
interface ValueChar {
  c: string;
  quoted: boolean;
}

/** Cuts an unquoted `#` comment; reports whether a quote was left open. */
function stripComment(line: string): { content: string; openQuote: boolean } {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') quoted = !quoted;
    else if (c === "#" && !quoted) return { content: line.slice(0, i), openQuote: false };
  }
  return { content: line, openQuote: quoted };
}

/** Index of the first `=` outside quotes, or -1. */
function unquotedIndexOf(text: string, ch: string, from = 0): number {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (c === ch && !quoted && i >= from) return i;
  }
  return -1;
}

function unquote(text: string): ValueChar[] {
  const out: ValueChar[] = [];
  let quoted = false;
  for (const c of text) {
    if (c === '"') quoted = !quoted;
    else out.push({ c, quoted });
  }
  return out;
}

function trimUnquoted(chars: ValueChar[]): ValueChar[] {
  let start = 0;
  let end = chars.length;
  while (start < end && !chars[start]!.quoted && isBlank(chars[start]!.c)) start++;
  while (end > start && !chars[end - 1]!.quoted && isBlank(chars[end - 1]!.c)) end--;
  return chars.slice(start, end);
}

/** What C MLVPN would have stored for this value: unquoted spaces deleted, ends trimmed. */
function cReading(chars: ValueChar[]): string {
  return chars
    .filter((v) => v.quoted || v.c !== " ")
    .map((v) => v.c)
    .join("")
    .replace(/^ +| +$/g, "");
}

// Non-ASCII bytes make C MLVPN drop the whole line.
const NON_ASCII = /[^\x00-\x7f]/;

export function parseIni(text: string, diags: Diagnostics): RawDocument {
  const doc: RawDocument = { sections: [] };
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  const lines = text.split("\n");
  const lastTerminated = text.endsWith("\n");
  if (lastTerminated) lines.pop();

  // null after a broken header: its keys are skipped, not filed under the previous section.
  let current: RawSection | undefined | null;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!.replaceAll("\r", "");
    const { content, openQuote } = stripComment(line);
    const trimmed = content.trim();
    if (trimmed === "") continue;

    if (!lastTerminated && i === lines.length - 1) {
      diags.warn(lineNo, current?.name, undefined, "the last line has no newline at its end; mlvpn reads it, the C MLVPN ignores it (add a newline)");
    }

    if (trimmed.startsWith("[")) {
      current = readHeader(trimmed, lineNo, doc, diags) ?? null;
      continue;
    }
    if (trimmed.startsWith(";")) {
      diags.warn(lineNo, current?.name, undefined, "';' is not a comment in MLVPN's format: line ignored (use '#' for comments)");
      continue;
    }
    if (current !== null) readKeyValue(content, lineNo, openQuote, current, diags);
  }
  return doc;
}

function readHeader(trimmed: string, lineNo: number, doc: RawDocument, diags: Diagnostics): RawSection | undefined {
  const close = trimmed.indexOf("]");
  if (close < 0) {
    diags.error(lineNo, undefined, undefined, `section header ${JSON.stringify(trimmed)} has no closing ']'; write [name]`);
    return undefined;
  }
  const inner = trimmed.slice(1, close);
  if (inner.includes("[")) {
    diags.error(lineNo, undefined, undefined, `section header ${JSON.stringify(trimmed)} has a second '['; write [name]`);
    return undefined;
  }
  const after = trimmed.slice(close + 1).trim();
  if (after !== "") {
    diags.warn(lineNo, undefined, undefined, `text after the section header is ignored: ${JSON.stringify(after)}`);
  }
  let name = inner.trim();
  if (name !== inner) {
    diags.warn(lineNo, name, undefined, `spaces around the section name are ignored; the C MLVPN reads a section named ${JSON.stringify(inner)} (write [${name}])`);
  }
  if (name.includes('"')) {
    diags.warn(lineNo, name.replaceAll('"', ""), undefined, `quotes in a section name are ignored; the C MLVPN keeps them as part of the name (write [${name.replaceAll('"', "")}])`);
    name = name.replaceAll('"', "").trim();
  }
  if (name === "") {
    diags.error(lineNo, undefined, undefined, "empty section name '[]'; write [general], [filters] or [LINKNAME]");
    return undefined;
  }
  const { section, repeated } = sectionFor(doc, name, lineNo);
  if (repeated) {
    diags.warn(lineNo, name, undefined, `section [${name}] appears again (first at line ${section.line}); its keys are merged, the first value of a key wins`);
  }
  return section;
}

function readKeyValue(content: string, lineNo: number, openQuote: boolean, current: RawSection | undefined, diags: Diagnostics): void {
  const section = current?.name;
  const eq = unquotedIndexOf(content, "=");
  if (eq < 0) {
    const word = content.trim().split(/[ \t]+/)[0] ?? "";
    diags.warn(lineNo, section, undefined, `line ignored: no '=' in ${JSON.stringify(content.trim())} (the C MLVPN ignores it too); write "${word} = VALUE"`);
    return;
  }
  const keyPart = content.slice(0, eq);
  let key = keyPart.replaceAll('"', "").trim();
  if (key === "") {
    diags.warn(lineNo, section, undefined, "line ignored: nothing before '='; write KEY = VALUE");
    return;
  }
  if (/[ \t]/.test(key)) {
    const joined = key.replace(/[ \t]+/g, "");
    diags.warn(lineNo, section, joined, `the key ${JSON.stringify(key)} contains blanks; read as ${JSON.stringify(joined)} like the C MLVPN (write ${joined} = …)`);
    key = joined;
  }
  if (/\t/.test(keyPart)) {
    diags.warn(lineNo, section, key, "a tab next to the key is read as a blank; the C MLVPN keeps the tab in the key and ignores the line (use spaces)");
  }
  if (keyPart.includes('"')) {
    diags.warn(lineNo, section, key, "quotes in a key are ignored; write the key without quotes");
  }

  const valuePart = content.slice(eq + 1);
  const chars = trimUnquoted(unquote(valuePart));
  const value = chars.map((v) => v.c).join("");

  if (openQuote) {
    diags.warn(lineNo, section, key, "unterminated '\"': the value runs to the end of the line (add the closing quote)");
  }
  if (unquotedIndexOf(valuePart, "=") >= 0) {
    diags.warn(lineNo, section, key, `the value contains an unquoted '='; mlvpn keeps it, the C MLVPN drops the whole line (quote the value: ${key} = "…")`);
  }
  if (chars.some((v) => !v.quoted && isBlank(v.c))) {
    const c = cReading(chars);
    diags.warn(lineNo, section, key, `the value ${shown(key, value)} has unquoted blanks; mlvpn keeps them, the C MLVPN deletes them and reads ${shown(key, c)} (quote the value: ${key} = "…")`);
  }
  if (NON_ASCII.test(key) || NON_ASCII.test(value)) {
    diags.warn(lineNo, section, key, "non-ASCII characters: mlvpn reads them as UTF-8, the C MLVPN drops this line");
  }
  if (!current) {
    diags.warn(lineNo, undefined, key, "key outside any section is ignored; put it under [general] or a link section");
    return;
  }
  current.entries.push({ key, value, line: lineNo });
}
