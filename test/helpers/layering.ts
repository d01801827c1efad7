/**
 * The layering rule of src/ as data, and a checker that applies it to a source tree (the real
 * src/ in test/unit/layering.test.ts, and the fixtures under test/fixtures/layering/ that it must
 * reject). README.md "Development" shows the same graph as a map.
 *
 * Layers, by path inside the tree (first match wins; folders count recursively):
 *
 *   main         mlvpn.ts, main.ts, cli.ts, filter-command.ts   the entry point and its commands
 *   daemon       daemon.ts, daemon/**, reload.ts                 wires the core to the shell
 *   control      control/**, status/**                          the control interface, /status
 *   io           io/**                                          sockets, tun, FFI, OS services
 *   core         core/**                                        the sans-I/O tunnel
 *   config-load  config/load.ts                                 reads configuration files
 *   config       config/**                                      config syntax, schema and types
 *   filter       filter/**                                      the filter language (pure)
 *   wire         wire/**                                        the wire format (pure)
 *   crypto       crypto/**                                      pure cryptographic functions
 *   log          log.ts                                         log levels, sinks, repeat folding
 *   version      version.ts                                     the version string
 *
 * The graph (ALLOWED below; a layer may also use whatever the layers it may use may use):
 *
 *   main → daemon → control → io → core → config → filter
 *               ↘────────────↗     ↘ wire, crypto
 *   io → config-load → config (the root hook helper reads the configuration again); io → log, version
 *   main → filter (the `filter` subcommand); daemon, control, main → config-load
 *
 * control sits on io (its listeners use io's sockets), never the reverse; the core neither logs
 * nor reads files: it returns events, and takes its configuration as values. Never upwards,
 * never in a cycle: a cycle between two layers is reported as such, with the file edges that
 * close it; a longer one needs an edge the graph forbids, which is reported. Every kind of
 * reference counts, also the
 * type-only ones: `import`, `import type`, `export … from`, `import()` (also in type positions),
 * `require()` and a module started by path (`new URL("../x.ts", import.meta.url)`). A type-only
 * import costs nothing at run time, but it ties the two layers' code together as much as any
 * other and closes a cycle just the same.
 *
 * Modules from outside the tree: the layers below the shell (core, wire, filter, crypto,
 * config, config-load, log, version) may use only the packages listed in EXTERNAL; in
 * particular never Bun (`bun`, `bun:*`), and a Node built-in with I/O only in config-load
 * (`node:fs`: it is the file of config/ that reads files). `node:crypto` is allowed in crypto/
 * only (hashes, HMAC, HKDF, X25519, scrypt, AES-GCM, a modular exponentiation: functions of
 * their inputs; randomness is the caller's, and the call check forbids drawing it). The shell
 * layers (main, daemon, control, io) may use any. Purity is also checked transitively: nothing
 * a core or wire file reaches, by any chain of imports, may be Bun or an I/O built-in.
 *
 * The call check: the code of core, wire, filter, crypto, config and version reads no clock,
 * sets no timer, draws no randomness and touches neither `Bun` nor `process` (FORBIDDEN_CALLS).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { type ImportKind, importsOf, scan } from "./source-scan.ts";

export type Layer = "main" | "daemon" | "control" | "io" | "core" | "config-load" | "config" | "filter" | "wire" | "crypto" | "log" | "version";

export const LAYERS: [RegExp, Layer][] = [
  [/^(mlvpn|main|cli|filter-command)\.ts$/, "main"],
  [/^(daemon\.ts|daemon\/|reload\.ts$)/, "daemon"],
  [/^(control|status)\//, "control"],
  [/^io\//, "io"],
  [/^core\//, "core"],
  [/^config\/load\.ts$/, "config-load"],
  [/^config\//, "config"],
  [/^filter\//, "filter"],
  [/^wire\//, "wire"],
  [/^crypto\//, "crypto"],
  [/^log\.ts$/, "log"],
  [/^version\.ts$/, "version"],
];

/** Direct dependencies each layer may have (the transitive closure is allowed too). */
export const ALLOWED: Record<Layer, Layer[]> = {
  main: ["daemon", "control", "io", "config-load", "filter"],
  daemon: ["io", "control", "config-load"],
  // The control layer is built on the shell's sockets; io never reaches up into control.
  control: ["io", "config-load"],
  // config-load: the root hook helper reads the configuration again on reload.
  io: ["core", "config-load", "log", "version"],
  core: ["config", "wire", "crypto"],
  "config-load": ["config"],
  config: ["filter"],
  filter: [],
  wire: [],
  crypto: [],
  // The log's repeat folding is the core's pure RepeatLimiter (one limiter in the program).
  log: ["core"],
  version: [],
};

