import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { DEFAULT_OPTIONS, parseArgs, parseStatusArgs } from "../../src/cli.ts";
import { runMain } from "../helpers/run.ts";

const run = (argv: string[]) => {
  const r = parseArgs(argv);
  if (r.kind !== "run") throw new Error(`expected run, got ${r.kind}`);
  return r.options;
};

describe("command line (mlvpn(1))", () => {
  test("defaults are those of the C MLVPN", () => {
    expect(run([])).toEqual(DEFAULT_OPTIONS);
    expect(DEFAULT_OPTIONS).toMatchObject({ config: "mlvpn.conf", user: "mlvpn", name: "mlvpn", verbosity: 2 });
  });

  test("every spelling of an option with a value", () => {
    expect(run(["-c", "a.conf"]).config).toBe("a.conf");
    expect(run(["-ca.conf"]).config).toBe("a.conf");
    expect(run(["--config", "a.conf"]).config).toBe("a.conf");
    expect(run(["--config=a.conf"]).config).toBe("a.conf");
    expect(run(["--user=mlvpn2", "-n", "office"])).toMatchObject({ user: "mlvpn2", name: "office" });
    expect(run(["--user", ""]).user).toBe("");
  });

  test("bundled short flags, repeatable -v/-q/-D", () => {
    const o = run(["-vv", "-q", "-D", "net", "-Dreorder", "-tc", "x.toml"]);
    expect(o.verbosity).toBe(3);
    expect(o.debugTokens).toEqual(["net", "reorder"]);
    expect(o.debug).toBe(true);
    expect(o.check).toBe(true);
    expect(o.config).toBe("x.toml");
  });

  test("-q and --quiet both work (C knew only --quiet)", () => {
    expect(run(["-q"]).verbosity).toBe(1);
    expect(run(["--quiet"]).verbosity).toBe(1);
  });

  test("flags of ours and C's", () => {
    expect(run(["--natural-title", "--debug", "--yes-run-as-root", "--check", "--format", "toml"])).toMatchObject({
      naturalTitle: true,
      debug: true,
      yesRunAsRoot: true,
      check: true,
      format: "toml",
    });
  });

  test("help and version", () => {
    expect(parseArgs(["-h"]).kind).toBe("help");
    expect(parseArgs(["--help"]).kind).toBe("help");
    expect(parseArgs(["-V"]).kind).toBe("version");
    expect(parseArgs(["--version"]).kind).toBe("version");
  });

  test.each([
    [["--bogus"], "unknown option --bogus"],
    [["-x"], "unknown option -x"],
    [["-c"], "option -c needs a value"],
    [["--config"], "option --config needs a value"],
    [["--debug=1"], "option --debug takes no value"],
    [["--format", "yaml"], '--format takes "ini" or "toml", not "yaml"'],
    [["extra"], 'unexpected argument "extra"'],
  ])("usage error %p", (argv, message) => {
    expect(parseArgs(argv)).toEqual({ kind: "usage-error", message });
  });
});

describe("command line of mlvpn status: the same reader, rules and messages", () => {
  const status = (argv: string[]) => {
    const r = parseStatusArgs(argv);
    if (r.kind !== "run") throw new Error(`expected run, got ${r.kind}`);
    return r.options;
  };

  test("every spelling, and the defaults", () => {
    expect(status([])).toEqual({ json: false, config: DEFAULT_OPTIONS.config });
    expect(status(["-ca.conf", "--json"])).toEqual({ json: true, config: "a.conf" });
    expect(status(["--config=a.toml", "--format", "ini"])).toEqual({ json: false, config: "a.toml", format: "ini" });
    expect(status(["--socket", "/run/m.sock"]).target).toEqual({ unix: "/run/m.sock" });
    expect(status(["--url=http://127.0.0.1:7070"]).target).toEqual({ url: "http://127.0.0.1:7070" });
    expect(parseStatusArgs(["-h"]).kind).toBe("help");
    expect(parseStatusArgs(["--json", "--help"]).kind).toBe("help");
  });

  test.each([
    [["--bogus"], "unknown option --bogus"],
    [["-x"], "unknown option -x"],
    [["extra"], 'unexpected argument "extra"'],
    [["--socket"], "option --socket needs a value"],
    [["-c", ""], "option -c needs a value"],
    [["--url="], "option --url needs a value"],
    [["--json=1"], "option --json takes no value"],
    [["--format", "xml"], '--format takes "ini" or "toml", not "xml"'],
    [["-c", "a", "--url", "http://x"], "give only one of -c, --socket and --url"],
  ])("usage error %p", (argv, message) => {
    expect(parseStatusArgs(argv)).toEqual({ kind: "usage-error", message });
  });
});

describe("exit codes and output", () => {
  test("usage error: exit 2, one line on stderr and a hint", async () => {
    const r = await runMain(["--bogus"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("mlvpn: unknown option --bogus\nTry 'mlvpn --help' for more information.\n");
  });

  test("--help: exit 0 on stdout, lists every option", async () => {
    const r = await runMain(["--help"]);
    expect(r.code).toBe(0);
    for (const opt of ["--config", "--user", "--name", "--natural-title", "--debug", "-D TOKEN", "--verbose", "--quiet", "--yes-run-as-root", "--version", "--check", "--format"]) {
      expect(r.stdout).toContain(opt);
    }
  });

  test("--version prints the version from package.json", async () => {
    const pkg = await Bun.file(join(import.meta.dir, "..", "..", "package.json")).json();
    const r = await runMain(["-V"]);
    expect(r).toEqual({ code: 0, stdout: `mlvpn version ${pkg.version}.\n`, stderr: "" });
  });

  test("missing config file: exit 1 with the reason", async () => {
    const r = await runMain(["-t", "-c", "/nonexistent/mlvpn.conf"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("/nonexistent/mlvpn.conf: error: cannot read the configuration: no such file");
  });

  test("--format forces the reader", async () => {
    const file = join(import.meta.dir, "..", "fixtures", "client.toml");
    const r = await runMain(["-t", "--format", "ini", "-c", file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("cleartext_data = 0"); // INI style output
  });
});
