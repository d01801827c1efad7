/**
 * The sans-I/O rule: src/core and src/wire hold state machines and codecs that take time and
 * randomness as inputs. They must not import the I/O shell, Bun, or anything that reads a clock,
 * sleeps or draws random numbers by itself.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const SRC = join(import.meta.dir, "..", "..", "src");
const PURE = ["core", "wire", "filter"];
const ALLOWED_IMPORT = /^(\.\/|\.\.\/(core|wire|crypto|config|filter)\/)/;
const FORBIDDEN_CALLS = [/\bDate\.now\b/, /\bperformance\.now\b/, /\bMath\.random\b/, /\bsetTimeout\b/, /\bsetInterval\b/, /\bsetImmediate\b/, /\bcrypto\.getRandomValues\b/, /\brandomBytes\b/, /\bBun\./, /\bprocess\./];

const files = PURE.flatMap((dir) =>
  readdirSync(join(SRC, dir))
    .filter((f) => f.endsWith(".ts"))
    .map((f) => join(dir, f)),
);

test("there are core modules to check", () => {
  expect(files.length).toBeGreaterThan(10);
});

test.each(files)("%s imports nothing from the shell, Bun or Node", (file) => {
  const text = readFileSync(join(SRC, file), "utf8");
  const imports = [...text.matchAll(/^import[^"']*["']([^"']+)["']/gm)].map((m) => m[1]!);
  expect(imports.filter((i) => !ALLOWED_IMPORT.test(i))).toEqual([]);
  const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
  expect(FORBIDDEN_CALLS.filter((re) => re.test(code)).map(String)).toEqual([]);
});