/** Packages and built-ins each pure layer may import (the shell layers may import any). */
export const EXTERNAL: Partial<Record<Layer, string[]>> = {
  core: [],
  wire: [],
  filter: [],
  crypto: ["node:crypto", "@noble/ciphers"],
  config: ["valibot", "smol-toml"],
  "config-load": ["node:fs", "node:path"],
  log: [],
  version: ["package.json"],
};

/** Layers whose transitive closure must stay free of Bun and I/O built-ins. */
export const PURE_CLOSURE: Layer[] = ["core", "wire"];

/** Node built-ins without I/O of their own: pure computation. Every other built-in counts as I/O. */
const PURE_BUILTINS = new Set(["node:crypto", "node:util", "node:path", "node:buffer", "node:assert", "node:string_decoder", "node:punycode", "node:querystring", "node:url"]);

/** Reading a clock, sleeping or drawing randomness: forbidden in the pure layers' code. */
export const FORBIDDEN_CALLS = [/\bDate\.now\b/, /\bnew Date\(\s*\)/, /\bperformance\.now\b/, /\bMath\.random\b/, /\bsetTimeout\b/, /\bsetInterval\b/, /\bsetImmediate\b/, /\bgetRandomValues\b/, /\brandomBytes\b/, /\brandomUUID\b/, /\bBun\./, /\bprocess\./];
export const NO_CALLS_LAYERS: Layer[] = ["core", "wire", "filter", "crypto", "config", "version"];

/** Every layer `layer` may depend on, itself excluded. */
export function reach(layer: Layer): Set<Layer> {
  const seen = new Set<Layer>();
  const todo = [...ALLOWED[layer]];
  while (todo.length > 0) {
    const l = todo.pop()!;
    if (seen.has(l)) continue;
    seen.add(l);
    todo.push(...ALLOWED[l]);
  }
  return seen;
}

export function layerOf(rel: string): Layer | undefined {
  return LAYERS.find(([re]) => re.test(rel))?.[1];
}

/** An edge of the file graph: `to` is a path relative to the tree, or an external module name. */
export interface Edge {
  from: string;
  to: string;
  kind: ImportKind;
  line: number;
  external: boolean;
}

/** `A → B`: what an exception or a message names. */
export const edgeName = (e: { from: string; to: string }) => `${e.from} → ${e.to}`;

function isBuiltin(name: string): boolean {
  return name.startsWith("node:") || builtinModules.includes(name.split("/")[0]!);
}

/** The package or built-in a bare specifier names: node:fs, bun:ffi, @noble/ciphers, valibot. */
function externalName(spec: string): string {
  if (spec === "bun" || spec.startsWith("bun:")) return spec;
  if (isBuiltin(spec)) return spec.startsWith("node:") ? spec.split("/")[0]! : `node:${spec.split("/")[0]}`;
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

const isIo = (name: string) => name === "bun" || name.startsWith("bun:") || (name.startsWith("node:") && !PURE_BUILTINS.has(name));

function listTs(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && statSync(join(dir, f)).isFile())
    .map((f) => f.split("\\").join("/"))
    .sort();
}

function resolveRelative(root: string, from: string, spec: string): string | undefined {
  const base = resolve(root, dirname(from), spec);
  for (const p of [base, `${base}.ts`, join(base, "index.ts")]) {
    try {
      if (statSync(p).isFile()) return p;
    } catch {}
  }
  return undefined;
}

export interface Report {
  files: string[];
  edges: Edge[];
  /** One line per violation, each naming the file and the edge. */
  violations: string[];
}

/**
 * Checks the tree under `root`. `exceptions` are edges (`from → to`) tolerated for now; the ones
 * that no longer occur are reported as violations too, so that the list only ever shrinks.
 */
