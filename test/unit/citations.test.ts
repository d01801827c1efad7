/**
 * Comments cite only files of this repository: a reader of the code must be able to open what a
 * comment points to. Flagged in the comments of src/, test/ and scripts/, and in the Markdown
 * documents (README.md, docs/, the other top-level *.md):
 * - a `*.md` path that names no file of the repository (such as the design notes the project
 *   started from, kept outside it);
 * - a path into the folder those notes are shared in;
 * - the short forms that meant those notes: the word reference with a section number, the
 *   name of the Bun I/O note without its extension (the patterns in OUTSIDE).
 * What such a note said belongs in README.md or docs/*.md, in this repository, cited from there.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { scan } from "../helpers/source-scan.ts";

const ROOT = join(import.meta.dir, "..", "..");

/** Files tolerated with a citation outside the repository, each with its reason: none left. */
const TEMPORARY_EXCEPTIONS: string[] = [];

const OUTSIDE = [/\.\.\/shared\//, /\/work\/shared\b/, /\b(?:design\s+)?reference\s+§|\bdesign reference\b/i, /\bbun-io\b(?!\.md)/];
const MD_PATH = /(?<![\w/.-])(?:\.{0,2}\/)?[\w./-]*[\w-]\.md\b/g;

function walk(dir: string, keep: (f: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => !f.split("/").includes("node_modules") && keep(f) && statSync(join(dir, f)).isFile())
    .map((f) => relative(ROOT, join(dir, f)));
}

const MARKDOWN = [...walk(ROOT, (f) => !f.includes("/") && f.endsWith(".md")), ...walk(join(ROOT, "docs"), (f) => f.endsWith(".md"))].sort();
const CODE = ["src", "test", "scripts", "bench"].flatMap((d) => walk(join(ROOT, d), (f) => f.endsWith(".ts"))).sort();
const REPO_MD = new Set([...MARKDOWN, ...walk(join(ROOT, "bench"), (f) => f.endsWith(".md")), ...walk(join(ROOT, "examples"), (f) => f.endsWith(".md"))]);

/** A cited `*.md` exists: from the repository root, from the citing file's folder, or as the name of one of the repository's documents. */
function exists(file: string, cited: string): boolean {
  const p = cited.replace(/^\.\//, "");
  if (existsSync(join(ROOT, p)) || existsSync(join(ROOT, dirname(file), cited))) return true;
  return !p.includes("/") && [...REPO_MD].some((m) => m.split("/").pop() === p);
}

/** The outside citations in one text: `line: what`. */
export function outsideCitations(file: string, chunks: { line: number; text: string }[]): string[] {
  const found: string[] = [];
  for (const { line, text } of chunks) {
    text.split("\n").forEach((t, k) => {
      for (const re of OUTSIDE) {
        const m = re.exec(t);
        if (m) found.push(`${file}:${line + k}: "${m[0]}" cites a note outside the repository`);
      }
      for (const m of t.matchAll(MD_PATH)) if (!exists(file, m[0])) found.push(`${file}:${line + k}: ${m[0]} is no file of this repository`);
    });
  }
  return found;
}

function citationsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  return outsideCitations(file, file.endsWith(".md") ? [{ line: 1, text }] : scan(text).comments);
}

describe("comments and documents cite only files of this repository", () => {
  const all = [...MARKDOWN, ...CODE];
  const found = new Map(all.map((f) => [f, citationsOf(f)]));

  test("there is something to check", () => {
    expect(CODE.length).toBeGreaterThan(100);
    expect(MARKDOWN).toContain("README.md");
  });

  test("no outside citation, except in the temporary list", () => {
    expect(all.filter((f) => !TEMPORARY_EXCEPTIONS.includes(f)).flatMap((f) => found.get(f)!)).toEqual([]);
  });

  test("every temporary exception is still needed", () => {
    expect(TEMPORARY_EXCEPTIONS.filter((f) => (found.get(f) ?? []).length === 0)).toEqual([]);
  });

  test("the check flags the ways a note outside was cited, and not the repository's own files", () => {
    const flagged = (t: string) => outsideCitations("src/core/x.ts", [{ line: 1, text: t }]).length;
    for (const t of ["see mlvpn-c-reference.md §3", "(bun-io.md §4)", "peers.md", "style.md", "security-review-v1.md", "../shared/design/x", "/work/shared/traces", "(reference §12 #10)", "design reference §7", "bun-io §2"]) expect([t, flagged(t)]).toEqual([t, 1]);
    for (const t of ["docs/protocol.md", "README.md", "(RFC 4443 §3.2)", "issue 11 §3", "docs/filters.md §2", "the reference configuration"]) expect([t, flagged(t)]).toEqual([t, 0]);
  });
});
