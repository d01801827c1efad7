/**
 * A small lexer for TypeScript sources, enough for the layering and citation checks
 * (test/unit/layering.test.ts, test/unit/citations.test.ts): it separates comments, string and
 * template literals, and regular expression literals from the code, so that an `import` inside
 * a comment or a string is not taken for one, and a citation inside code is not taken for a
 * comment. It does not parse: statements are then found with patterns on the masked code.
 */

export interface Comment {
  /** 1-based line of the comment's start. */
  line: number;
  text: string;
}

export interface Scanned {
  /** The source with comments blanked and the content of every literal replaced by `_` (same offsets, same newlines). */
  masked: string;
  /** Each string or template literal's value (raw, without its quotes), by the offset of its opening quote. */
  literals: Map<number, string>;
  comments: Comment[];
}

const KEYWORDS_BEFORE_REGEX = new Set(["return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "yield", "await", "instanceof"]);

export function scan(src: string): Scanned {
  const out = src.split("");
  const literals = new Map<number, string>();
  const comments: Comment[] = [];
  const blank = (from: number, to: number, fill: string) => {
    for (let k = from; k < to; k++) if (out[k] !== "\n") out[k] = fill;
  };
  const lineAt = (pos: number) => {
    let n = 1;
    for (let k = 0; k < pos; k++) if (src[k] === "\n") n++;
    return n;
  };
  // Brace depth of each open `${` of a template literal, innermost last.
  const templates: number[] = [];
  let depth = 0;
  // The last significant character of code, to tell a regex literal from a division.
  let prev = "";
  let prevWord = "";
  let i = 0;

  /** Reads a template literal's text from i (just after ` or }) to its end or to `${`. */
  const templateChunk = (start: number) => {
    let j = i;
    while (j < src.length && src[j] !== "`" && !(src[j] === "$" && src[j + 1] === "{")) j += src[j] === "\\" ? 2 : 1;
    blank(i, j, "_");
    const closed = src[j] === "`";
    if (closed) literals.set(start, src.slice(start + 1, j));
    i = closed ? j + 1 : j + 2;
    if (!closed) templates.push(depth++);
    prev = closed ? "`" : "{";
  };

  while (i < src.length) {
    const c = src[i]!;
    const next = src[i + 1];
    if (c === "/" && next === "/") {
      const end = src.indexOf("\n", i);
      const j = end < 0 ? src.length : end;
      comments.push({ line: lineAt(i), text: src.slice(i, j) });
      blank(i, j, " ");
      i = j;
      continue;
    }
    if (c === "/" && next === "*") {
      const end = src.indexOf("*/", i + 2);
      const j = end < 0 ? src.length : end + 2;
      comments.push({ line: lineAt(i), text: src.slice(i, j) });
      blank(i, j, " ");
      i = j;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < src.length && src[j] !== c && src[j] !== "\n") j += src[j] === "\\" ? 2 : 1;
      literals.set(i, src.slice(i + 1, j));
      blank(i + 1, j, "_");
      i = j + 1;
      prev = c;
      continue;
    }
    if (c === "`") {
      const start = i;
      i++;
      templateChunk(start);
      continue;
    }
    if (c === "}" && templates.length > 0 && templates[templates.length - 1] === depth - 1) {
      templates.pop();
      depth--;
      i++;
      templateChunk(-1);
      continue;
    }
    if (c === "/" && (prev === "" || "(,=:[!&|?{};+-*%<>~^".includes(prev) || KEYWORDS_BEFORE_REGEX.has(prevWord))) {
      let j = i + 1;
      let inClass = false;
      while (j < src.length && src[j] !== "\n" && (inClass || src[j] !== "/")) {
        if (src[j] === "\\") j++;
        else if (src[j] === "[") inClass = true;
        else if (src[j] === "]") inClass = false;
        j++;
      }
      blank(i + 1, j, "_");
      i = j + 1;
      prev = "/";
      prevWord = "";
      continue;
    }
    if (c === "{") depth++;
    else if (c === "}") depth--;
    if (/[\w$]/.test(c)) {
      let j = i;
      while (j < src.length && /[\w$]/.test(src[j]!)) j++;
      prevWord = src.slice(i, j);
      prev = "a";
      i = j;
      continue;
    }
    if (!/\s/.test(c)) {
      prev = c;
      prevWord = "";
    }
    i++;
  }
  return { masked: out.join(""), literals, comments };
}

export type ImportKind = "import" | "import type" | "export … from" | "export type … from" | "import()" | "new URL(…, import.meta.url)" | "require()";

export interface ImportRef {
  specifier: string;
  kind: ImportKind;
  line: number;
}

/** Every module a file names: static imports (type-only included), re-exports, import(), require() and `new URL("./x", import.meta.url)`. */
export function importsOf(src: string): { refs: ImportRef[]; unchecked: number[] } {
  const { masked, literals } = scan(src);
  const refs: ImportRef[] = [];
  const unchecked: number[] = [];
  const lineAt = (pos: number) => masked.slice(0, pos).split("\n").length;
  const take = (re: RegExp, kindOf: (m: RegExpExecArray) => ImportKind | undefined) => {
    for (const m of masked.matchAll(re)) {
      const quote = m.index! + m[0].length - 1;
      const spec = literals.get(quote);
      const kind = kindOf(m as RegExpExecArray);
      if (spec !== undefined && kind) refs.push({ specifier: spec, kind, line: lineAt(m.index!) });
    }
  };
  // import X from "m"; import type { A } from "m"; import X, { type B } from "m"; import * as ns from "m"
  take(/(?<![\w$.])import\s+(type\s+)?[\w$*{}\s,]*?\s*\bfrom\s*["']/g, (m) => (m[1] ? "import type" : "import"));
  // import "m" (for its side effects)
  take(/(?<![\w$.])import\s*["']/g, () => "import");
  // export * from "m"; export * as ns from "m"; export { a, type b } from "m"; export type { T } from "m"
  take(/(?<![\w$.])export\s+(type\s+)?(?:\*(?:\s+as\s+[\w$]+)?|\{[\w$\s,]*\})\s*from\s*["']/g, (m) => (m[1] ? "export type … from" : "export … from"));
  // import("m"), also in type positions: import("m").T
  take(/(?<![\w$.])import\s*\(\s*["'`]/g, () => "import()");
  take(/(?<![\w$.])require\s*\(\s*["'`]/g, () => "require()");
  // A module started or loaded by path: new URL("./x.ts", import.meta.url)
  for (const m of masked.matchAll(/\bnew\s+URL\s*\(\s*["'`]/g)) {
    const quote = m.index! + m[0].length - 1;
    const spec = literals.get(quote);
    const rest = masked.slice(quote + (spec?.length ?? 0) + 2, quote + (spec?.length ?? 0) + 200);
    if (spec !== undefined && /^\s*,\s*import\.meta\.url/.test(rest) && spec.startsWith(".")) refs.push({ specifier: spec, kind: "new URL(…, import.meta.url)", line: lineAt(m.index!) });
  }
  // import(expression) / require(expression): what it loads cannot be checked.
  for (const m of masked.matchAll(/(?<![\w$.])(?:import|require)\s*\(\s*(?!["'`\s])/g)) unchecked.push(lineAt(m.index!));
  return { refs, unchecked };
}