export function checkLayering(root: string, exceptions: readonly string[] = []): Report {
  const files = listTs(root);
  const edges: Edge[] = [];
  const problems: string[] = [];
  const tolerated = new Set(exceptions);
  const used = new Set<string>();
  const flag = (edge: { from: string; to: string }, message: string) => {
    const name = edgeName(edge);
    if (tolerated.has(name)) used.add(name);
    else problems.push(message);
  };

  for (const file of files) {
    const text = readFileSync(join(root, file), "utf8");
    const { refs, unchecked } = importsOf(text);
    for (const line of unchecked) problems.push(`${file}:${line}: import()/require() of a computed name: what it loads cannot be checked`);
    for (const r of refs) {
      if (r.specifier.startsWith(".")) {
        const abs = resolveRelative(root, file, r.specifier);
        if (!abs) {
          problems.push(`${file}:${r.line}: ${r.kind} "${r.specifier}" does not resolve to a file`);
          continue;
        }
        const rel = relative(root, abs).split("\\").join("/");
        const outside = rel.startsWith("..");
        edges.push({ from: file, to: outside ? (rel.split("/").pop() ?? rel) : rel, kind: r.kind, line: r.line, external: outside });
      } else {
        edges.push({ from: file, to: externalName(r.specifier), kind: r.kind, line: r.line, external: true });
      }
    }
  }

  const out = new Map<string, Edge[]>();
  for (const e of edges) out.set(e.from, [...(out.get(e.from) ?? []), e]);

  // Direct edges: every file in a layer, every edge allowed by the graph or the layer's externals.
  for (const file of files) {
    const layer = layerOf(file);
    if (!layer) {
      problems.push(`${file}: in no layer (add its path to LAYERS in test/helpers/layering.ts)`);
      continue;
    }
    const allowed = reach(layer);
    for (const e of out.get(file) ?? []) {
      const where = `${e.from}:${e.line}: ${e.kind}`;
      if (e.external) {
        const ok = EXTERNAL[layer];
        if (ok && !ok.includes(e.to)) flag(e, `${where} ${edgeName(e)}: ${layer} may not use ${e.to} (allowed: ${ok.join(", ") || "nothing outside the tree"})`);
        continue;
      }
      const target = layerOf(e.to);
      if (target && target !== layer && !allowed.has(target)) flag(e, `${where} ${edgeName(e)}: ${layer} may not depend on ${target} (${layer} → ${[...allowed].join(", ") || "nothing"})`);
    }
  }

  // Transitive purity: the chain from a core or wire file to Bun or an I/O built-in.
  for (const file of files) {
    const layer = layerOf(file);
    if (!layer || !PURE_CLOSURE.includes(layer)) continue;
    const via = new Map<string, string[]>([[file, [file]]]);
    const todo = [file];
    while (todo.length > 0) {
      const f = todo.shift()!;
      for (const e of out.get(f) ?? []) {
        const chain = [...via.get(f)!, e.to];
        if (e.external) {
          // A direct import is reported above; here, what is reached through other files.
          if (isIo(e.to) && chain.length > 2) flag({ from: file, to: e.to }, `${file} reaches ${e.to} through ${chain.join(" → ")}: ${layer} must stay free of I/O`);
          continue;
        }
        if (!via.has(e.to)) {
          via.set(e.to, chain);
          todo.push(e.to);
        }
      }
    }
  }

  // Cycles between layers (type-only imports included), each with the file edges that close it.
  const layerEdges = new Map<string, Edge[]>();
  for (const e of edges) {
    const a = layerOf(e.from);
    const b = e.external ? undefined : layerOf(e.to);
    if (a && b && a !== b) layerEdges.set(`${a}>${b}`, [...(layerEdges.get(`${a}>${b}`) ?? []), e]);
  }
  const reported = new Set<string>();
  for (const key of layerEdges.keys()) {
    const [a, b] = key.split(">") as [Layer, Layer];
    const back = layerEdges.get(`${b}>${a}`);
    if (!back || reported.has(`${b}>${a}`)) continue;
    reported.add(key);
    const forth = layerEdges.get(key)!;
    // Tolerated when the exceptions are what closes it (their direct edges were marked above).
    const tol = (e: Edge) => tolerated.has(edgeName(e));
    if (forth.every(tol) || back.every(tol)) continue;
    problems.push(`cycle between ${a} and ${b}: ${[forth[0]!, back[0]!].map((e) => `${e.from}:${e.line} ${e.kind} ${e.to}`).join("; ")}`);
  }

  for (const x of exceptions) if (!used.has(x)) problems.push(`exception ${x} no longer occurs: remove it from the list`);

  // The pure layers' code: no clock, no timers, no randomness, no Bun, no process.
  for (const file of files) {
    const layer = layerOf(file);
    if (!layer || !NO_CALLS_LAYERS.includes(layer)) continue;
    const { masked } = scan(readFileSync(join(root, file), "utf8"));
    for (const re of FORBIDDEN_CALLS) {
      const m = re.exec(masked);
      if (m) problems.push(`${file}:${masked.slice(0, m.index).split("\n").length}: ${layer} code may not call ${m[0]}`);
    }
  }
  return { files, edges, violations: problems };
}
